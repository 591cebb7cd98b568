"""`jobspec prices`: the price table, its refresh from the Cloud Billing Catalog, and one job's
price in every region. Heavy imports (google.*, the spec loader) happen only on the paths that
need them."""

from __future__ import annotations

import fnmatch
import json
from datetime import date
from typing import Any

import click

from jobspec.cli_common import _info, _json, _json_opt
from jobspec.errors import UsageError


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:,.4f}"


def _strategy(value: str | None) -> str | None:
    if value is None:
        return None
    from jobspec.prices import STRATEGIES

    upper = value.upper().replace("-", "_")
    if upper not in STRATEGIES:
        raise UsageError(f"--strategy {value}: expected one of {', '.join(STRATEGIES)}")
    return upper


@click.command("prices")
@click.option("--region", help="Only this region (a glob such as 'europe-*' works).")
@click.option("--machine", help="Only this machine type, accelerator or disk (a glob works).")
@click.option("--refresh", is_flag=True,
              help="Update the user-level copy from the Cloud Billing Catalog API.")
@click.option("--compare-regions", "compare", metavar="SPEC", type=click.Path(dir_okay=False),
              help="Price SPEC's job (with --target) in every region, cheapest first.")
@click.option("--target", help="The cloud target of --compare-regions.")
@click.option("--strategy", help="ON_DEMAND, SPOT or FLEX_START (default: the spec's, or "
              "ON_DEMAND).")
@_json_opt
def prices(region: str | None, machine: str | None, refresh: bool, compare: str | None,
           target: str | None, strategy: str | None, as_json: bool) -> None:
    """Vertex AI training prices per region, with the source and date of every figure."""
    out = _json(as_json)
    if refresh:
        _refresh(as_json)
        return
    if compare is not None:
        if not target:
            raise UsageError("--compare-regions needs --target: the cloud target to price")
        _compare(compare, target, _strategy(strategy), as_json)
        return
    from jobspec.prices import table

    tab = table()
    if tab.note:
        out.warn(tab.note)
    rows: dict[tuple[str, str, str], dict[str, float]] = {}
    sources: dict[tuple[str, str, str], set[str]] = {}
    for (kind, name, where, how), rate in sorted(tab.rates.items()):
        if region and not fnmatch.fnmatchcase(where, region):
            continue
        if machine and not fnmatch.fnmatchcase(name, machine):
            continue
        rows.setdefault((kind, name, where), {})[how] = rate.usd
        sources.setdefault((kind, name, where), set()).add(rate.source)
    if as_json:
        out.emit_json({"copy": tab.copy, "read": tab.read,
                       "sources": {k: vars(s) for k, s in tab.sources.items()},
                       "rates": [{"kind": k, "name": n, "region": r, **{s.lower(): v for s, v in
                                                                          rates.items()},
                                  "unit": "GiB-month" if k == "disk" else "hour",
                                  "sources": sorted(sources[(k, n, r)])}
                                 for (k, n, r), rates in rows.items()]})
        return
    out.print(f"price table: {tab.copy} (figures read {tab.read}), USD")
    if not rows:
        out.print("no rate matches: the table does not know that machine or region")
        return
    table_rows = [(k, n, r, _usd(v.get("ON_DEMAND")),
                   "(same)" if k == "disk" else _usd(v.get("SPOT")),
                   "(same)" if k == "disk" else _usd(v.get("FLEX_START")),
                   "GiB-month" if k == "disk" else "hour", ",".join(sorted(sources[(k, n, r)])))
                  for (k, n, r), v in rows.items()]
    out.print("\n".join(out.table(table_rows, ["kind", "name", "region", "on-demand",
                                                "spot", "flex-start", "per", "source"])))
    used = {s for group in sources.values() for s in group}
    for key in sorted(used):
        src = tab.sources[key]
        out.print(f"{key}: {src.url} (read {src.read}; {src.basis}) {src.note}")


def _refresh(as_json: bool) -> None:
    from jobspec.gcp.billing import billing_endpoint, service_skus
    from jobspec.prices import copy_document, user_copy_path
    from jobspec.prices_catalog import rates_from_skus
    from jobspec.prices_data import Source

    out = _json(as_json)
    parent, skus = service_skus("Vertex AI")
    rates, skipped = rates_from_skus(skus)
    if not rates:
        from jobspec.errors import CloudError

        raise CloudError(f"the Cloud Billing Catalog's {parent} has no SKU jobspec can read as "
                         f"a training price ({skipped} SKUs read): the user copy is unchanged")
    source = Source(f"{billing_endpoint().rstrip('/')}/v1/{parent}/skus", date.today().isoformat(),
                    "vertex", f"Cloud Billing Catalog, {len(skus)} SKUs of {parent}")
    path = user_copy_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(copy_document(rates, source), indent=1) + "\n",
                       encoding="utf-8")
    partial.replace(path)  # readers see the old copy or the new one, never half of one
    if as_json:
        out.emit_json({"copy": str(path), "service": parent, "skus": len(skus),
                       "rates": len(rates), "skipped": skipped, "read": source.read})
        return
    out.print(f"wrote {len(rates)} rates from {len(skus)} SKUs of {parent} to {path} "
              f"({skipped} SKUs are not training prices jobspec reads)")


def _pools(spec: str, target: str) -> tuple[list[Any], str, str]:
    from jobspec.plandata import CloudPlan, GroupPlan
    from jobspec.prices import pools_of, strategy_of
    from jobspec.request import Request, load
    from jobspec.request import plan as make_plan

    request = Request(spec=spec, target=target)
    made = make_plan(request, load(request))
    first = made.members[0] if isinstance(made, GroupPlan) else made
    if not isinstance(first, CloudPlan):
        raise UsageError(f"--compare-regions: target {target} is not a cloud target: a local "
                         "run has no price")
    return pools_of(first.body), strategy_of(first.body), first.region


def _compare(spec: str, target: str, strategy: str | None, as_json: bool) -> None:
    from jobspec.prices import compare_regions, table

    out = _json(as_json)
    pools, spec_strategy, own_region = _pools(spec, target)
    tab = table()
    found = compare_regions(pools, strategy or spec_strategy, tab=tab)
    if as_json:
        out.emit_json({"strategy": strategy or spec_strategy, "copy": tab.copy,
                       "read": tab.read, "target_region": own_region,
                       "regions": [{"region": e.region, "compute_per_hour": e.compute_per_hour,
                                    "per_hour": e.per_hour, "lower_bound": e.lower_bound,
                                    "unknown": list(e.unknown), "sources": list(e.sources)}
                                   for e in found]})
        return
    shapes = ", ".join(f"{p.count} x {p.machine_type}" + (
        f" + {p.count * p.accelerator_count} x {p.accelerator_type}" if p.accelerator_type
        else "") for p in pools)
    out.print(f"{shapes}, {strategy or spec_strategy}; price table: {tab.copy} (read {tab.read})")
    if not found:
        out.print("no region prices every machine of this job")
        return
    rows = [(e.region + (" (target)" if e.region == own_region else ""),
             _usd(e.compute_per_hour), _usd(e.per_hour),
             "at least (Compute Engine rates)" if e.lower_bound else "",
             "; ".join(e.unknown)) for e in found]
    out.print("\n".join(out.table(rows, ["region", "machines/h", "with disks/h", "",
                                          "unknown"])))
    _info("regions not listed have no price for some machine or accelerator of this job")
