"""Runtime policy: which image a cloud target runs on and how (the container launcher, or
Google's pythonPackageSpec), what is still available, and how legacy scale tiers and machine
types map to Vertex worker pools.

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
    CONTAINER_IMAGES,
    LEGACY_RUNTIMES,
    MACHINE_TYPES,
    SCALE_TIERS,
    VERTEX_IMAGES,
    ContainerImage,
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


def _containers(framework: str) -> list[ContainerImage]:
    found = [c for c in CONTAINER_IMAGES if c.framework == framework]
    return sorted(found, key=lambda c: _key(c.version))


def nearest_container_tf(version: str) -> ContainerImage:
    """The maintained TensorFlow image of VERSION, else the next newer one, else the newest:
    upgrading is the usual way out of a dead runtime, so a missing version rounds up."""
    images = _containers("TensorFlow")
    if _VERSION.fullmatch(version):
        newer = [c for c in images if _key(c.version) >= _key(version)]
        if newer:
            return newer[0]
    return images[-1]


def _python_image(python: str) -> ContainerImage:
    images = _containers("Python")
    return next((c for c in images if c.version == python), images[-1])


def replacement(image: VertexImage) -> tuple[str, str]:
    """(image, why) to use instead of an expired Google prebuilt IMAGE: a maintained image of the
    same framework (the same version when the table has it), run through the launcher."""
    gpu = image.variant == "gpu"
    if image.framework == "TensorFlow":
        near = nearest_container_tf(image.version)
        same = "the same version" if near.version == image.version else "the nearest newer one"
        return near.image(gpu), f"TensorFlow {near.version}, {same}"
    if image.framework == "PyTorch":
        newest = _containers("PyTorch")[-1]
        return newest.image(gpu), f"PyTorch {newest.version}, the newest jobspec knows"
    python = _python_image(image.python_version)
    package = {"scikit-learn": "scikit-learn", "XGBoost": "xgboost"}.get(image.framework)
    extra = f"; add {package} to trainer.requirements" if package else ""
    return python.cpu, f"Python {python.version}, as in {image.name}{extra}"


def _image_warnings(image: VertexImage, today: date) -> tuple[str, ...]:
    if today >= image.end_of_patch and today < image.end_of_availability:
        return (
            f"image {image.name} has had no patches since"
            f" {image.end_of_patch.isoformat()} and reaches its end of availability on"
            f" {image.end_of_availability.isoformat()} ({image.source.cite()}).",
        )
    return ()


def _expired(image: VertexImage, key: str, target: str, override: bool) -> str:
    """The refusal (or, with allow_unavailable_image, the warning) for an expired image."""
    instead, why = replacement(image)
    head = (f"{key} {image.name} reached its end of availability on"
            f" {image.end_of_availability.isoformat()} ({image.source.cite()}): Google's policy"
            " is that it can no longer be used, and Vertex AI may refuse the job.")
    use = (f"Use instead `image: {instead}` ({why}): on any image with python3 and pip, jobspec"
           " installs the package and runs the module.")
    if override:
        return f"{head} Submitting anyway (allow_unavailable_image: true). {use}"
    return (f"{head} {use} If you know the image still works: allow_unavailable_image: true"
            f" (or --set targets.{target}.allow_unavailable_image=true).")


def known_image(uri: str) -> VertexImage | None:
    """The table's record for a prebuilt image URI (any registry host), if it is one."""
    match = _IMAGE_URI.fullmatch(uri)
    return _BY_NAME.get(match.group("name")) if match else None


def known_container(uri: str) -> ContainerImage | None:
    """The table's record for a container image URI (either variant), if it is one."""
    bare = uri.removeprefix("docker.io/").removeprefix("library/")
    return next((c for c in CONTAINER_IMAGES if bare in (c.cpu, c.gpu)), None)


@dataclass(frozen=True)
class Resolved:
    image_uri: str
    source: str  # "image" | "build" | "executor_image" | "runtime_version" | "pyproject"
    framework: str | None
    python_version: str | None
    warnings: tuple[str, ...]
    # "container" (the launcher runs the sdist) | "python-package" (a Google prebuilt image);
    # a target's `command` turns "container" into "command" (plan.py)
    mode: str = "python-package"


@dataclass(frozen=True)
class _Policy:
    target: str
    allow: bool  # allow_unavailable_image: true
    refuse: bool  # an expired image is an error (plan, run), not a warning (init, import)


def _check_prebuilt(uri: str, source: str, mode: str, key: str, policy: _Policy,
                    today: date, extra_warnings: tuple[str, ...] = ()) -> Resolved:
    """URI as given; a prebuilt image the table knows is judged by its dates."""
    image = known_image(uri)
    if image is None:
        container = known_container(uri)
        if container is None:
            return Resolved(uri, source, None, None, extra_warnings, mode)
        return Resolved(uri, source, container.label, container.python_version,
                        extra_warnings, mode)
    if today >= image.end_of_availability:
        message = _expired(image, key, policy.target, policy.allow)
        if policy.refuse and not policy.allow:
            raise RuntimeUnavailable(message)
        return Resolved(uri, source, image.label, image.python_version,
                        (*extra_warnings, message), mode)
    return Resolved(uri, source, image.label, image.python_version,
                    extra_warnings + _image_warnings(image, today), mode)


def _legacy_range(version: str) -> LegacyRuntimeRange | None:
    match = _VERSION.fullmatch(version)
    if not match:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return next((r for r in LEGACY_RUNTIMES if r.contains(major, minor)), None)


def _legacy_error(version: str, legacy: LegacyRuntimeRange, gpu: bool) -> RuntimeUnavailable:
    python = " and ".join(legacy.python_versions)
    near = nearest_container_tf(version)
    major = (" (TensorFlow 2 changed the 1.x API: the trainer may need porting)"
             if version.startswith("1.") else "")
    return RuntimeUnavailable(
        f"runtime_version '{version}' is an AI Platform Training runtime (TensorFlow {version},"
        f" Python {python}). AI Platform Training was shut down on"
        f" {AI_PLATFORM.shut_down_on.isoformat()} ({AI_PLATFORM.source.cite()}), so this job"
        f" cannot run anywhere. Use instead `image: {near.image(gpu)}` (TensorFlow"
        f" {near.version}, the nearest maintained TensorFlow image jobspec knows){major}, or"
        f' runtime_version: "{near.version}".'
    )


def runtime_versions() -> list[str]:
    """The TensorFlow versions runtime_version resolves to a maintained image."""
    return [c.version for c in _containers("TensorFlow")]


def _unknown_error(version: str, extra: Mapping[str, str], gpu: bool) -> RuntimeUnavailable:
    why = ""
    if version == "2.0":
        why = " (there was no runtime 2.0: TensorFlow 2.0 users were sent to 1.15)"
    legacy = ", ".join(r.label for r in LEGACY_RUNTIMES)
    known = (
        f"TensorFlow {', '.join(runtime_versions())} (maintained images);"
        f" AI Platform runtimes {legacy} (shut down {AI_PLATFORM.shut_down_on.isoformat()})"
    )
    if extra:
        known += f"; [tool.jobspec.runtimes] in pyproject.toml: {', '.join(sorted(extra))}"
    near = nearest_container_tf(version)
    return RuntimeUnavailable(
        f"unknown runtime_version '{version}'{why}. Known versions: {known}. Set image (e.g."
        f" `image: {near.image(gpu)}`), or map the version to an image in"
        " [tool.jobspec.runtimes] in pyproject.toml."
    )


def _vertex_only(version: str, gpu: bool) -> RuntimeUnavailable | None:
    """A TensorFlow version only Google's expired prebuilt images had: no maintained image."""
    image = next((i for i in _tf_images("gpu" if gpu else "cpu") if i.version == version), None)
    if image is None:
        return None
    near = nearest_container_tf(version)
    return RuntimeUnavailable(
        f"runtime_version '{version}': the only image of TensorFlow {version} jobspec knows is"
        f" the Vertex AI prebuilt {image.name}, which reached its end of availability on"
        f" {image.end_of_availability.isoformat()} ({image.source.cite()}). Use instead"
        f" `image: {near.image(gpu)}` (TensorFlow {near.version}, the nearest newer maintained"
        f' image), or runtime_version: "{near.version}", or map \'{version}\' to an image in'
        " [tool.jobspec.runtimes] in pyproject.toml."
    )


def resolve(
    *,
    runtime_version: str | None,
    executor_image: str | None,
    region: str,
    gpu: bool,
    today: date,
    extra: Mapping[str, str] | None = None,
    image: str | None = None,
    build_base: str | None = None,
    allow_unavailable: bool = False,
    refuse_unavailable: bool = False,
    target: str = "T",
) -> Resolved:
    """The training image for a cloud target and how it runs: `image` and `build` run the
    staged sdist through the launcher (containerSpec); `runtime_version` resolves to a
    maintained image the same way; `executor_image` keeps Google's pythonPackageSpec. A known
    prebuilt image past its end of availability is refused when REFUSE_UNAVAILABLE (what `plan`
    and `run` ask) unless ALLOW_UNAVAILABLE (the target's allow_unavailable_image); otherwise it
    is a warning."""
    extra = extra or {}
    policy = _Policy(target, allow_unavailable, refuse_unavailable)
    if image is not None:
        return _check_prebuilt(image, "image", "container", "image", policy, today)
    if build_base is not None:
        return _check_prebuilt(build_base, "build", "container", "build.base", policy, today)
    if executor_image is not None:
        if not executor_image.strip():
            raise RuntimeUnavailable("executor_image is empty: give a container image URI")
        return _check_prebuilt(executor_image, "executor_image", "python-package",
                               "executor_image", policy, today)
    if runtime_version is None:
        raise RuntimeUnavailable(
            "a cloud target needs an image: image, build, runtime_version or executor_image"
        )
    if runtime_version in extra:
        uri = extra[runtime_version]
        mode = "python-package" if known_image(uri) is not None else "container"
        return _check_prebuilt(uri, "pyproject", mode, "runtime_version", policy, today)
    legacy = _legacy_range(runtime_version)
    if legacy is not None:
        raise _legacy_error(runtime_version, legacy, gpu)
    found = next((c for c in _containers("TensorFlow") if c.version == runtime_version), None)
    if found is None:
        raise _vertex_only(runtime_version, gpu) or _unknown_error(runtime_version, extra, gpu)
    return Resolved(found.image(gpu), "runtime_version", found.label, found.python_version, (),
                    "container")


# --- Status for `jobspec runtimes` ---------------------------------------------------------


@dataclass(frozen=True)
class StatusRow:
    kind: str  # "container-image" | "vertex-image" | "ai-platform-runtime"
    name: str
    framework: str
    python_version: str
    end_of_patch: date | None
    end_of_availability: date | None
    status: str
    available: bool  # "end of patch passed" still runs; only availability decides
    source: Source
    note: str = ""
    use_instead: str = ""  # for what is not usable: the image to use
    gpu_image: str = ""  # container images: the variant for jobs with accelerators


def _legacy_status(today: date) -> str:
    if today >= AI_PLATFORM.shut_down_on:
        return f"shut down {AI_PLATFORM.shut_down_on.isoformat()}"
    if today >= AI_PLATFORM.deprecated_on:
        return f"deprecated {AI_PLATFORM.deprecated_on.isoformat()}"
    return "available"


def status_rows(today: date) -> list[StatusRow]:
    """Every entry with its status on TODAY, what is usable first: maintained container images,
    then Google's prebuilt images still available, then what has ended (with what to use)."""
    rows = [
        StatusRow(
            "container-image", c.cpu, c.label, c.python_version or "not sourced", None, None,
            f"exists (checked {c.source.read_on.isoformat()})", True, c.source, c.note,
            gpu_image=c.gpu or "",
        )
        for c in CONTAINER_IMAGES
    ]
    vertex = [
        StatusRow(
            "vertex-image", i.name, i.label, i.python_version, i.end_of_patch,
            i.end_of_availability, _status(i, today), today < i.end_of_availability, i.source,
            i.note, "" if today < i.end_of_availability else replacement(i)[0],
        )
        for i in VERTEX_IMAGES
    ]
    rows += [r for r in vertex if r.available] + [r for r in vertex if not r.available]
    rows += [
        StatusRow(
            "ai-platform-runtime", r.label, f"TensorFlow {r.label}", "/".join(r.python_versions),
            None, AI_PLATFORM.shut_down_on, _legacy_status(today),
            today < AI_PLATFORM.shut_down_on, r.source, r.note,
            nearest_container_tf(f"{r.major}.{r.last_minor}").cpu,
        )
        for r in LEGACY_RUNTIMES
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


