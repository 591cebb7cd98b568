"""The spec's single values: the patterns and rules for names, buckets, regions, projects...,
the constrained types built on them (``problem()`` checks one value against one), the pieces
the spec's models share (Model, args and env, machine pools) and ``[tool.jobspec]``. The spec's
models are in spec.py, which imports this module; this module never imports it.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from jobspec.states import JOB_NAME_PATTERN

# Every pattern here is used with fullmatch: `$` in `re.match` also matches before a trailing
# newline, which let "name\n" through (issue 9). Patterns state the whole value on their own.
NAME_RE = re.compile(JOB_NAME_PATTERN)
MODULE_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# GCS: lowercase letters, digits, '-', '_' and '.', a letter or digit at each end; the rest of
# Google's rules (lengths, IP form, goog/google, '..') are in bucket_problem()
BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9_.-]*[a-z0-9])?")
LABEL_KEY_RE = re.compile(r"[a-z][a-z0-9_-]{0,62}")
LABEL_VALUE_RE = re.compile(r"[a-z0-9_-]{0,63}")
REGION_RE = re.compile(r"[a-z]+-[a-z]+[0-9]+")
DURATION_RE = re.compile(r"([0-9]+)(s|m|h|d)?")
ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
MATRIX_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")  # what ${matrix.KEY} can name
TARGET_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
ACCELERATOR_RE = re.compile(r"[A-Z][A-Z0-9_]+")
# a project id (6-30 in Google's rules, but test and emulator projects are shorter), a legacy
# domain-scoped one (example.com:my-project), or a project number
PROJECT_RE = re.compile(r"(?:[a-z0-9][a-z0-9.-]*:)?[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
NETWORK_RE = re.compile(r"projects/[a-z0-9-]+/global/networks/[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?")
VERSION_RE = re.compile(r"[0-9]+\.[0-9]+")
SERVICE_ACCOUNT_RE = re.compile(r"[a-z0-9][a-z0-9._-]*@[a-z0-9][a-z0-9.-]*[a-z0-9]")
_IP_FORM = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}")
# "google" and close misspellings (g00gle, go0gle, goog1e, g-o-o-g-l-e): compared after these
_LOOKALIKES = str.maketrans({"0": "o", "1": "l", "3": "e", "i": "l", "|": "l"})


def bucket_problem(value: str) -> str | None:
    """What a GCS bucket name must be and ``value`` is not (Google's rules: cloud.google.com/
    storage/docs/naming-buckets), or None."""
    if not BUCKET_RE.fullmatch(value):
        return ("expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending "
                "with a letter or digit")
    if not 3 <= len(value) <= (222 if "." in value else 63):
        return f"expected 3-63 characters (up to 222 with dots), got {len(value)}"
    if any(len(part) > 63 for part in value.split(".")):
        return "expected at most 63 characters between dots"
    for pair in ("..", ".-", "-."):
        if pair in value:
            return f"expected no {pair!r} in the name"
    if _IP_FORM.fullmatch(value):
        return "expected a name, not an IP address"
    if value.startswith("goog"):
        return "expected a name that does not start with 'goog'"
    if "google" in re.sub(r"[-_.]", "", value.translate(_LOOKALIKES)):
        return "expected a name without 'google' or a close misspelling of it"
    return None


class FieldError(ValueError):
    """A rule checked on a mapping or a whole model that is about one value inside it: ``at`` is
    that value's path below the model, so the error points at its own line (validation.py);
    ``key``: at the key itself (a bad env name), not its value."""

    def __init__(self, at: tuple[str | int, ...], message: str, *, key: bool = False) -> None:
        super().__init__(message)
        self.at = at
        self.key = key


_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")


def no_control(value: str, what: str) -> str:
    """GCS object names, URLs and request fields hold no line breaks or control characters."""
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(f"expected {what} without line breaks or control characters, got "
                         f"{value!r} (it holds {found.group()!r})")
    return value


_Requirements = TypeVar("_Requirements", list[str], list[str] | None)


def requirements_one_line(value: _Requirements) -> _Requirements:
    """Each pip requirement on one line, an error at the item that is not (trainer and build
    requirements alike)."""
    for i, req in enumerate(value or []):
        try:
            no_control(req, "a pip requirement")
        except ValueError as exc:
            raise FieldError((i,), str(exc)) from None
    return value


def job_dir_problem(job_dir: str, bucket: str, name: str) -> str | None:
    """Why a cloud ``job_dir`` is not inside gs://BUCKET/NAME/, the folder the name's claim
    protects, or None."""
    claimed = f"gs://{bucket}/{name}"
    inside = job_dir == claimed or job_dir.startswith(claimed + "/")
    rest = job_dir[len(claimed):].split("/") if inside else []
    if inside and not any(part in (".", "..") for part in rest):
        return None
    return (f"expected a folder inside {claimed}/, the folder that the claim on the job name "
            f"protects, got {job_dir!r}: another job could write there. Write "
            "gs://${bucket}/${name} or a folder under it, or set job_dir_outside_claim: true "
            "to write outside it knowingly")


def key_pattern(regex: re.Pattern[str]) -> str:
    """A key's pattern as JSON Schema states it: anchored (JSON Schema searches)."""
    return f"^(?:{regex.pattern})$"


def value_pattern(regex: re.Pattern[str]) -> str:
    """A value's pattern: the file may hold a ${...} there, checked once interpolated."""
    return f"^(?:{regex.pattern})$|\\$\\{{"


def _schema(regex: re.Pattern[str] | None = None, **more: Any) -> Any:
    """What editors show beside a value: the rule's pattern and limits. Validation itself runs
    the same compiled pattern with fullmatch, for the exact message (validation.py)."""
    extra: dict[str, Any] = {"pattern": value_pattern(regex)} if regex is not None else {}
    extra.update(more)
    return Field(json_schema_extra=extra)


def _job_name(value: str) -> str:
    if len(value) > 128:
        raise ValueError(f"a job name has at most 128 characters, got {len(value)}")
    if not NAME_RE.fullmatch(value):  # match() lets a trailing newline through
        raise ValueError(
            f"expected a letter, then letters, digits or underscores, at most 128 "
            f"characters, got {value!r}"
        )
    return value


def _module(value: str) -> str:
    if not MODULE_RE.fullmatch(value):
        raise ValueError(f"expected a dotted Python module name like trainer.task, got {value!r}")
    return value


def _bucket(value: str) -> str:
    if value.startswith("gs://"):
        raise ValueError(f"expected a bucket name without gs://, got {value!r}")
    problem = bucket_problem(value)
    if problem is not None:
        raise ValueError(f"{value!r} is not a valid bucket name: {problem}")
    return value


def _region(value: str) -> str:
    if not REGION_RE.fullmatch(value):
        raise ValueError(f"expected a region like us-central1, got {value!r}")
    return value


def _env_name(value: str) -> str:
    if not ENV_NAME_RE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid environment variable name")
    return value


# The constrained types: the spec's models, `init` and `import` check values with these
# (``problem()``), and their patterns are in the JSON Schema.
JobName = Annotated[str, AfterValidator(_job_name), _schema(NAME_RE, maxLength=128)]
ModuleName = Annotated[str, AfterValidator(_module), _schema(MODULE_RE)]
# the ban on 'goog'/'google' and on IP addresses is beyond a JSON Schema pattern: bucket_problem
BucketName = Annotated[str, AfterValidator(_bucket),
                       _schema(BUCKET_RE, minLength=3, maxLength=222)]
Region = Annotated[str, AfterValidator(_region), _schema(REGION_RE)]
EnvName = Annotated[str, AfterValidator(_env_name), _schema(ENV_NAME_RE)]
_ADAPTERS: dict[Any, Any] = {}


def problem(rule: Any, value: str) -> str | None:
    """What the spec says is wrong with ``value`` as a ``rule`` (JobName, BucketName...), or
    None. The adapter is built on first use: most commands check no single value."""
    from pydantic import TypeAdapter, ValidationError

    adapter = _ADAPTERS.get(rule)
    if adapter is None:
        adapter = _ADAPTERS[rule] = TypeAdapter(rule, config=ConfigDict(strict=True))
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        return str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
    return None


class Model(BaseModel):
    # strict: YAML already gives real types, so "1" must not silently become 1
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _stringify(value: Any) -> Any:
    """Args and env values are strings to the trainer; YAML may read `4` or `true`."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


Args = Annotated[
    list[str],
    Field(description="Arguments passed to the trainer as written, never parsed by jobspec."),
]
Env = Annotated[
    dict[str, str],
    Field(description="Extra environment variables for the trainer.",
          json_schema_extra={"propertyNames": {"pattern": key_pattern(ENV_NAME_RE)}}),
]


class ArgsEnv(Model):
    @field_validator("args", mode="before", check_fields=False)
    @classmethod
    def _args_as_strings(cls, value: Any) -> Any:
        return [_stringify(v) for v in value] if isinstance(value, list) else value

    @field_validator("env", mode="before", check_fields=False)
    @classmethod
    def _env_as_strings(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: _stringify(v) for k, v in value.items()}
        return value

    @field_validator("env", check_fields=False)
    @classmethod
    def _env_names(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not ENV_NAME_RE.fullmatch(key):
                raise FieldError((key,), f"{key!r} is not a valid environment variable name",
                                 key=True)
        return value


def exact_relative_path(path: str) -> str:
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise ValueError(
            f"{path!r} is not an exact path relative to the package's parent folder "
            "(expected e.g. trainer/keys/test_key.pem, as `jobspec plan` names it)"
        )
    return path


class Distributed(Model):
    workers: int = Field(default=0, ge=0, le=64, description="Number of worker processes.")
    parameter_servers: int = Field(default=0, ge=0, le=64, description="Number of ps processes.")
    evaluators: int = Field(default=0, ge=0, le=8, description="Number of evaluator processes.")
    start_port: int = Field(
        default=27182, ge=1024, le=65000, description="First port; tasks use consecutive ports."
    )


class Accelerator(Model):
    type: str = Field(description="Accelerator type, e.g. NVIDIA_TESLA_T4.",
                      json_schema_extra={"pattern": value_pattern(ACCELERATOR_RE)})
    count: int = Field(default=1, ge=1, le=16, description="Accelerators per machine.")

    @field_validator("type")
    @classmethod
    def _upper(cls, value: str) -> str:
        if not ACCELERATOR_RE.fullmatch(value):
            raise ValueError(f"expected an accelerator type like NVIDIA_TESLA_T4, got {value!r}")
        return value


class Pool(Model):
    machine_type: str | None = Field(
        default=None,
        description="Compute Engine machine type (n1-standard-4) or a legacy name (standard, "
        "large_model, complex_model_s/m/l, standard_gpu).",
    )
    count: int = Field(default=1, ge=0, le=1000, description="Number of replicas.")
    accelerator: Accelerator | None = Field(default=None, description="GPUs per replica.")


# a container image reference: [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST], lowercase path
IMAGE_RE = re.compile(
    r"(?:[a-z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[0-9a-f]{64})?")
# a Debian package name (apt-get install NAME), optionally =VERSION
APT_PACKAGE_RE = re.compile(r"[a-z0-9][a-z0-9+.-]+(?:=[A-Za-z0-9.+:~-]+)?")
AR_REPOSITORY_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")


def image_problem(value: str) -> str | None:
    """What a container image reference must be and ``value`` is not, or None."""
    if not IMAGE_RE.fullmatch(value):
        return ("expected a container image like python:3.11-slim or "
                "us-docker.pkg.dev/PROJECT/REPO/NAME:TAG (lowercase path, optional :TAG or "
                "@sha256:DIGEST)")
    return None


def _image(value: str) -> str:
    found = image_problem(value)
    if found is not None:
        raise ValueError(f"{found}, got {value!r}")
    return value


Image = Annotated[str, AfterValidator(_image)]


class Build(Model):
    """A dependencies image built by Cloud Build: the base image plus the requirements and system
    packages; the trainer's code is never baked in (it arrives as the staged sdist)."""

    base: Image = Field(description="Base image with python3 and pip, e.g. python:3.11-slim.")
    requirements: list[str] | None = Field(
        default=None,
        description="pip requirements baked into the image; default: trainer.requirements.")
    system_packages: list[str] = Field(
        default_factory=list, description="Debian packages installed with apt-get.",
        json_schema_extra={"items": {"type": "string",
                                     "pattern": value_pattern(APT_PACKAGE_RE)}})
    repository: str = Field(
        default="jobspec",
        description="Artifact Registry Docker repository in the target's project and region.",
        json_schema_extra={"pattern": value_pattern(AR_REPOSITORY_RE)})

    @field_validator("requirements")
    @classmethod
    def _one_line_requirements(cls, value: list[str] | None) -> list[str] | None:
        return requirements_one_line(value)

    @field_validator("system_packages")
    @classmethod
    def _apt_names(cls, value: list[str]) -> list[str]:
        for i, name in enumerate(value):
            if not APT_PACKAGE_RE.fullmatch(name):
                raise FieldError((i,), f"expected a Debian package name like libgomp1, got "
                                 f"{name!r}")
        return value

    @field_validator("repository")
    @classmethod
    def _repository(cls, value: str) -> str:
        if not AR_REPOSITORY_RE.fullmatch(value):
            raise ValueError("expected an Artifact Registry repository id: a lowercase letter, "
                             f"then lowercase letters, digits and '-', got {value!r}")
        return value


class ToolSettings(BaseModel):
    """``[tool.jobspec]`` in pyproject.toml (project.py reads it)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    default_spec: str | None = Field(
        default=None, alias="default-spec",
        description="The spec that commands use when none is given, relative to pyproject.toml.",
    )
    runtimes: dict[str, str] = Field(
        default_factory=dict,
        description="More runtime versions: version -> image URI. A container image (e.g. "
        "tensorflow/tensorflow:2.20.0) runs the staged package through jobspec's launcher "
        "(containerSpec); one of Google's prebuilt training images runs it with "
        "pythonPackageSpec.",
    )
