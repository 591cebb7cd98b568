"""How a price reads: the estimate as `plan` prints it and as `plan --json` writes it, a group's
price, and the running time and cost of jobs that ended as `status`, `logs` and the UI show
them. Every figure comes from jobspec.prices (the pure estimator); this module only formats
and adds up what it returns, and jobspec.prices never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from jobspec.prices import (
    Estimate,
    JobCost,
    Table,
    alternatives,
    for_body,
    group_total,
    max_cost,
    sum_or_none,
    table,
    timeout_of,
)


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def describe(est: Estimate, timeout_seconds: float | None = None) -> list[str]:
    """The estimate as `plan` prints it: each pool's lines, the job, the most it can cost, what
    is unknown and where every figure came from."""
    copy = "shipped table" if est.copy == "shipped" else f"user copy {est.copy}"
    out = [f"price       {est.strategy.lower().replace('_', '-')} in {est.region} "
           f"({copy}, figures read {est.read}), USD per hour"]
    for pool in est.pools:
        for i, line in enumerate(pool.lines):
            out.append(f"  {pool.role if i == 0 else '':10} {line.what:34} {_usd(line.per_hour)}")
    bound = ", at least: Compute Engine rates, Vertex bills more" if est.lower_bound else ""
    out.append(f"  {'job':10} {'':34} {_usd(est.per_hour)}{bound}")
    if est.per_hour is None and est.compute_per_hour is not None:
        out.append(f"  {'':10} {'machines and accelerators':34} {_usd(est.compute_per_hour)}")
    if timeout_seconds is not None:
        most = max_cost(est, timeout_seconds)
        out.append(f"  at most {_usd(most)} if it runs until its timeout "
                   f"({timeout_seconds / 3600:g} h)")
    out.extend(f"  unknown: {why}" for why in est.unknown)
    out.extend(f"  source {key}: {src.url} (read {src.read})"
               for key, src in est.table_sources.items())
    return out


def to_json(est: Estimate, timeout_seconds: float | None = None) -> dict[str, Any]:
    return {
        "region": est.region, "strategy": est.strategy, "currency": "USD",
        "per_hour": est.per_hour, "compute_per_hour": est.compute_per_hour,
        "disk_per_hour": est.disk_per_hour, "lower_bound": est.lower_bound,
        "max_cost": None if timeout_seconds is None else max_cost(est, timeout_seconds),
        "pools": [{"role": p.role, "count": p.count, "per_hour": p.per_hour,
                   "lines": [{"what": ln.what, "per_hour": ln.per_hour, "source": ln.source,
                              "unknown": ln.missing} for ln in p.lines]} for p in est.pools],
        "unknown": list(est.unknown), "table": est.copy, "read": est.read,
        "sources": {k: {"url": s.url, "read": s.read, "basis": s.basis}
                    for k, s in est.table_sources.items()},
    }


def _strategy_word(strategy: str) -> str:
    return strategy.lower().replace("_", "-")


def plan_lines(body: Mapping[str, Any], region: str, tab: Table | None = None) -> list[str]:
    """`plan`'s price section: describe() for the body's own strategy, then one line giving the
    job's hourly price under each other strategy."""
    tab = table() if tab is None else tab
    est = for_body(body, region, tab)
    out = describe(est, timeout_of(body))
    others = [f"{_strategy_word(e.strategy)} " + (
        f"{_usd(e.per_hour)}/h" if e.per_hour is not None
        else f"unknown ({e.unknown[0] if e.unknown else 'a rate is unknown'})")
        for e in alternatives(body, region, tab)]
    if others:
        out.insert(len(out) - len(est.unknown) - len(est.table_sources),
                   f"  {'instead':10} {'; '.join(others)}")
    if tab.note:
        out.append(f"  note: {tab.note}")
    return out


def plan_json(body: Mapping[str, Any], region: str, tab: Table | None = None) -> dict[str, Any]:
    """`plan --json`'s "price": to_json() of the body's own strategy, plus "instead": the job's
    hourly price under each other strategy."""
    tab = table() if tab is None else tab
    data = to_json(for_body(body, region, tab), timeout_of(body))
    data["instead"] = {e.strategy: {"per_hour": e.per_hour, "unknown": list(e.unknown)}
                       for e in alternatives(body, region, tab)}
    return data


def group_plan(members: Sequence[tuple[Mapping[str, Any], str]],
               tab: Table | None = None) -> dict[str, Any]:
    """A matrix group's price: its members' hourly prices and maximum costs added up (None when
    one of them is unknown). members: (request body, region) of each."""
    tab = table() if tab is None else tab
    per_hour, most = [], []
    for body, region in members:
        est = for_body(body, region, tab)
        per_hour.append(est.per_hour)
        timeout = timeout_of(body)
        most.append(None if timeout is None else max_cost(est, timeout))
    timed = all(timeout_of(body) is not None for body, _ in members)
    return {"currency": "USD", "members": len(members), "per_hour": sum_or_none(per_hour),
            "timeout_set": timed, "max_cost": sum_or_none(most) if timed else None}


def group_plan_line(data: Mapping[str, Any]) -> str:
    line = (f"price       the group's {data['members']} jobs together: "
            f"{_usd(data['per_hour'])} per hour")
    if data["timeout_set"]:
        line += f", at most {_usd(data['max_cost'])} if each runs until its timeout"
    return line


def money(value: float | None) -> str:
    """A cost: cents and below keep six decimals (a seconds-long job costs fractions of one)."""
    if value is None:
        return "unknown"
    return f"${value:,.2f}" if value >= 100 else f"${value:,.4f}" if value >= 0.01 else (
        f"${value:.6f}")


def duration(seconds: float) -> str:
    whole = int(seconds)
    h, m, s = whole // 3600, whole % 3600 // 60, seconds - whole // 60 * 60
    return f"{h}h {m:02d}m {int(s):02d}s" if h else f"{m}m {int(s):02d}s" if m else f"{s:.1f}s"


def cost_text(found: JobCost) -> str:
    """One line: `ran 1m 05s, estimated cost $0.004167 (spot in us-central1, ...)`."""
    est, cost = found.estimate, found.cost
    where = f"{_strategy_word(est.strategy)} in {est.region or 'an unknown region'}"
    if cost.usd is None:
        why = "; ".join(est.unknown) or "a rate is unknown"
        return f"ran {duration(cost.seconds)}, cost unknown ({where}: {why})"
    bound = "at least: Compute Engine rates, Vertex bills more; " if cost.lower_bound else ""
    copy = "shipped table" if est.copy == "shipped" else f"user copy {est.copy}"
    return (f"ran {duration(cost.seconds)}, estimated cost {money(cost.usd)} ({where}, "
            f"{bound}{copy} read {est.read})")


def cost_json(found: JobCost) -> dict[str, Any]:
    est, cost = found.estimate, found.cost
    return {"seconds": cost.seconds, "usd": cost.usd, "currency": "USD",
            "per_hour": est.per_hour, "strategy": est.strategy, "region": est.region,
            "lower_bound": cost.lower_bound, "unknown": list(est.unknown), "table": est.copy,
            "read": est.read, "sources": {k: {"url": s.url, "read": s.read}
                                          for k, s in est.table_sources.items()}}


def group_cost(found: Sequence[JobCost | None]) -> dict[str, Any] | None:
    """A group's total over the members that ended (None when none has)."""
    ended = [f for f in found if f is not None]
    if not ended:
        return None
    total = group_total([f.cost for f in ended])
    return {"seconds": total.seconds, "usd": total.usd, "currency": "USD",
            "lower_bound": total.lower_bound, "ended": len(ended), "members": len(found)}


def group_cost_text(data: Mapping[str, Any]) -> str:
    of = (f" ({data['ended']} of {data['members']} ended)"
          if data["ended"] != data["members"] else "")
    bound = ", at least" if data["lower_bound"] and data["usd"] is not None else ""
    return (f"the group ran {duration(data['seconds'])} in all{of}, estimated cost "
            f"{money(data['usd'])}{bound}")


def total_json(costs: Sequence[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """group_cost() over cost_json() records (status of a group reads them per member)."""
    ended = [c for c in costs if c is not None]
    if not ended:
        return None
    usd = [c.get("usd") for c in ended]
    return {"seconds": sum(float(c["seconds"]) for c in ended),
            "usd": None if None in usd else sum(float(u) for u in usd if u is not None),
            "currency": "USD", "lower_bound": any(bool(c.get("lower_bound")) for c in ended),
            "ended": len(ended), "members": len(costs)}
