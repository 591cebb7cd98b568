"""Runtime versions, prebuilt training images and legacy shapes, as dated data (RUNTIMES.md).

Every fact below is a frozen record carrying the source it came from and the day it was read,
so keeping the table current is a data change. The functions are pure: "today" is always a
parameter, never read from the clock, so the same inputs always give the same answer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from jobspec.errors import EXIT_USAGE, JobspecError

READ_ON = date(2026, 11, 26)


@dataclass(frozen=True)
class Source:
    title: str
    where: str
    read_on: date = READ_ON

    def cite(self) -> str:
        return f"{self.title}, read {self.read_on.isoformat()}"


AIP_DEPRECATIONS = Source(
    "AI Platform Training deprecations page",
    "https://cloud.google.com/ai-platform/training/docs/deprecations",
)
AIP_RUNTIME_DOCS = Source(
    "AI Platform Training runtime version documentation",
    "Google's public documentation; the exact page was not recorded",
)
VERTEX_PREBUILT = Source(
    "Vertex AI prebuilt containers for custom training page",
    "Vertex AI documentation; the URL was not recorded",
)
VERTEX_POLICY = Source(
    "Vertex AI prebuilt containers support policy",
    "the framework support policy page linked from the prebuilt containers page",
)
SECONDARY = Source(
    "secondary source, not Google's documentation",
    "recorded in RUNTIMES.md; the original page was not recorded",
)
JOBSPEC_POLICY = Source("jobspec runtime policy", "RUNTIMES.md, 'Policy that follows from this'")

# Facts that were looked for and not found; printed by `jobspec runtimes` so nobody mistakes
# a jobspec choice for a documented fact.
UNSOURCED: tuple[str, ...] = (
    "which AI Platform runtime minor versions existed (2.9 and 2.10 may have been skipped);"
    " any X.Y in 1.0-1.15 or 2.1-2.11 is treated as a legacy runtime",
    "the historical machine counts of scale tiers STANDARD_1 and PREMIUM_1",
    "a documented successor to tf-cpu.2-17 / tf-gpu.2-17",
)


class RuntimeUnavailable(JobspecError):
    """The requested runtime or image cannot run a job; the message names the way out."""

    exit_code = EXIT_USAGE


class ShapeUnavailable(JobspecError):
    """A scale tier or machine type jobspec cannot map to Vertex worker pools."""

    exit_code = EXIT_USAGE


# --- AI Platform Training (Cloud ML Engine) ------------------------------------------------


@dataclass(frozen=True)
class LegacyService:
    deprecated_on: date
    shut_down_on: date
    runtime_support_months: int
    source: Source


AI_PLATFORM = LegacyService(date(2023, 7, 26), date(2025, 1, 31), 12, AIP_DEPRECATIONS)


@dataclass(frozen=True)
class LegacyRuntimeRange:
    """Runtimes MAJOR.FIRST..MAJOR.LAST; runtime X.Y shipped TensorFlow X.Y."""

    major: int
    first_minor: int
    last_minor: int
    python_versions: tuple[str, ...]
    source: Source
    note: str = ""

    @property
    def label(self) -> str:
        first, last = f"{self.major}.{self.first_minor}", f"{self.major}.{self.last_minor}"
        return first if first == last else f"{first}-{last}"

    def contains(self, major: int, minor: int) -> bool:
        return major == self.major and self.first_minor <= minor <= self.last_minor


LEGACY_RUNTIMES: tuple[LegacyRuntimeRange, ...] = (
    LegacyRuntimeRange(1, 0, 3, ("2.7",), AIP_RUNTIME_DOCS),
    LegacyRuntimeRange(1, 4, 14, ("2.7", "3.5"), AIP_RUNTIME_DOCS),
    LegacyRuntimeRange(1, 15, 15, ("2.7", "3.7"), AIP_RUNTIME_DOCS),
    LegacyRuntimeRange(
        2, 1, 11, ("3.7",), AIP_RUNTIME_DOCS,
        note="there was no runtime 2.0 (TensorFlow 2.0 users were sent to 1.15);"
        " which minor versions existed could not be confirmed",
    ),
)


# --- Vertex AI prebuilt training images ----------------------------------------------------


@dataclass(frozen=True)
class VertexImage:
    framework: str
    version: str
    name: str
    variant: str  # "cpu" | "gpu": which one jobspec picks when the job has accelerators
    python_version: str
    end_of_patch: date
    end_of_availability: date
    source: Source = VERTEX_POLICY
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}"

    def uri(self, host: str) -> str:
        return f"{host}/vertex-ai/training/{self.name}:latest"


def _pair(
    framework: str, version: str, template: str, python: str, eop: str, eoa: str,
    *, cpu: str = "cpu", note: str = "",
) -> tuple[VertexImage, VertexImage]:
    """The cpu and gpu images of one release; TEMPLATE's {} is the cpu/gpu word of the name."""
    patch, avail = date.fromisoformat(eop), date.fromisoformat(eoa)
    return (
        VertexImage(framework, version, template.format(cpu), "cpu", python, patch, avail,
                    note=note),
        VertexImage(framework, version, template.format("gpu"), "gpu", python, patch, avail,
                    note=note),
    )


_TF = "TensorFlow"
_RAY_GPU = "gpu names written 'ray-gpu.…' in RUNTIMES.md; read by analogy with the cpu names"

VERTEX_IMAGES: tuple[VertexImage, ...] = (
    *_pair(_TF, "2.17", "tf-{}.2-17.py310", "3.10", "2025-07-11", "2026-07-11"),
    *_pair(_TF, "2.16", "tf-{}.2-16.py310", "3.10", "2025-06-28", "2026-06-28"),
    *_pair(_TF, "2.15", "tf-{}.2-15.py310", "3.10", "2024-11-14", "2025-11-14"),
    *_pair(_TF, "2.14", "tf-{}.2-14.py310", "3.10", "2024-09-26", "2025-09-26"),
    *_pair(_TF, "2.13", "tf-{}.2-13.py310", "3.10", "2024-07-05", "2025-07-05"),
    *_pair(_TF, "2.12", "tf-{}.2-12.py310", "3.10", "2024-06-30", "2025-06-30"),
    *_pair(_TF, "2.11", "tf-{}.2-11.py310", "3.10", "2023-11-15", "2024-11-15"),
    *_pair(_TF, "2.9", "tf-{}.2-9.py310", "3.10", "2023-11-15", "2024-11-15"),
    *_pair(_TF, "2.8", "tf-{}.2-8.py310", "3.10", "2023-11-15", "2024-11-15"),
    *_pair("PyTorch", "2.4", "pytorch-{}.2-4.py310", "3.10", "2025-07-24", "2026-07-24", cpu="xla"),
    *_pair("PyTorch", "2.3", "pytorch-{}.2-3.py310", "3.10", "2025-04-24", "2026-04-24", cpu="xla"),
    *_pair("scikit-learn", "1.6", "sklearn-{}.1-6", "3.10", "2025-07-11", "2026-07-11"),
    *_pair("XGBoost", "2.1", "xgboost-{}.2-1", "3.10", "2025-07-11", "2026-07-11"),
    *_pair("Ray", "2.47.1", "ray-{}.2-47.py311", "3.11", "2026-07-28", "2027-07-28"),
    *_pair("Ray", "2.42.0", "ray-{}.2-42.py311", "3.11", "2026-03-01", "2027-03-01", note=_RAY_GPU),
    *_pair("Ray", "2.42.0", "ray-{}.2-42.py310", "3.10", "2026-03-01", "2027-03-01", note=_RAY_GPU),
)

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


def _columns(*rows: tuple[str, ...]) -> list[str]:
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]


def _pools_text(pools: tuple[PoolShape, ...]) -> str:
    return "; ".join(
        f"{p.role} {p.count} x {p.machine_type}"
        + (f" + {p.accelerator_count} x {p.accelerator_type}" if p.accelerator_type else "")
        for p in pools
    )


def format_table(today: date) -> str:
    """Plain text for `jobspec runtimes`: every entry with its status on TODAY, then shapes."""
    rows = status_rows(today)
    legacy = [(r.name, r.framework, r.python_version, r.status)
              for r in rows if r.kind == "ai-platform-runtime"]
    images = [(r.name, r.framework, r.python_version, str(r.end_of_patch),
               str(r.end_of_availability), r.status) for r in rows if r.kind == "vertex-image"]
    tiers = [(t.name, _pools_text(t.pools) or "-",
              t.provenance + (f": {t.refused}" if t.refused else ""), t.note)
             for t in SCALE_TIERS]
    machines = [(m.legacy_name, m.machine_type, m.accelerator_type or "-", m.note)
                for m in MACHINE_TYPES]
    return "\n".join([
        f"Status on {today.isoformat()}; facts read {READ_ON.isoformat()}. Newer images may exist.",
        "",
        f"AI Platform Training runtimes ({AI_PLATFORM.source.cite()}):",
        *_columns(("RUNTIME", "FRAMEWORK", "PYTHON", "STATUS"), *legacy),
        "",
        "Vertex AI prebuilt training images, {us,europe,asia}-docker.pkg.dev/vertex-ai/training/"
        f"NAME:latest ({VERTEX_PREBUILT.cite()}; dates: {VERTEX_POLICY.cite()}):",
        *_columns(("NAME", "FRAMEWORK", "PYTHON", "END OF PATCH", "END OF AVAILABILITY",
                   "STATUS"), *images),
        "",
        "Legacy scale tiers -> Vertex worker pools:",
        *_columns(("TIER", "POOLS", "WHY", "NOTE"), *tiers),
        "",
        f"Legacy machine types ({SECONDARY.cite()}):",
        *_columns(("LEGACY", "MACHINE", "GPU", "NOTE"), *machines),
        "",
        "Could not be sourced:",
        *(f"  - {fact}" for fact in UNSOURCED),
    ]) + "\n"


# --- Legacy scale tiers and machine types -> Vertex worker pools ---------------------------


@dataclass(frozen=True)
class PoolShape:
    role: str  # "chief" | "worker" | "ps" | "evaluator", the Vertex worker pool order
    machine_type: str
    count: int
    accelerator_type: str | None = None
    accelerator_count: int = 0


@dataclass(frozen=True)
class ScaleTier:
    name: str
    pools: tuple[PoolShape, ...]
    provenance: str
    source: Source
    note: str = ""
    refused: str | None = None  # why jobspec cannot map this tier


_CHOICE = "jobspec's choice; historical counts could not be sourced"
_CUSTOM = "CUSTOM takes explicit machine types and counts from the spec"

SCALE_TIERS: tuple[ScaleTier, ...] = (
    ScaleTier("BASIC", (PoolShape("chief", "n1-standard-4", 1),), "RUNTIMES.md policy",
              JOBSPEC_POLICY),
    ScaleTier("BASIC_GPU", (PoolShape("chief", "n1-standard-8", 1, "NVIDIA_TESLA_T4", 1),),
              "RUNTIMES.md policy", JOBSPEC_POLICY,
              note="K80 GPUs are retired; jobspec defaults to NVIDIA_TESLA_T4"),
    ScaleTier("STANDARD_1", (PoolShape("chief", "n1-highcpu-8", 1),
                             PoolShape("worker", "n1-highcpu-8", 4),
                             PoolShape("ps", "n1-standard-4", 3)), _CHOICE, JOBSPEC_POLICY),
    ScaleTier("PREMIUM_1", (PoolShape("chief", "n1-highcpu-16", 1),
                            PoolShape("worker", "n1-highcpu-16", 19),
                            PoolShape("ps", "n1-highmem-8", 11)), _CHOICE, JOBSPEC_POLICY),
    ScaleTier("BASIC_TPU", (), "refused", JOBSPEC_POLICY,
              refused="Vertex custom training with TPU VMs needs explicit machine types, and the"
              " legacy TPU tier has no Vertex equivalent jobspec can map"),
    ScaleTier("CUSTOM", (), "explicit", JOBSPEC_POLICY, refused=_CUSTOM),
)

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
            else f"scale tier CUSTOM has no fixed shape: {_CUSTOM}."
        )
    return found.pools


@dataclass(frozen=True)
class MachineMapping:
    legacy_name: str
    machine_type: str
    accelerator_type: str | None
    accelerator_count: int
    source: Source = SECONDARY
    note: str = ""


MACHINE_TYPES: tuple[MachineMapping, ...] = (
    MachineMapping("standard", "n1-standard-4", None, 0),
    MachineMapping("large_model", "n1-highmem-8", None, 0),
    MachineMapping("complex_model_s", "n1-highcpu-8", None, 0),
    MachineMapping("complex_model_m", "n1-highcpu-16", None, 0),
    MachineMapping("complex_model_l", "n1-highcpu-32", None, 0),
    MachineMapping("standard_gpu", "n1-standard-8", "NVIDIA_TESLA_T4", 1,
                   note="the source says '1 GPU'; T4 is jobspec's default, as for BASIC_GPU"),
)

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

