"""Per-pool machine options of --config files as the spec's pool keys (jobspec/joboptions.py):
a Vertex workerPoolSpec's machineSpec.tpuTopology, machineSpec.reservationAffinity and diskSpec,
and an ML Engine ReplicaConfig's diskConfig (ml v1 has no TPU topology or reservation). Field
names from the aiplatform v1 and ml v1 discovery documents shipped with
google-api-python-client (aiplatform revision 20261106), read 2026-11-27."""

from __future__ import annotations

from typing import Any

from jobspec.joboptions import RESERVATION_NAME_KEY
from jobspec.located import LDict, Loc

DISK_KEYS = ("bootDiskType", "bootDiskSizeGb")  # DiskSpec (aiplatform), DiskConfig (ml)
# the boot disk types the spec's boot_disk.type takes (joboptions.BootDisk)
DISK_TYPES = ("pd-ssd", "pd-standard", "hyperdisk-balanced")
RESERVATION_KEYS = ("reservationAffinityType", "key", "values")
_AFFINITIES = ("NO_RESERVATION", "ANY_RESERVATION", "SPECIFIC_RESERVATION")


def boot_disk(conf: Any, node: Any, loc: Loc, path: str) -> dict[str, Any] | None:
    """A DiskSpec / DiskConfig as the spec's boot_disk (conf: importer/config.py's reader)."""
    disk: LDict = conf.mapping(node, loc, path, DISK_KEYS)
    out: dict[str, Any] = {}
    for key in disk:
        if key == "bootDiskType":
            value = conf.text(disk, key, path)
            if value in DISK_TYPES:
                out["type"] = value
            else:
                conf.unsupported(disk, key, path, f"{value!r} is not a boot disk type the spec "
                                 f"takes ({', '.join(DISK_TYPES)})")
        else:
            size = conf.number(disk, key, path)
            if size < 1:
                raise conf.fail(disk.val_locs[key], f"{path}.{key}", "expected a size in GB of "
                                "at least 1")
            out["size_gb"] = size
    return out or None


def reservation(conf: Any, node: Any, loc: Loc, path: str) -> dict[str, Any]:
    """A ReservationAffinity as the spec's reservation: a reservation named by the key
    compute.googleapis.com/reservation-name with one value becomes `name`."""
    found: LDict = conf.mapping(node, loc, path, RESERVATION_KEYS)
    if "reservationAffinityType" not in found:
        raise conf.fail(loc, f"{path}.reservationAffinityType",
                        f"missing: expected one of {', '.join(_AFFINITIES)}")
    kind = conf.text(found, "reservationAffinityType", path)
    if kind not in _AFFINITIES:
        raise conf.fail(found.val_locs["reservationAffinityType"],
                        f"{path}.reservationAffinityType",
                        f"expected one of {', '.join(_AFFINITIES)}, got {kind!r}")
    key = conf.text(found, "key", path) if "key" in found else None
    values = conf.texts(found, "values", path) if "values" in found else []
    if kind != "SPECIFIC_RESERVATION":
        if key is not None or values:
            at = "key" if key is not None else "values"
            raise conf.fail(found.key_locs[at], f"{path}.{at}", f"{kind} consumes no particular "
                            "reservation: key and values name one for SPECIFIC_RESERVATION")
        return {"affinity": kind}
    if key is None or not values:
        raise conf.fail(loc, path, "SPECIFIC_RESERVATION needs key and values: the reservation, "
                        f"as key {RESERVATION_NAME_KEY} and values [its resource name]")
    if key == RESERVATION_NAME_KEY and len(values) == 1:
        return {"name": values[0]}
    return {"key": key, "values": values}
