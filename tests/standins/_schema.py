"""Request validation the way the real Google APIs do it, driven by the shipped discovery docs.

The JSON body is parsed like a proto3 JSON message: unknown fields and wrong types are 400
INVALID_ARGUMENT, snake_case names are accepted as aliases, output-only fields are ignored,
int64 values come back as strings and default values are omitted. CustomJob then gets the
semantic checks Vertex AI makes ("List of found errors: ... Required field is not set.").
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from ._http import ApiError, invalid_argument

_DURATION = re.compile(r"^-?\d+(\.\d{1,9})?s$")
_MACHINE_TYPE = re.compile(
    r"^(n1|n2|n2d|e2|c2|c2d|c3|m1|a2|a3|g2)-(standard|highmem|highcpu|megamem|ultramem|"
    r"highgpu|megagpu|ultragpu|edgegpu)-\d+g?$"
)
# Accelerators pinned to their machine families (the real API refuses other pairings).
_ACCELERATOR_FAMILY = {
    "NVIDIA_TESLA_K80": "n1", "NVIDIA_TESLA_P100": "n1", "NVIDIA_TESLA_V100": "n1",
    "NVIDIA_TESLA_P4": "n1", "NVIDIA_TESLA_T4": "n1", "NVIDIA_TESLA_A100": "a2",
    "NVIDIA_A100_80GB": "a2", "NVIDIA_L4": "g2", "NVIDIA_H100_80GB": "a3",
}


@functools.cache
def discovery(api: str) -> dict[str, Any]:
    """The discovery document google-api-python-client ships (e.g. 'aiplatform.v1')."""
    import googleapiclient

    path = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents" / f"{api}.json"
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


def snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


class Validator:
    """Validate and normalize a JSON body against one schema of a discovery document."""

    def __init__(self, api: str) -> None:
        self.schemas: dict[str, Any] = discovery(api)["schemas"]

    def message(self, value: Any, ref: str, where: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise invalid_argument(
                f"Invalid value at '{where}' ({_proto_type(ref)}), {json.dumps(value)}",
                [(where, f"Invalid value at '{where}' ({_proto_type(ref)})")])
        schema = self.schemas[ref]
        props: dict[str, Any] = schema.get("properties", {})
        out: dict[str, Any] = {}
        for key, item in value.items():
            name = key if key in props else _camel(key)
            if name not in props:
                msg = f"Invalid JSON payload received. Unknown name \"{key}\" at '{where}': " \
                      "Cannot find field."
                raise invalid_argument(msg, [(where, msg)])
            if name in out:
                msg = f"Invalid JSON payload received. Duplicate field \"{key}\" at '{where}'."
                raise invalid_argument(msg, [(where, msg)])
            prop = props[name]
            if prop.get("readOnly") or item is None:
                continue  # output-only fields in a request are ignored, as by the real API
            normal = self.value(item, prop, f"{where}.{snake(name)}")
            if not _is_default(normal, prop):
                out[name] = normal
        return out

    def value(self, value: Any, prop: dict[str, Any], where: str) -> Any:
        if "$ref" in prop:
            return self.message(value, prop["$ref"], where)
        kind = prop.get("type")
        if kind == "array":
            if not isinstance(value, list):
                raise _bad(where, "TYPE_REPEATED", value)
            return [self.value(v, prop["items"], f"{where}[{i}]") for i, v in enumerate(value)]
        if kind == "object":
            extra = prop.get("additionalProperties")
            if not isinstance(value, dict):
                raise _bad(where, "TYPE_MESSAGE", value)
            if extra is None or extra.get("type") == "any":
                return value  # free-form (a Struct or details entry)
            return {str(k): self.value(v, extra, f"{where}[{k}]") for k, v in value.items()}
        return _scalar(value, prop, where)


def _scalar(value: Any, prop: dict[str, Any], where: str) -> Any:
    kind, fmt = prop.get("type"), prop.get("format", "")
    if kind == "any":
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _bad(where, "TYPE_BOOL", value)
        return value
    if kind == "integer":
        number = _integer(value, where, "TYPE_INT32" if fmt != "uint32" else "TYPE_UINT32")
        if not -(2**31) <= number < 2**32:
            raise _bad(where, "TYPE_INT32", value)
        return number
    if kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise _bad(where, "TYPE_DOUBLE", value)
        try:
            return float(value)
        except ValueError:
            raise _bad(where, "TYPE_DOUBLE", value) from None
    if fmt in ("int64", "uint64"):
        return str(_integer(value, where, f"TYPE_{fmt.upper()}"))
    if not isinstance(value, str):
        raise _bad(where, "TYPE_STRING", value)
    if "enum" in prop and value not in prop["enum"]:
        raise _bad(where, "TYPE_ENUM", value)
    if fmt == "google-datetime" and parse_time(value) is None:
        raise _bad(where, "type.googleapis.com/google.protobuf.Timestamp", value)
    if fmt == "google-duration" and not _DURATION.match(value):
        raise _bad(where, "type.googleapis.com/google.protobuf.Duration", value)
    if fmt == "byte":
        try:
            base64.b64decode(value.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise _bad(where, "TYPE_BYTES", value) from None
    return value


def _integer(value: Any, where: str, type_name: str) -> int:
    if isinstance(value, bool):
        raise _bad(where, type_name, value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise _bad(where, type_name, value)


def _bad(where: str, type_name: str, value: Any) -> ApiError:
    msg = f"Invalid value at '{where}' ({type_name}), {json.dumps(value)}"
    return invalid_argument(msg, [(where, msg)])


def _proto_type(ref: str) -> str:
    name = re.sub(r"^GoogleCloudAiplatformV1", "google.cloud.aiplatform.v1.", ref)
    return f"type.googleapis.com/{name}"


def _is_default(value: Any, prop: dict[str, Any]) -> bool:
    if "$ref" in prop:
        return False  # a set message field is present even when empty
    if value in ("", [], {}) or (value is False) or (type(value) in (int, float) and not value):
        return True
    if prop.get("format") in ("int64", "uint64") and value == "0":
        return True
    enum: list[str] = prop.get("enum") or []
    return bool(enum) and value == enum[0] and enum[0].endswith("UNSPECIFIED")


def parse_time(text: str) -> int | None:
    """RFC 3339 -> nanoseconds since the epoch (None when malformed)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)", text)
    if not m:
        return None
    try:
        base = datetime.fromisoformat(m.group(1) + ("+00:00" if m.group(3) == "Z" else m.group(3)))
    except ValueError:
        return None
    frac = (m.group(2) or "").ljust(9, "0")
    return int(base.timestamp()) * 1_000_000_000 + int(frac)


# -- CustomJob semantics ---------------------------------------------------------------------
def _label_ok(text: str, *, key: bool) -> bool:
    if len(text) > 63 or (key and not text):
        return False
    if key and not (text[0].islower() or (text[0].isalpha() and not text[0].isascii())):
        return False
    return all(c.islower() or c.isdigit() or c in "_-" or (c.isalpha() and not c.isascii())
               for c in text)


def check_labels(labels: dict[str, str], where: str) -> list[tuple[str, str]]:
    errors = []
    if len(labels) > 64:
        errors.append((where, "At most 64 labels are allowed."))
    for key, val in labels.items():
        if key.startswith("aiplatform.googleapis.com/"):
            errors.append((f"{where}[{key}]", "Label keys with prefix "
                           "'aiplatform.googleapis.com/' are reserved."))
        elif not _label_ok(key, key=True):
            errors.append((f"{where}[{key}]", f"Invalid label key: '{key}'. Keys must start with "
                           "a lowercase letter and contain only lowercase letters, numeric "
                           "characters, underscores and dashes (at most 63 characters)."))
        if not _label_ok(val, key=False):
            errors.append((f"{where}[{key}]", f"Invalid label value: '{val}'. Values may contain "
                           "only lowercase letters, numeric characters, underscores and dashes "
                           "(at most 63 characters)."))
    return errors


def _check_pool(pool: dict[str, Any], where: str, first: bool) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    required = "Required field is not set."
    machine = pool.get("machineSpec", {})
    mtype = machine.get("machineType", "")
    if not mtype:
        errors.append((f"{where}.machine_spec.machine_type", required))
    elif not _MACHINE_TYPE.match(mtype):
        errors.append((f"{where}.machine_spec.machine_type",
                       f"Machine type \"{mtype}\" is not supported."))
    accel, count = machine.get("acceleratorType", ""), machine.get("acceleratorCount", 0)
    if count and not accel:
        errors.append((f"{where}.machine_spec.accelerator_type",
                       "accelerator_type must be set when accelerator_count > 0."))
    if count < 0:
        errors.append((f"{where}.machine_spec.accelerator_count", "must not be negative."))
    family = _ACCELERATOR_FAMILY.get(accel)
    if family and mtype and not mtype.startswith(family + "-"):
        errors.append((f"{where}.machine_spec", f"Accelerator \"{accel}\" is not supported for "
                       f"machine type \"{mtype}\"."))
    replicas = int(pool.get("replicaCount", "0"))
    if replicas < 1:
        errors.append((f"{where}.replica_count", "Replica count must be at least 1."))
    elif first and replicas != 1:
        errors.append((f"{where}.replica_count",
                       "The replica count of the first worker pool (primary replica) must be 1."))
    container, package = pool.get("containerSpec"), pool.get("pythonPackageSpec")
    if (container is None) == (package is None):
        errors.append((where, "Exactly one of container_spec or python_package_spec must be set."))
    if container is not None and not container.get("imageUri"):
        errors.append((f"{where}.container_spec.image_uri", required))
    if package is not None:
        pwhere = f"{where}.python_package_spec"
        for field in ("executorImageUri", "pythonModule"):
            if not package.get(field):
                errors.append((f"{pwhere}.{snake(field)}", required))
        uris = package.get("packageUris", [])
        if not uris:
            errors.append((f"{pwhere}.package_uris", required))
        for i, uri in enumerate(uris):
            if not re.fullmatch(r"gs://[^/]+/.+", uri):
                errors.append((f"{pwhere}.package_uris[{i}]",
                               f"Package URI must be a Cloud Storage path (gs://...): '{uri}'."))
    return errors


def check_custom_job(job: dict[str, Any]) -> None:
    """The semantic checks of customJobs.create; raises 400 listing every problem."""
    errors: list[tuple[str, str]] = []
    name = job.get("displayName", "")
    if not name:
        errors.append(("custom_job.display_name", "Required field is not set."))
    elif len(name) > 128:
        errors.append(("custom_job.display_name", "Display name can be up to 128 characters."))
    errors += check_labels(job.get("labels", {}), "custom_job.labels")
    spec = job.get("jobSpec")
    if spec is None:
        errors.append(("custom_job.job_spec", "Required field is not set."))
    else:
        pools = spec.get("workerPoolSpecs", [])
        if not pools:
            errors.append(("custom_job.job_spec.worker_pool_specs", "Required field is not set."))
        for i, pool in enumerate(pools):
            if i == 0 or pool:  # later pools may be {} placeholders
                errors += _check_pool(pool, f"custom_job.job_spec.worker_pool_specs[{i}]", i == 0)
        prefix = spec.get("baseOutputDirectory", {}).get("outputUriPrefix")
        if "baseOutputDirectory" in spec and not (prefix or "").startswith("gs://"):
            errors.append(("custom_job.job_spec.base_output_directory.output_uri_prefix",
                           "Output URI prefix must be a Cloud Storage path (gs://...)."))
    if errors:
        text = "".join(f"{i}.Field: {f}; Message: {m}\t" for i, (f, m) in enumerate(errors, 1))
        raise invalid_argument(f"List of found errors:\t{text}", errors)


def with_disk_defaults(job: dict[str, Any]) -> dict[str, Any]:
    """The real API fills in each non-empty pool's disk spec; do the same."""
    for pool in job.get("jobSpec", {}).get("workerPoolSpecs", []):
        if pool:
            disk = pool.setdefault("diskSpec", {})
            disk.setdefault("bootDiskType", "pd-ssd")
            disk.setdefault("bootDiskSizeGb", 100)
    return job


__all__ = ["ApiError", "Validator", "check_custom_job", "discovery", "parse_time"]
