"""What a job costs: hourly rates per pool and per job, the most a timeout allows, the cost of a
run that ended. Pure: the table is data (prices_data.py, or the user-level copy that
`jobspec prices --refresh` writes, which wins where it has a rate), and every function returns
frozen values. A machine, accelerator, disk or region the table lacks is reported as unknown,
never guessed. How an estimate or a cost reads (plan's price section, status's cost line, their
JSON) is jobspec/prices_text.py, which imports this module.

The user-level copy lives at $XDG_CACHE_HOME/jobspec/prices.json (~/.cache/jobspec/prices.json
when XDG_CACHE_HOME is unset): it is a cache of Google's catalog that can always be rebuilt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from jobspec.prices_data import FLEX_RATES, RATES, SOURCES, Source

HOURS_PER_MONTH = 730  # the month of Google's pricing pages ("730 hours per month")
STRATEGIES = ("ON_DEMAND", "SPOT", "FLEX_START")
# Scheduling strategies billed at the on-demand rate (aiplatform v1 Scheduling.strategy)
_ON_DEMAND = {"ON_DEMAND", "STANDARD", "STRATEGY_UNSPECIFIED", ""}
DEFAULT_DISK = ("pd-ssd", 100)  # Vertex's boot disk when diskSpec is unset (DiskSpec docs)
COPY_VERSION = 1


@dataclass(frozen=True)
class Rate:
    kind: str  # "machine" | "accelerator" | "disk"
    name: str
    region: str
    strategy: str  # "ON_DEMAND" | "SPOT" | "FLEX_START"
    usd: float  # per hour of one machine or accelerator; per GiB-month for a disk
    source: str  # key of Table.sources


@dataclass(frozen=True)
class Table:
    rates: Mapping[tuple[str, str, str, str], Rate]
    sources: Mapping[str, Source]
    copy: str  # "shipped", or the user copy's path
    read: str  # date of the newest figures (the refresh's date for a user copy)
    note: str = ""  # why a user copy that exists is not used

    def rate(self, kind: str, name: str, region: str, strategy: str) -> Rate | None:
        return self.rates.get((kind, name, region, strategy))

    def regions(self) -> list[str]:
        return sorted({r.region for r in self.rates.values()})


@dataclass(frozen=True)
class Pool:
    """One worker pool as the estimator sees it (jobspec.runtimes_data.PoolShape fits too)."""

    role: str
    machine_type: str
    count: int
    accelerator_type: str | None = None
    accelerator_count: int = 0
    disk_type: str | None = None  # None: Vertex's default, pd-ssd
    disk_gb: int | None = None  # None: Vertex's default, 100


@dataclass(frozen=True)
class Line:
    what: str
    per_hour: float | None  # None: unknown
    source: str | None = None
    missing: str | None = None  # why it is unknown


@dataclass(frozen=True)
class PoolEstimate:
    role: str
    count: int
    lines: tuple[Line, ...]
    compute_per_hour: float | None  # machines and accelerators, all replicas
    disk_per_hour: float | None
    per_hour: float | None


@dataclass(frozen=True)
class Estimate:
    region: str
    strategy: str
    pools: tuple[PoolEstimate, ...]
    compute_per_hour: float | None
    disk_per_hour: float | None
    per_hour: float | None
    unknown: tuple[str, ...]  # what could not be priced, and why
    sources: tuple[str, ...]  # keys of the table's sources the figures came from
    lower_bound: bool  # some figure is a Compute Engine rate: Vertex bills more
    copy: str
    read: str
    table_sources: Mapping[str, Source] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class Cost:
    seconds: float
    usd: float | None  # None: the job's rates are not all known
    lower_bound: bool


def user_copy_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    base = env.get("XDG_CACHE_HOME") or ""
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".cache"
    return root / "jobspec" / "prices.json"


def shipped() -> Table:
    rates: dict[tuple[str, str, str, str], Rate] = {}
    for kind, name, region, on_demand, spot, source in RATES:
        for strategy, usd in (("ON_DEMAND", on_demand), ("SPOT", spot)):
            if usd is not None:
                rates[(kind, name, region, strategy)] = Rate(kind, name, region, strategy, usd,
                                                             source)
    for kind, name, region, usd, source in FLEX_RATES:
        rates[(kind, name, region, "FLEX_START")] = Rate(kind, name, region, "FLEX_START", usd,
                                                         source)
    newest = max(s.read for s in SOURCES.values())
    return Table(rates, dict(SOURCES), "shipped", newest)


def table(env: Mapping[str, str] | None = None) -> Table:
    """The shipped table, overlaid by the user copy's rates when one can be read."""
    base = shipped()
    path = user_copy_path(env)
    try:
        copy = read_copy(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return base
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return Table(base.rates, base.sources, base.copy, base.read,
                     f"the user copy {path} is unreadable ({reason}): using the shipped table; "
                     "`jobspec prices --refresh` rewrites it")
    rates = dict(base.rates)
    rates.update(copy.rates)
    sources = dict(base.sources)
    sources.update(copy.sources)
    return Table(rates, sources, str(path), copy.read)


def copy_document(rates: Iterable[Rate], source: Source) -> dict[str, Any]:
    """The user copy's JSON: one source (the catalog read), its rates."""
    return {"version": COPY_VERSION, "source": {"url": source.url, "read": source.read,
                                                "basis": source.basis, "note": source.note},
            "rates": [[r.kind, r.name, r.region, r.strategy, r.usd] for r in rates]}


def read_copy(text: str) -> Table:
    doc = json.loads(text)
    if not isinstance(doc, dict) or doc.get("version") != COPY_VERSION:
        raise ValueError("not a jobspec price copy")
    src = doc["source"]
    source = Source(str(src["url"]), str(src["read"]), str(src["basis"]), str(src.get("note", "")))
    rates: dict[tuple[str, str, str, str], Rate] = {}
    for kind, name, region, strategy, usd in doc["rates"]:
        if isinstance(usd, bool) or not isinstance(usd, (int, float)) or usd <= 0:
            raise ValueError(f"bad rate for {name} in {region}")
        rates[(kind, name, region, strategy)] = Rate(str(kind), str(name), str(region),
                                                     str(strategy), float(usd), "catalog")
    return Table(rates, {"catalog": source}, "user", source.read)


def billed_as(strategy: str) -> str:
    strategy = (strategy or "").upper()
    return "ON_DEMAND" if strategy in _ON_DEMAND else strategy


def _line(tab: Table, kind: str, name: str, region: str, strategy: str, quantity: float,
          what: str, per: float = 1.0) -> Line:
    rate = tab.rate(kind, name, region, strategy)
    if rate is None:
        known = any(k[0] == kind and k[1] == name for k in tab.rates)
        why = (f"no {strategy.lower().replace('_', '-')} price for {name} in {region}" if known
               else f"{kind} {name} is not in the price table")
        return Line(what, None, None, why)
    return Line(what, rate.usd * quantity / per, rate.source)


def _pool(tab: Table, pool: Any, region: str, strategy: str,
          disk: tuple[str, int]) -> PoolEstimate:
    count = int(pool.count)
    lines = [_line(tab, "machine", pool.machine_type, region, strategy, count,
                   f"{count} x {pool.machine_type}")]
    accelerator = getattr(pool, "accelerator_type", None)
    per_machine = int(getattr(pool, "accelerator_count", 0) or 0)
    if accelerator and per_machine:
        lines.append(_line(tab, "accelerator", accelerator, region, strategy,
                           count * per_machine, f"{count * per_machine} x {accelerator}"))
    compute = [ln.per_hour for ln in lines]
    disk_type = getattr(pool, "disk_type", None) or disk[0]
    disk_gb = getattr(pool, "disk_gb", None) or disk[1]
    # Boot disks are billed alike whatever the scheduling: the table has one disk rate
    disk_line = _line(tab, "disk", disk_type, region, "ON_DEMAND", count * disk_gb,
                      f"{count} x {disk_gb} GiB {disk_type}", per=HOURS_PER_MONTH)
    lines.append(disk_line)
    compute_ph = None if None in compute else sum(c for c in compute if c is not None)
    total = (None if compute_ph is None or disk_line.per_hour is None
             else compute_ph + disk_line.per_hour)
    return PoolEstimate(pool.role, count, tuple(lines), compute_ph, disk_line.per_hour, total)


def sum_or_none(values: Sequence[float | None]) -> float | None:
    """The sum of figures, None when one of them is unknown."""
    return None if any(v is None for v in values) else sum(v for v in values if v is not None)


def estimate(pools: Sequence[Any], region: str, strategy: str = "ON_DEMAND",
             disk: tuple[str, int] = DEFAULT_DISK, tab: Table | None = None) -> Estimate:
    """Hourly price of each pool and of the job in one region, for one scheduling strategy.

    tab: the price table; by default table(), the user copy where it has a rate."""
    tab = table() if tab is None else tab
    billed = billed_as(strategy)
    priced = tuple(_pool(tab, p, region, billed, disk) for p in pools)
    lines = [ln for p in priced for ln in p.lines]
    unknown = tuple(dict.fromkeys(ln.missing for ln in lines if ln.missing))
    used = tuple(dict.fromkeys(ln.source for ln in lines if ln.source))
    if region not in tab.regions():
        unknown = (f"region {region} is not in the price table",)
    return Estimate(region, billed, priced, sum_or_none([p.compute_per_hour for p in priced]),
                    sum_or_none([p.disk_per_hour for p in priced]),
                    sum_or_none([p.per_hour for p in priced]), unknown, used,
                    any(tab.sources[s].basis != "vertex" for s in used), tab.copy, tab.read,
                    {s: tab.sources[s] for s in used})


def max_cost(est: Estimate, timeout_seconds: float) -> float | None:
    """The most the job can cost when it runs until its timeout (None: a rate is unknown)."""
    return None if est.per_hour is None else est.per_hour * timeout_seconds / 3600


def _when(value: datetime | str) -> datetime:
    if isinstance(value, datetime):
        return value
    # RFC 3339 as the service writes it (2026-11-27T10:00:00.123456Z)
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def cost_after(est: Estimate, start: datetime | str, end: datetime | str) -> Cost:
    """What a run cost: its running time times its pools' rates (Spot when it ran on Spot)."""
    seconds = max(0.0, (_when(end) - _when(start)).total_seconds())
    usd = None if est.per_hour is None else est.per_hour * seconds / 3600
    return Cost(seconds, usd, est.lower_bound)


def compare_regions(pools: Sequence[Any], strategy: str = "ON_DEMAND",
                    disk: tuple[str, int] = DEFAULT_DISK,
                    tab: Table | None = None) -> list[Estimate]:
    """Every region where all the job's machines and accelerators are priced, cheapest first."""
    tab = table() if tab is None else tab
    found = [estimate(pools, r, strategy, disk, tab) for r in tab.regions()]
    priced = [e for e in found if e.compute_per_hour is not None]
    return sorted(priced, key=lambda e: (e.compute_per_hour or 0.0, e.region))


def pools_of(body: Mapping[str, Any]) -> list[Pool]:
    """The pools of a CustomJob request body (as `plan` builds it), for the estimator."""
    roles = ("chief", "worker", "ps", "evaluator")
    found = []
    for i, spec in enumerate(body.get("jobSpec", {}).get("workerPoolSpecs", [])):
        machine = spec.get("machineSpec", {})
        disk = spec.get("diskSpec", {})
        if not machine or not spec.get("replicaCount"):
            continue  # an empty placeholder pool keeps the order and runs nothing
        found.append(Pool(roles[i] if i < len(roles) else f"pool{i}", machine["machineType"],
                          int(spec["replicaCount"]), machine.get("acceleratorType"),
                          int(machine.get("acceleratorCount", 0) or 0),
                          disk.get("bootDiskType"), disk.get("bootDiskSizeGb")))
    return found


def strategy_of(body: Mapping[str, Any]) -> str:
    return billed_as(str(body.get("jobSpec", {}).get("scheduling", {}).get("strategy", "")))


def timeout_of(body: Mapping[str, Any]) -> float | None:
    """scheduling.timeout of a request body ("14400s", a proto3 Duration) in seconds."""
    value = body.get("jobSpec", {}).get("scheduling", {}).get("timeout")
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def for_body(body: Mapping[str, Any], region: str, tab: Table | None = None,
             strategy: str | None = None) -> Estimate:
    """The estimate of a CustomJob request body as `plan` builds it (pools, strategy): what is
    priced is what is sent. strategy: price the same pools another way (plan's comparison)."""
    return estimate(pools_of(body), region, strategy or strategy_of(body), tab=tab)


def group_total(costs: Sequence[Cost]) -> Cost:
    """A group's (matrix's) cost: the sum of its members' (None when one is unknown)."""
    usd = sum_or_none([c.usd for c in costs])
    return Cost(sum(c.seconds for c in costs), usd, any(c.lower_bound for c in costs))


def alternatives(body: Mapping[str, Any], region: str, tab: Table) -> list[Estimate]:
    """The same pools under the other scheduling strategies (on-demand, Spot, flex-start)."""
    own = strategy_of(body)
    return [for_body(body, region, tab, s) for s in STRATEGIES if s != own]


@dataclass(frozen=True)
class JobCost:
    """What a job that ended cost, from the service's startTime and endTime."""

    cost: Cost
    estimate: Estimate
    state: str


def region_of(job_name: str) -> str:
    """projects/P/locations/REGION/customJobs/ID -> REGION ("" when the name has no region)."""
    parts = job_name.split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "locations" else ""


def job_cost(job: Mapping[str, Any], tab: Table | None = None) -> JobCost | None:
    """The running time and estimated cost of a Vertex CustomJob resource as the service reports
    it: endTime - startTime x the rates of its pools (Spot where it ran on Spot), in its region;
    for a HyperparameterTuningJob the sum over its trials of each trial's own running time x
    the rates of the trial job's pools. None while it has not ended, or when it never started
    (no startTime: never billed)."""
    start, end = job.get("startTime"), job.get("endTime")
    if not isinstance(start, str) or not isinstance(end, str) or not start or not end:
        return None
    try:
        region = region_of(str(job.get("name", "")))
        if "trialJobSpec" in job:  # a tuning job: each trial is a job of that spec, billed
            # for its own running time; the study's own time is the wall clock around them
            est = for_body({"jobSpec": job["trialJobSpec"]}, region, tab)
            spans = [(t.get("startTime"), t.get("endTime")) for t in job.get("trials", [])]
            costs = [cost_after(est, a, b) for a, b in spans
                     if isinstance(a, str) and isinstance(b, str) and a and b]
            total = group_total(costs)
            wall = cost_after(est, start, end).seconds
            return JobCost(Cost(wall, total.usd, total.lower_bound), est,
                           str(job.get("state", "")))
        est = for_body(job, region, tab)
        return JobCost(cost_after(est, start, end), est, str(job.get("state", "")))
    except ValueError:  # a time the service wrote in a shape we do not read
        return None
