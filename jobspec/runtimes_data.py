"""The runtime and image table as dated data: what exists, when it ends, and where each fact was
read. No policy here: runtimes.py decides, runtimes_table.py prints.

Every fact is a frozen record carrying the source it came from and the day it was read, so
keeping the table current is a data change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

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
    "Vertex AI supported frameworks list (prebuilt containers for custom training)",
    "https://cloud.google.com/vertex-ai/docs/supported-frameworks-list",
)
VERTEX_POLICY = Source(
    "Vertex AI prebuilt containers support policy",
    "https://cloud.google.com/vertex-ai/docs/framework-support-policy",
)
SECONDARY = Source(
    "secondary source, not Google's documentation",
    "the original page was not recorded",
)
JOBSPEC_POLICY = Source(
    "jobspec's own choice",
    "not a documented fact: jobspec picks it because nothing official could be found",
)

# Container images: what `image:` and `runtime_version` run today (read 2026-11-27). Docker Hub's
# own tag pages could not be read from here; each source says how the tags were checked.
CHECKED_ON = date(2026, 11, 27)
DOCKER_PYTHON = Source(
    "Docker Official Images, python (the tag list Docker Hub serves as python:TAG)",
    "https://github.com/docker-library/official-images/blob/master/library/python"
    " (commit 01732a42e52e; lists 3.10.19, 3.11.14, 3.12.12, 3.13.9 with their -slim tags)",
    CHECKED_ON,
)
TF_DOCKER = Source(
    "TensorFlow's Docker images, tensorflow/tensorflow on Docker Hub",
    "https://hub.docker.com/r/tensorflow/tensorflow/tags (tags X.Y.Z for CPU and X.Y.Z-gpu"
    " with CUDA, the format https://www.tensorflow.org/install/docker documents); each tag"
    " listed was seen pulled by public Dockerfiles in a code search",
    CHECKED_ON,
)
PYTORCH_DOCKER = Source(
    "PyTorch's Docker images, pytorch/pytorch on Docker Hub",
    "https://hub.docker.com/r/pytorch/pytorch/tags; the tag listed was seen pulled by public"
    " Dockerfiles in a code search",
    CHECKED_ON,
)

# Facts that were looked for and not found; printed by `jobspec runtimes` so nobody mistakes
# a jobspec choice for a documented fact.
UNSOURCED: tuple[str, ...] = (
    "which AI Platform runtime minor versions existed (2.9 and 2.10 may have been skipped);"
    " any X.Y in 1.0-1.15 or 2.1-2.11 is treated as a legacy runtime",
    "the historical machine counts of scale tiers STANDARD_1 and PREMIUM_1",
    "a documented successor to tf-cpu.2-17 / tf-gpu.2-17",
    "the Python version inside tensorflow/tensorflow:2.17.0 and 2.20.0 and inside"
    " pytorch/pytorch images (third-party Dockerfiles say 3.11 for 2.18.0 and 2.19.0)",
)


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
_RAY_GPU = "gpu names given as 'ray-gpu.…' by the source; read by analogy with the cpu names"

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


# --- Container images that exist today -----------------------------------------------------


@dataclass(frozen=True)
class ContainerImage:
    """A maintained image with python3 and pip: the staged sdist runs on it through the launcher
    (jobspec/launcher.py). `gpu` is the variant for jobs with accelerators (CUDA inside); None
    when the one image serves both."""

    framework: str  # "TensorFlow" | "PyTorch" | "Python"
    version: str  # "X.Y": what runtime_version names (TensorFlow only)
    cpu: str
    gpu: str | None
    python_version: str | None  # None: could not be sourced
    source: Source
    note: str = ""

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}"

    def image(self, gpu: bool) -> str:
        return self.gpu if gpu and self.gpu else self.cpu


_PY311 = "Python 3.11 per third-party Dockerfiles built on it, not TensorFlow's own pages"
_SLIM = ("no CUDA libraries: on a GPU machine only frameworks whose wheels bring their own CUDA"
         " (e.g. torch) use the GPU")

CONTAINER_IMAGES: tuple[ContainerImage, ...] = (
    ContainerImage("TensorFlow", "2.20", "tensorflow/tensorflow:2.20.0",
                   "tensorflow/tensorflow:2.20.0-gpu", None, TF_DOCKER),
    ContainerImage("TensorFlow", "2.19", "tensorflow/tensorflow:2.19.0",
                   "tensorflow/tensorflow:2.19.0-gpu", "3.11", TF_DOCKER, note=_PY311),
    ContainerImage("TensorFlow", "2.18", "tensorflow/tensorflow:2.18.0",
                   "tensorflow/tensorflow:2.18.0-gpu", "3.11", TF_DOCKER, note=_PY311),
    ContainerImage("TensorFlow", "2.17", "tensorflow/tensorflow:2.17.0",
                   "tensorflow/tensorflow:2.17.0-gpu", None, TF_DOCKER),
    ContainerImage("PyTorch", "2.9", "pytorch/pytorch:2.9.1-cuda12.8-cudnn9-runtime", None,
                   None, PYTORCH_DOCKER, note="CUDA 12.8 inside; runs on CPU machines too"),
    ContainerImage("Python", "3.13", "python:3.13-slim", None, "3.13", DOCKER_PYTHON, note=_SLIM),
    ContainerImage("Python", "3.12", "python:3.12-slim", None, "3.12", DOCKER_PYTHON, note=_SLIM),
    ContainerImage("Python", "3.11", "python:3.11-slim", None, "3.11", DOCKER_PYTHON, note=_SLIM),
    ContainerImage("Python", "3.10", "python:3.10-slim", None, "3.10", DOCKER_PYTHON, note=_SLIM),
)

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
    ScaleTier("BASIC", (PoolShape("chief", "n1-standard-4", 1),), "jobspec policy",
              JOBSPEC_POLICY),
    ScaleTier("BASIC_GPU", (PoolShape("chief", "n1-standard-8", 1, "NVIDIA_TESLA_T4", 1),),
              "jobspec policy", JOBSPEC_POLICY,
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

