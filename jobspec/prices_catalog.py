"""The Cloud Billing Catalog's SKUs read as price-table rates (pure: no I/O).

jobspec's reading of a SKU: its description says "training" and names a machine type
(n1-standard-4), an accelerator, or a machine family's core or RAM ("N1 Predefined Instance
Core"): a machine of that family then costs vCPUs x the core rate + GiB x the RAM rate (its shape
from prices_data.SHAPES); a boot disk SKU is a "PD Capacity" SKU; usageType OnDemand is
on-demand, Preemptible is Spot; other usage types (commitments) are left out, as are units other
than hours ("h") and GiB-months ("GiBy.mo") and prices in another currency. A SKU it cannot read
is counted, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from jobspec.prices import Rate
from jobspec.prices_data import SHAPES

_ACCELERATORS = (("h100 80gb", "NVIDIA_H100_80GB"), ("h100 mega", "NVIDIA_H100_MEGA_80GB"),
                 ("a100 80gb", "NVIDIA_A100_80GB"), ("a100", "NVIDIA_TESLA_A100"),
                 ("l4", "NVIDIA_L4"), ("t4", "NVIDIA_TESLA_T4"), ("v100", "NVIDIA_TESLA_V100"),
                 ("p100", "NVIDIA_TESLA_P100"), ("p4", "NVIDIA_TESLA_P4"),
                 ("tpu v5e", "TPU_V5_LITEPOD"), ("tpu v5 lite", "TPU_V5_LITEPOD"))
_MACHINE = r"\b([a-z][a-z0-9]*-(?:standard|highmem|highcpu|highgpu|ultragpu|megagpu|edgegpu" \
           r"|ultramem|megamem)-\d+[a-z]*)\b"
_USAGE = {"OnDemand": "ON_DEMAND", "Preemptible": "SPOT"}


def _price(sku: Mapping[str, Any]) -> tuple[float, str] | None:
    infos = sku.get("pricingInfo") or []
    if not infos:
        return None
    expression = infos[0].get("pricingExpression") or {}
    for tier in expression.get("tieredRates") or []:
        money = tier.get("unitPrice") or {}
        usd = int(money.get("units") or 0) + int(money.get("nanos") or 0) / 1e9
        if usd > 0 and money.get("currencyCode", "USD") == "USD":
            return usd, str(expression.get("usageUnit", ""))
    return None


def _named(description: str) -> tuple[str, str] | None:
    text = description.lower()
    if "pd capacity" in text:
        return ("disk", "pd-ssd") if "ssd" in text else ("disk", "pd-standard")
    if "train" not in text:
        return None
    machine = re.search(_MACHINE, text)
    if machine:
        return "machine", machine.group(1)
    family = re.search(r"\b(n1|n2|n2d|e2|c2|a2|a3|g2)\b.*\b(core|cpu|ram|memory)\b", text)
    if family:
        return ("core" if family.group(2) in ("core", "cpu") else "ram"), family.group(1)
    if any(word in text for word in ("gpu", "tpu", "nvidia")):
        for fragment, enum in _ACCELERATORS:
            if re.search(rf"\b{re.escape(fragment)}\b", text):
                return "accelerator", enum
    return None


def rates_from_skus(skus: Iterable[Mapping[str, Any]]) -> tuple[list[Rate], int]:
    """The rates the SKUs give, and how many SKUs jobspec could not read as a table rate."""
    rates: dict[tuple[str, str, str, str], Rate] = {}
    skipped = 0
    for sku in skus:
        strategy = _USAGE.get(str((sku.get("category") or {}).get("usageType", "")))
        named = _named(str(sku.get("description", "")))
        price = _price(sku)
        unit = {"disk": "GiBy.mo", "ram": "GiBy.h"}.get(named[0] if named else "", "h")
        unit_ok = price is not None and price[1] == unit
        if strategy is None or named is None or price is None or not unit_ok:
            skipped += 1
            continue
        for region in sku.get("serviceRegions") or []:
            key = (named[0], named[1], str(region), strategy)
            rates[key] = Rate(named[0], named[1], str(region), strategy, price[0], "catalog")
    _machines_from_families(rates)
    return sorted(rates.values(), key=lambda r: (r.kind, r.name, r.region, r.strategy)), skipped


def _machines_from_families(rates: dict[tuple[str, str, str, str], Rate]) -> None:
    """Machine rates from a family's core and RAM rates, where the table has no machine rate."""
    parts = {k: r for k, r in rates.items() if k[0] in ("core", "ram")}
    for key in list(parts):
        rates.pop(key)
    for (kind, family, region, strategy), core in parts.items():
        ram = parts.get(("ram", family, region, strategy))
        if kind != "core" or ram is None:
            continue
        for machine, (vcpus, gib) in SHAPES.items():
            if machine.startswith(f"{family}-") and ("machine", machine, region,
                                                     strategy) not in rates:
                rates[("machine", machine, region, strategy)] = Rate(
                    "machine", machine, region, strategy, vcpus * core.usd + gib * ram.usd,
                    "catalog")
