"""Runtime policy (RUNTIMES.md): which image a cloud target runs on, what is still available,
and how legacy scale tiers and machine types map to Vertex worker pools.

The table itself is data (runtimes_data.py); `jobspec runtimes` prints it (runtimes_table.py).
The functions are pure: "today" is always a parameter, never read from the clock, so the same
inputs always give the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from jobspec.errors import EXIT_USAGE, JobspecError
from jobspec.runtimes_data import (
    AI_PLATFORM,
    LEGACY_RUNTIMES,
    MACHINE_TYPES,
    SCALE_TIERS,
    VERTEX_IMAGES,
    LegacyRuntimeRange,
    MachineMapping,
    ScaleTier,
    Source,
    VertexImage,
)
from jobspec.runtimes_data import PoolShape as PoolShape  # scale_tier_pools' result type


class RuntimeUnavailable(JobspecError):
    """The requested runtime or image cannot run a job; the message names the way out."""

    exit_code = EXIT_USAGE


class ShapeUnavailable(JobspecError):
    """A scale tier or machine type jobspec cannot map to Vertex worker pools."""

    exit_code = EXIT_USAGE


_BY_NAME: dict[str, VertexImage] = {image.name: image for image in VERTEX_IMAGES}
_REGISTRY_PREFIXES = ("us", "europe", "asia")
_IMAGE_URI = re.compile(r"[^/\s]+/vertex-ai/training/(?P<name>[^/:@\s]+):latest")
_VERSION = re.compile(r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)")


def registry_host(region: str) -> str:
    """Artifact Registry host of the prebuilt images for REGION (fallback: the us host)."""
    prefix = region.strip().lower().split("-", 1)[0]
    return f"{prefix if prefix in _REGISTRY_PREFIXES else 'us'}-docker.pkg.dev"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def _status(image: VertexImage, today: date) -> str:
    if today >= image.end_of_availability:
        return f"unavailable since {image.end_of_availability.isoformat()}"
    if today >= image.end_of_patch:
        return "end of patch passed"
    return "available"


def _describe(image: VertexImage, today: date) -> str:
    if today >= image.end_of_availability:
        return f"unavailable since {image.end_of_availability.isoformat()}"
    until = f"available until {image.end_of_availability.isoformat()}"
    if today >= image.end_of_patch:
        return f"{until}, unpatched since {image.end_of_patch.isoformat()}"
    return until


def _tf_images(variant: str) -> list[VertexImage]:
    found = [i for i in VERTEX_IMAGES if i.framework == "TensorFlow" and i.variant == variant]
    return sorted(found, key=lambda image: _key(image.version))


def nearest_vertex_tf(version: str, *, gpu: bool = False) -> VertexImage | None:
    """The Vertex TF image for VERSION, else the next newer one, else the newest older one.

    Upgrading is the usual way out of a dead runtime, so a missing version rounds up.
    """
    if not _VERSION.fullmatch(version):
        return None
    images = _tf_images("gpu" if gpu else "cpu")
    newer = [image for image in images if _key(image.version) >= _key(version)]
    if newer:
        return newer[0]
    return images[-1] if images else None


def _way_forward(image: VertexImage, today: date) -> str:
    newer = sorted(
        (
            other
            for other in VERTEX_IMAGES
            if other.framework == image.framework
            and other.variant == image.variant
            and _key(other.version) > _key(image.version)
        ),
        key=lambda other: _key(other.version),
    )
    usable = [other for other in newer if today < other.end_of_availability]
    if usable:
        best = usable[-1]
        return (
            f"jobspec knows of a newer {image.framework} image, {best.name}"
            f" ({_describe(best, today)})."
        )
    tail = "check the prebuilt containers page or use your own image."
    if newer:
        newest = newer[-1]
        return (
            f"The newest {image.framework} image jobspec knows of, {newest.name}, is past its"
            f" end of availability too ({newest.end_of_availability.isoformat()}); {tail}"
        )
    return f"jobspec does not know of a newer {image.framework} image; {tail}"


def _image_warnings(image: VertexImage, today: date) -> tuple[str, ...]:
    cite = image.source.cite()
    if today >= image.end_of_availability:
        return (
            f"executor image {image.name} reached its end of availability on"
            f" {image.end_of_availability.isoformat()} ({cite}); the job may fail to start."
            f" {_way_forward(image, today)}",
        )
    if today >= image.end_of_patch:
        return (
            f"image {image.name} has had no patches since"
            f" {image.end_of_patch.isoformat()} and reaches its end of availability on"
            f" {image.end_of_availability.isoformat()} ({cite}).",
        )
    return ()


def known_image(uri: str) -> VertexImage | None:
    """The table's record for a prebuilt image URI (any registry host), if it is one."""
    match = _IMAGE_URI.fullmatch(uri)
    return _BY_NAME.get(match.group("name")) if match else None


@dataclass(frozen=True)
class Resolved:
    image_uri: str
    source: str  # "executor_image" | "runtime_version" | "pyproject"
    framework: str | None
    python_version: str | None
    warnings: tuple[str, ...]


def _from_uri(uri: str, source: str, today: date, extra_warnings: tuple[str, ...]) -> Resolved:
    image = known_image(uri)
    if image is None:
        return Resolved(uri, source, None, None, extra_warnings)
    warnings = extra_warnings + _image_warnings(image, today)
    return Resolved(uri, source, image.label, image.python_version, warnings)


def _legacy_range(version: str) -> LegacyRuntimeRange | None:
    match = _VERSION.fullmatch(version)
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return next((r for r in LEGACY_RUNTIMES if r.contains(major, minor)), None)


def _legacy_error(version: str, legacy: LegacyRuntimeRange, region: str, gpu: bool,
                  today: date) -> RuntimeUnavailable:
    python = " and ".join(legacy.python_versions)
    near = nearest_vertex_tf(version, gpu=gpu)
    nearest = "" if near is None else (
        f" the nearest Vertex AI TensorFlow image, {near.uri(registry_host(region))}"
        f" (TensorFlow {near.version}, {_describe(near, today)}), or"
    )
    return RuntimeUnavailable(
        f"runtime_version '{version}' is an AI Platform Training runtime (TensorFlow {version},"
        f" Python {python}). AI Platform Training was shut down on"
        f" {AI_PLATFORM.shut_down_on.isoformat()} ({AI_PLATFORM.source.cite()}), so this job"
        f" cannot run anywhere. Use instead{nearest} set executor_image to an image you know"
        " works."
    )


def _vertex_tf_versions() -> list[str]:
    """TF versions that runtime_version can name: legacy runtimes shadow 2.8, 2.9, 2.11."""
    versions = {i.version for i in _tf_images("cpu") if _legacy_range(i.version) is None}
    return sorted(versions, key=_key)


def _unknown_error(version: str, extra: Mapping[str, str]) -> RuntimeUnavailable:
    why = ""
    if version == "2.0":
        why = " (there was no runtime 2.0: TensorFlow 2.0 users were sent to 1.15)"
    legacy = ", ".join(r.label for r in LEGACY_RUNTIMES)
    known = (
        f"Vertex AI TensorFlow {', '.join(_vertex_tf_versions())};"
        f" AI Platform runtimes {legacy} (shut down {AI_PLATFORM.shut_down_on.isoformat()})"
    )
    if extra:
        known += f"; [tool.jobspec.runtimes] in pyproject.toml: {', '.join(sorted(extra))}"
    return RuntimeUnavailable(
        f"unknown runtime_version '{version}'{why}. Known versions: {known}. Set"
        " executor_image, or map the version to an image in [tool.jobspec.runtimes]"
        " in pyproject.toml."
    )


def resolve(
    *,
    runtime_version: str | None,
    executor_image: str | None,
    region: str,
    gpu: bool,
    today: date,
    extra: Mapping[str, str] | None = None,
) -> Resolved:
    """The training image for a cloud target, following the policy in RUNTIMES.md."""
    extra = extra or {}
    if executor_image is not None:
        if not executor_image.strip():
            raise RuntimeUnavailable("executor_image is empty: give a container image URI")
        ignored: tuple[str, ...] = ()
        if runtime_version is not None:
            ignored = (
                f"runtime_version '{runtime_version}' is ignored: executor_image is given"
                " and is used exactly as written.",
            )
        return _from_uri(executor_image, "executor_image", today, ignored)
    if runtime_version is None:
        raise RuntimeUnavailable(
            "a cloud target needs executor_image or runtime_version: neither is set"
        )
    if runtime_version in extra:
        return _from_uri(extra[runtime_version], "pyproject", today, ())
    legacy = _legacy_range(runtime_version)
    if legacy is not None:
        raise _legacy_error(runtime_version, legacy, region, gpu, today)
    if runtime_version not in _vertex_tf_versions():
        raise _unknown_error(runtime_version, extra)
    variant = "gpu" if gpu else "cpu"
    image = next(i for i in _tf_images(variant) if i.version == runtime_version)
    if today >= image.end_of_availability:
        raise RuntimeUnavailable(
            f"runtime_version '{runtime_version}' maps to the Vertex AI prebuilt image"
            f" {image.name}, which reached its end of availability on"
            f" {image.end_of_availability.isoformat()} ({image.source.cite()})."
            f" {_way_forward(image, today)} Set executor_image to an image you know works,"
            f" or map '{runtime_version}' to an image in"
            " [tool.jobspec.runtimes] in pyproject.toml."
        )
    uri = image.uri(registry_host(region))
    return Resolved(
        uri, "runtime_version", image.label, image.python_version, _image_warnings(image, today)
    )


# --- Status for `jobspec runtimes` ---------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    kind: str  # "ai-platform-runtime" | "vertex-image"
    name: str
    framework: str
    python_version: str
    end_of_patch: date | None
    end_of_availability: date | None
    status: str
    available: bool  # "end of patch passed" still runs; only availability decides
    source: Source
    note: str = ""


def _legacy_status(today: date) -> str:
    if today >= AI_PLATFORM.shut_down_on:
        return f"shut down {AI_PLATFORM.shut_down_on.isoformat()}"
    if today >= AI_PLATFORM.deprecated_on:
        return f"deprecated {AI_PLATFORM.deprecated_on.isoformat()}"
    return "available"


def status_rows(today: date) -> list[StatusRow]:
    rows = [
        StatusRow(
            "ai-platform-runtime", r.label, f"TensorFlow {r.label}", "/".join(r.python_versions),
            None, AI_PLATFORM.shut_down_on, _legacy_status(today),
            today < AI_PLATFORM.shut_down_on, r.source, r.note,
        )
        for r in LEGACY_RUNTIMES
    ]
    rows += [
        StatusRow(
            "vertex-image", i.name, i.label, i.python_version, i.end_of_patch,
            i.end_of_availability, _status(i, today), today < i.end_of_availability, i.source,
            i.note,
        )
        for i in VERTEX_IMAGES
    ]
    return rows


# --- Legacy scale tiers and machine types -> Vertex worker pools ---------------------------

_TIERS: dict[str, ScaleTier] = {tier.name: tier for tier in SCALE_TIERS}


def scale_tier_pools(tier: str) -> tuple[PoolShape, ...]:
    """Worker pools for a legacy scale tier, ordered chief, workers, ps, evaluators."""
    found = _TIERS.get(tier.strip().upper().replace("-", "_"))
    if found is None:
        raise ShapeUnavailable(
            f"unknown scale tier '{tier}'; known tiers: {', '.join(_TIERS)}"
        )
    if found.refused is not None:
        raise ShapeUnavailable(
            f"scale tier {found.name} cannot be mapped to Vertex worker pools: {found.refused}."
            " Use scale tier CUSTOM with explicit machine types."
            if found.name != "CUSTOM"
            else f"scale tier CUSTOM has no fixed shape: {found.refused}."
        )
    return found.pools


_MACHINES: dict[str, MachineMapping] = {m.legacy_name: m for m in MACHINE_TYPES}
# family-kind[-size]: n1-standard-4, a2-highgpu-1g, e2-medium, ct5lp-hightpu-4t
_COMPUTE_ENGINE_TYPE = re.compile(r"[a-z][a-z0-9]*-[a-z0-9]+(-[a-z0-9]+)*")


def map_machine_type(name: str) -> tuple[str, str | None, int]:
    """(machine type, accelerator type, accelerator count) for a legacy or Compute Engine name."""
    legacy = _MACHINES.get(name)
    if legacy is not None:
        return legacy.machine_type, legacy.accelerator_type, legacy.accelerator_count
    if _COMPUTE_ENGINE_TYPE.fullmatch(name):
        return name, None, 0
    raise ShapeUnavailable(
        f"unknown machine type '{name}': neither a legacy name jobspec maps"
        f" ({', '.join(_MACHINES)}) nor a Compute Engine machine type like n1-standard-4"
    )


