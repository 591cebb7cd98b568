"""The spec's schema: every model, every rule, every description. The only schema there is.

The loader hands these models plain data that it has already interpolated, with each target's
``kind`` filled in and ``extends`` resolved; the models only check and describe it.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from jobspec.states import DEFAULT_REGION, DEFAULT_SCALE_TIER, ScaleTier

# Every pattern here is used with fullmatch: `$` in `re.match` also matches before a trailing
# newline, which let "name\n" through (issue 9). Patterns state the whole value on their own.
NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
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


def job_dir_problem(job_dir: str, bucket: str, name: str) -> str | None:
    """Why a cloud ``job_dir`` is not inside gs://BUCKET/NAME/, the folder the name's claim
    protects (DESIGN.md, "Names"), or None."""
    claimed = f"gs://{bucket}/{name}"
    inside = job_dir == claimed or job_dir.startswith(claimed + "/")
    rest = job_dir[len(claimed):].split("/") if inside else []
    if inside and not any(part in (".", "..") for part in rest):
        return None
    return (f"expected a folder inside {claimed}/, the folder that the claim on the job name "
            f"protects, got {job_dir!r}: another job could write there. Write "
            "gs://${bucket}/${name} or a folder under it, or set job_dir_outside_claim: true "
            "to write outside it knowingly")


def _pattern(regex: re.Pattern[str]) -> str:
    """A key's pattern as JSON Schema states it: anchored (JSON Schema searches)."""
    return f"^(?:{regex.pattern})$"


def _value_pattern(regex: re.Pattern[str]) -> str:
    """A value's pattern: the file may hold a ${...} there, checked once interpolated."""
    return f"^(?:{regex.pattern})$|\\$\\{{"


def _schema(regex: re.Pattern[str] | None = None, **more: Any) -> Any:
    """What editors show beside a value: the rule's pattern and limits. Validation itself runs
    the same compiled pattern with fullmatch, for the exact message (validation.py)."""
    extra: dict[str, Any] = {"pattern": _value_pattern(regex)} if regex is not None else {}
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
          json_schema_extra={"propertyNames": {"pattern": _pattern(ENV_NAME_RE)}}),
]


class _ArgsEnv(Model):
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


def _exact_relative_path(path: str) -> str:
    if path.startswith("/") or "\\" in path or any(p in ("", ".", "..") for p in path.split("/")):
        raise ValueError(
            f"{path!r} is not an exact path relative to the package's parent folder "
            "(expected e.g. trainer/keys/test_key.pem, as `jobspec plan` names it)"
        )
    return path


class Trainer(Model):
    package_path: str = Field(
        description="Folder holding the trainer package (with __init__.py), relative to this "
        "spec file. Its parent is the trainer's working directory in local runs."
    )
    module: ModuleName = Field(
        description="Module to run as `python -m MODULE`, e.g. trainer.task."
    )
    requirements: list[str] = Field(
        default_factory=list,
        description="pip requirements installed with the package (install_requires).",
    )
    allow_outside_repo: bool = Field(
        default=False,
        description="Allow a package_path outside the spec's repository (it will be uploaded).",
    )
    allow_credentials: list[Annotated[str, AfterValidator(_exact_relative_path)]] = Field(
        default_factory=list,
        description="Files that hold credential material (keys, tokens, .netrc, ...) and must "
        "be packaged anyway, each by its exact path relative to the package's parent folder, "
        "as `jobspec plan` names it, e.g. trainer/keys/test_key.pem. Any other such file stops "
        "the build.",
    )

    @field_validator("requirements")
    @classmethod
    def _one_line_requirements(cls, value: list[str]) -> list[str]:
        for i, req in enumerate(value):
            try:
                no_control(req, "a pip requirement")
            except ValueError as exc:
                raise FieldError((i,), str(exc)) from None
        return value

    @field_validator("package_path")
    @classmethod
    def _package_exists(cls, value: str, info: ValidationInfo) -> str:
        base = (info.context or {}).get("base")
        if base is None or "\x00" in value:  # a NUL: the loader reports it, the OS cannot
            return value
        # os.path, and one stat when all is well: this runs once per target of every spec, and
        # pathlib plus a second stat were a fifth of `jobspec validate` (bench/README.md)
        path = os.path.normpath(os.path.join(base, value))
        if os.path.isfile(os.path.join(path, "__init__.py")):
            return value
        if not os.path.isdir(path):
            raise ValueError(f"{value!r} is not a folder (looked for {path})")
        raise ValueError(f"{value!r} is not a Python package: {path} has no __init__.py")


class Distributed(Model):
    workers: int = Field(default=0, ge=0, le=64, description="Number of worker processes.")
    parameter_servers: int = Field(default=0, ge=0, le=64, description="Number of ps processes.")
    evaluators: int = Field(default=0, ge=0, le=8, description="Number of evaluator processes.")
    start_port: int = Field(
        default=27182, ge=1024, le=65000, description="First port; tasks use consecutive ports."
    )


class Accelerator(Model):
    type: str = Field(description="Accelerator type, e.g. NVIDIA_TESLA_T4.",
                      json_schema_extra={"pattern": _value_pattern(ACCELERATOR_RE)})
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


class _Target(_ArgsEnv):
    extends: str | None = Field(
        default=None,
        description="Start from another target of this file, then change what follows.",
    )
    args: Args = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    job_dir: str | None = Field(
        default=None,
        description="Output folder, appended to the trainer's args as --job-dir. Passed as "
        "written; relative paths resolve from the trainer's working directory.",
    )


class LocalTarget(_Target):
    @field_validator("job_dir")
    @classmethod
    def _one_line_job_dir(cls, value: str | None) -> str | None:
        # a path may hold a line break, but in a job_dir it is an accident (a variable that
        # kept the newline of the command that set it), and the trainer gets it as an argument
        return value if value is None else no_control(value, "a folder")

    kind: Literal["local"] = Field(
        default="local", description="local or cloud; defaults to the target's key."
    )
    python: str | None = Field(
        default=None,
        description="Interpreter for the trainer: a name looked up on PATH, or a path relative "
        "to the spec's folder. Defaults to `python` on PATH (then `python3`), as gcloud does.",
    )
    isolated: bool = Field(
        default=False,
        description="Install the package's sdist into a fresh venv and run from an empty folder, "
        "as the cloud does.",
    )
    distributed: Distributed | None = Field(
        default=None, description="Run a chief plus workers, parameter servers and evaluators."
    )

    @field_validator("python")
    @classmethod
    def _one_line_python(cls, value: str | None) -> str | None:
        return value if value is None else no_control(value, "an interpreter path")


class CloudTarget(_Target):
    kind: Literal["cloud"] = Field(
        default="cloud", description="local or cloud; defaults to the target's key."
    )
    project: str | None = Field(
        default=None,
        description="Google Cloud project; else GOOGLE_CLOUD_PROJECT, else CLOUDSDK_CORE_PROJECT, "
        "else the active gcloud configuration's [core] project, else the project of Application "
        "Default Credentials.",
        json_schema_extra={"pattern": _value_pattern(PROJECT_RE)},
    )
    bucket: BucketName = Field(description="GCS bucket for staging, claims and job output.")
    region: Region = Field(default=DEFAULT_REGION, description="Vertex AI region; else "
                           "CLOUDSDK_AI_REGION, else the active gcloud configuration's [ai] "
                           f"region, else {DEFAULT_REGION}.")
    runtime_version: str | None = Field(
        default=None,
        description='Runtime version "X.Y", resolved to a prebuilt image (see `jobspec runtimes`).',
    )
    python_version: str | None = Field(default=None, description='Python version, e.g. "3.10".',
                                       json_schema_extra={"pattern": _value_pattern(VERSION_RE)})
    executor_image: str | None = Field(
        default=None, description="Prebuilt training image URI, used exactly as given."
    )
    scale_tier: ScaleTier = Field(
        default=DEFAULT_SCALE_TIER,
        description="Legacy scale tier, mapped to Vertex worker pools."
    )
    chief: Pool | None = Field(default=None, description="CUSTOM tier: the chief (master) pool.")
    workers: Pool | None = Field(default=None, description="CUSTOM tier: the worker pool.")
    parameter_servers: Pool | None = Field(default=None, description="CUSTOM tier: the ps pool.")
    evaluators: Pool | None = Field(default=None, description="CUSTOM tier: the evaluator pool.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels for the job.",
        json_schema_extra={"propertyNames": {"pattern": _pattern(LABEL_KEY_RE)},
                           "additionalProperties": {"type": "string",
                                                    "pattern": _value_pattern(LABEL_VALUE_RE)}})
    service_account: str | None = Field(default=None, description="Service account to run as.",
                                        json_schema_extra={
                                            "pattern": _value_pattern(SERVICE_ACCOUNT_RE)})
    network: str | None = Field(
        default=None, description="VPC network: projects/NUMBER/global/networks/NAME.",
        json_schema_extra={"pattern": _value_pattern(NETWORK_RE)},
    )
    max_running_time: str | int | None = Field(
        default=None, description='Timeout: seconds, or "90m", "2h", "1d".'
    )
    staging_prefix: str = Field(
        default="jobspec-staging", description="Bucket folder for staged packages."
    )
    name_suffix: Literal["none", "counter", "timestamp"] = Field(
        default="none",
        description="counter: the next free NAME_N; timestamp: NAME_YYYYMMDD_HHMMSS (UTC).",
    )
    job_dir_outside_claim: bool = Field(
        default=False,
        description="Allow a job_dir outside gs://BUCKET/NAME/, the folder the job name's claim "
        "protects: output written elsewhere may be overwritten by, or mixed with, another job's.",
    )

    @field_validator("job_dir")
    @classmethod
    def _gs_job_dir(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith("gs://"):
            raise ValueError(f"a cloud job_dir must be a gs:// path, got {value!r}")
        return value if value is None else no_control(value, "a gs:// path")

    @field_validator("staging_prefix")
    @classmethod
    def _staging_prefix(cls, value: str) -> str:
        return no_control(value, "a bucket folder")

    @field_validator("project")
    @classmethod
    def _project(cls, value: str | None) -> str | None:
        if value is not None and not PROJECT_RE.fullmatch(value):
            raise ValueError(f"expected a project ID like my-project (lowercase letters, digits "
                             f"and '-'), got {value!r}")
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str | None) -> str | None:
        if value is not None and not NETWORK_RE.fullmatch(value):
            raise ValueError("expected a network like projects/NUMBER/global/networks/NAME, got "
                             f"{value!r}")
        return value

    @field_validator("service_account")
    @classmethod
    def _service_account(cls, value: str | None) -> str | None:
        if value is not None and not SERVICE_ACCOUNT_RE.fullmatch(value):
            raise ValueError("expected a service account email like "
                             f"trainer@my-project.iam.gserviceaccount.com, got {value!r}")
        return value

    @field_validator("python_version")
    @classmethod
    def _python_version(cls, value: str | None) -> str | None:
        if value is not None and not VERSION_RE.fullmatch(value):
            raise ValueError(f'expected a Python version like "3.10", got {value!r}')
        return value

    @field_validator("runtime_version", "executor_image")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        # the runtime table judges the value itself, when planning (runtimes.py)
        return value if value is None else no_control(value, "one line")

    @field_validator("labels")
    @classmethod
    def _labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key, val in value.items():
            if not LABEL_KEY_RE.fullmatch(key):
                raise FieldError((key,), f"label key {key!r} must start with a lowercase letter "
                                 "and hold at most 63 lowercase letters, digits, '_' or '-'",
                                 key=True)
            if not LABEL_VALUE_RE.fullmatch(val):
                raise FieldError((key,), f"label value {val!r} may hold at most 63 lowercase "
                                 "letters, digits, '_' or '-'")
        return value

    @field_validator("max_running_time", mode="before")
    @classmethod
    def _duration(cls, value: Any) -> Any:
        # before the str | int union, so a wrong value gets one message instead of one per type
        if value is None:
            return value
        match = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
        seconds = value if isinstance(value, int) and not isinstance(value, bool) else (
            int(match.group(1)) if match else 0)
        if seconds < 1:
            kinds: dict[type, str] = {list: "a list", dict: "a mapping", str: repr(value)}
            shown = kinds.get(type(value), str(value).lower())
            raise ValueError(
                f'expected a number of seconds (at least 1) or a duration like "90m", "2h", '
                f"got {shown}"
            )
        return value

    @field_validator("scale_tier")
    @classmethod
    def _no_tpu_tier(cls, value: str) -> str:
        if value == "BASIC_TPU":
            raise ValueError(
                "BASIC_TPU is not supported: Vertex AI has no equivalent of the legacy TPU tier; "
                "use scale_tier CUSTOM with a TPU machine type"
            )
        return value

    @model_validator(mode="after")
    def _tier_and_runtime(self) -> CloudTarget:
        if self.scale_tier == "CUSTOM":
            if self.chief is None or self.chief.machine_type is None:
                raise ValueError("scale_tier CUSTOM needs chief.machine_type")
        else:
            given = [k for k in ("chief", "workers", "parameter_servers", "evaluators")
                     if getattr(self, k) is not None]
            if given:
                raise ValueError(
                    f"{', '.join(given)} only apply to scale_tier CUSTOM, not {self.scale_tier}"
                )
        if self.runtime_version is None and self.executor_image is None:
            raise ValueError("a cloud target needs runtime_version or executor_image")
        if self.runtime_version is not None and self.executor_image is not None:
            raise ValueError("give runtime_version or executor_image, not both")
        return self

    def timeout_seconds(self) -> int | None:
        if self.max_running_time is None:
            return None
        if isinstance(self.max_running_time, int):
            return self.max_running_time
        match = DURATION_RE.fullmatch(self.max_running_time)
        assert match is not None
        scale = {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]
        return int(match.group(1)) * scale


Target = Annotated[LocalTarget | CloudTarget, Field(discriminator="kind")]


class Spec(_ArgsEnv):
    version: Literal[1] = Field(description="Spec format version; always 1.")
    name: JobName = Field(
        description="Job name: a letter, then letters, digits and underscores; at most 128."
    )
    description: str | None = Field(default=None, description="What this job is for.")
    trainer: Trainer = Field(description="The training package and how to run it.")
    args: Args = Field(default_factory=list)
    env: Env = Field(default_factory=dict)
    extends: str | None = Field(
        default=None,
        description="A base spec file (relative to this one) that this file merges onto: "
        "mappings merge deeply, lists and scalars replace.",
    )
    matrix: dict[str, Any] | None = Field(
        default=None,
        description="A sweep: lists of values per key, plus optional include/exclude lists of "
        "mappings, as in GitHub Actions. One job per combination, named after it (NAME_lr_0p01_"
        "bs_8; a hash is added when a value holds other characters or the name is too long); "
        "use ${matrix.KEY} in args, env and job_dir.",
    )
    secrets: list[EnvName] = Field(
        default_factory=list,
        description="More env names whose values are masked in output and run records.",
    )
    targets: dict[str, Target] = Field(
        description="Where to run: --target NAME picks one.", min_length=1,
        json_schema_extra={"propertyNames": {"pattern": _pattern(TARGET_NAME_RE)}},
    )

    @field_validator("matrix")
    @classmethod
    def _matrix_keys(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key in value or {}:
            if key not in ("include", "exclude") and not MATRIX_KEY_RE.fullmatch(key):
                raise FieldError((key,), f"matrix key {key!r} cannot be used as ${{matrix.KEY}}: "
                                 "expected a letter or '_', then letters, digits, '_' or '-'",
                                 key=True)
        return value

    @model_validator(mode="after")
    def _job_dirs_in_claim(self) -> Spec:
        for key, target in self.targets.items():
            if (isinstance(target, CloudTarget) and target.job_dir is not None
                    and not target.job_dir_outside_claim):
                problem = job_dir_problem(target.job_dir, target.bucket, self.name)
                if problem is not None:
                    raise FieldError(("targets", key, "job_dir"), problem)
        return self

    @field_validator("targets")
    @classmethod
    def _target_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if not TARGET_NAME_RE.fullmatch(key):
                raise FieldError((key,), f"target name {key!r} must be letters, digits, '-' or "
                                 "'_'", key=True)
        return value


def json_schema() -> dict[str, Any]:
    """The JSON Schema editors use. Targets get `anyOf`: `kind` is optional in files."""
    schema = Spec.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = "urn:jobspec:spec:1"  # an identifier, not a URL: nothing is published
    schema["title"] = "jobspec job file"
    targets = schema["properties"]["targets"]["additionalProperties"]
    targets.pop("discriminator", None)
    if "oneOf" in targets:
        targets["anyOf"] = targets.pop("oneOf")
    return schema


class ToolSettings(BaseModel):
    """``[tool.jobspec]`` in pyproject.toml (project.py reads it)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    default_spec: str | None = Field(
        default=None, alias="default-spec",
        description="The spec that commands use when none is given, relative to pyproject.toml.",
    )
    runtimes: dict[str, str] = Field(
        default_factory=dict,
        description="More runtime versions: version -> prebuilt training image URI.",
    )
