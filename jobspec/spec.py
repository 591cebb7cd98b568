"""The spec's schema: every model, every rule, every description. The only schema there is.

The loader hands these models plain data that it has already interpolated, with each target's
``kind`` filled in and ``extends`` resolved; the models only check and describe it. Rules for
single values are in spectypes.py; ``__all__`` exports again the ones imported from here.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator

from jobspec.joboptions import (
    BootDisk,
    ContextName,
    IpRangeName,
    KmsKey,
    MachinePool,
    PersistentResourceId,
    PscInterface,
    Reservation,
    Scheduling,
    Tensorboard,
    check_target,
    timeout_seconds,
)
from jobspec.spectypes import (
    DURATION_RE,
    LABEL_KEY_RE,
    LABEL_VALUE_RE,
    MATRIX_KEY_RE,
    NAME_RE,
    NETWORK_RE,
    PROJECT_RE,
    REGION_RE,
    SERVICE_ACCOUNT_RE,
    TARGET_NAME_RE,
    VERSION_RE,
    Args,
    ArgsEnv,
    BucketName,
    Build,
    Distributed,
    Env,
    EnvName,
    FieldError,
    Image,
    JobName,
    Model,
    ModuleName,
    Pool,
    Region,
    ToolSettings,
    bucket_problem,
    exact_relative_path,
    job_dir_problem,
    key_pattern,
    no_control,
    problem,
    requirements_one_line,
    value_pattern,
)
from jobspec.states import DEFAULT_REGION, DEFAULT_SCALE_TIER, ScaleTier
from jobspec.tuning import Tuning, arg_collisions

__all__ = [
    "NAME_RE", "PROJECT_RE", "REGION_RE", "VERSION_RE", "BucketName", "CloudTarget",
    "FieldError", "JobName", "LocalTarget", "ModuleName", "Pool", "Region", "Spec",
    "ToolSettings", "Trainer", "bucket_problem", "job_dir_problem", "json_schema", "problem",
]


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
    allow_credentials: list[Annotated[str, AfterValidator(exact_relative_path)]] = Field(
        default_factory=list,
        description="Files that hold credential material (keys, tokens, .netrc, ...) and must "
        "be packaged anyway, each by its exact path relative to the package's parent folder, "
        "as `jobspec plan` names it, e.g. trainer/keys/test_key.pem. Any other such file stops "
        "the build.",
    )

    @field_validator("requirements")
    @classmethod
    def _one_line_requirements(cls, value: list[str]) -> list[str]:
        return requirements_one_line(value)

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


class _Target(ArgsEnv):
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
    container_from: str | None = Field(
        default=None,
        description="The cloud target whose image and command `--container` runs here; default: "
        "the spec's only cloud target with image, build or runtime_version.",
        json_schema_extra={"pattern": key_pattern(TARGET_NAME_RE)},
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
        json_schema_extra={"pattern": value_pattern(PROJECT_RE)},
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
                                       json_schema_extra={"pattern": value_pattern(VERSION_RE)})
    executor_image: str | None = Field(
        default=None, description="One of Google's prebuilt training images (pythonPackageSpec), "
        "used exactly as given. Prebuilt TensorFlow, PyTorch, scikit-learn and XGBoost images "
        "are past their end of availability: prefer `image`."
    )
    image: Image | None = Field(
        default=None,
        description="Any container image with python3 and pip (Artifact Registry or Docker Hub). "
        "The job installs the staged sdist from its /gcs/ path and runs `python3 -m MODULE` "
        "with the trainer's arguments (containerSpec).",
    )
    command: list[str] | None = Field(
        default=None,
        description="Bring your own image: the command to run in `image`, which already holds "
        "the trainer. Nothing is packaged or staged; the trainer's arguments follow the command.",
        min_length=1,
    )
    build: Build | None = Field(
        default=None,
        description="Build a dependencies image (base + requirements + system packages) with "
        "Cloud Build into Artifact Registry, tagged by its content; the code still arrives as "
        "the sdist.",
    )
    allow_unavailable_image: bool = Field(
        default=False,
        description="Submit even when the image is one jobspec knows is past its end of "
        "availability (a warning instead of an error).",
    )
    scale_tier: ScaleTier = Field(
        default=DEFAULT_SCALE_TIER,
        description="Legacy scale tier, mapped to Vertex worker pools."
    )
    chief: MachinePool | None = Field(
        default=None, description="CUSTOM tier: the chief (master) pool.")
    workers: MachinePool | None = Field(
        default=None, description="CUSTOM tier: the worker pool.")
    parameter_servers: MachinePool | None = Field(
        default=None, description="CUSTOM tier: the ps pool.")
    evaluators: MachinePool | None = Field(
        default=None, description="CUSTOM tier: the evaluator pool.")
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels for the job.",
        json_schema_extra={"propertyNames": {"pattern": key_pattern(LABEL_KEY_RE)},
                           "additionalProperties": {"type": "string",
                                                    "pattern": value_pattern(LABEL_VALUE_RE)}})
    service_account: str | None = Field(default=None, description="Service account to run as.",
                                        json_schema_extra={
                                            "pattern": value_pattern(SERVICE_ACCOUNT_RE)})
    network: str | None = Field(
        default=None, description="VPC network: projects/NUMBER/global/networks/NAME.",
        json_schema_extra={"pattern": value_pattern(NETWORK_RE)},
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

    @field_validator("command")
    @classmethod
    def _one_line_command(cls, value: list[str] | None) -> list[str] | None:
        for i, part in enumerate(value or []):
            if "\x00" in part:
                raise FieldError((i,), "a command argument cannot hold a NUL character")
        return value

    @model_validator(mode="after")
    def _one_image_source(self) -> CloudTarget:
        given = [key for key in ("image", "build", "runtime_version", "executor_image")
                 if getattr(self, key) is not None]
        if not given:
            raise ValueError("a cloud target needs an image: image (any container image with "
                             "python3 and pip), build, runtime_version or executor_image")
        if len(given) > 1:
            raise FieldError((given[1],), f"{given[1]} and {given[0]} both name the image; keep "
                             "one: image (any container), build (an image jobspec builds), "
                             "runtime_version (a framework version) or executor_image (a Google "
                             "prebuilt image)")
        if self.command is not None and self.image is None and self.build is None:
            raise FieldError(("command",), "command runs inside a container image: set image "
                             "(or build) as well")
        return self

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
        return self

    def timeout_seconds(self) -> int | None:
        """scheduling.timeout, else the legacy max_running_time, in seconds."""
        return timeout_seconds(self)

    # The CustomJob options (jobspec/joboptions.py maps them onto the request)
    scheduling: Scheduling | None = Field(
        default=None, description="Scheduling: strategy (ON_DEMAND, SPOT, FLEX_START), max_wait "
        "(FLEX_START), timeout, restart_job_on_worker_restart, disable_retries.")
    boot_disk: BootDisk | None = Field(
        default=None, description="Boot disk of every pool's machines: type and size_gb (a "
        "CUSTOM pool's own boot_disk wins key by key).")
    reservation: Reservation | None = Field(
        default=None, description="Reservation affinity of every pool (a CUSTOM pool's own "
        "reservation replaces it).")
    persistent_resource_id: PersistentResourceId | None = Field(
        default=None, description="Run on the machines of this persistent resource (same "
        "project and region) instead of new ones.")
    reserved_ip_ranges: list[IpRangeName] = Field(
        default_factory=list, description="Names of reserved IP ranges of `network` to deploy "
        "the job in.")
    psc_interface: PscInterface | None = Field(
        default=None, description="Private Service Connect interface: network_attachment, and "
        "dns_peering entries.")
    tensorboard: Tensorboard | None = Field(
        default=None, description="Vertex AI TensorBoard the job uploads its logs to: projects/P/"
        "locations/REGION/tensorboards/ID, or the ID in the target's project and region.")
    experiment: ContextName | None = Field(
        default=None, description="Vertex AI Experiment of the job: a name (in the default "
        "metadata store of the target's project and region) or a resource name.")
    experiment_run: ContextName | None = Field(
        default=None, description="Experiment run of the job (needs experiment): a run name, or "
        "a resource name.")
    enable_web_access: bool = Field(
        default=False, description="Interactive shell into each training container; `status` "
        "shows its URIs while the job runs.")
    enable_dashboard_access: bool = Field(
        default=False, description="Access to a dashboard served by the chief container; "
        "`status` shows its URIs.")
    kms_key: KmsKey | None = Field(
        default=None, description="Customer-managed encryption key (CMEK) for the job: projects/"
        "P/locations/REGION/keyRings/RING/cryptoKeys/KEY, in the job's region.")

    @model_validator(mode="after")
    def _options(self) -> CloudTarget:
        check_target(self)
        return self


Target = Annotated[LocalTarget | CloudTarget, Field(discriminator="kind")]


class Spec(ArgsEnv):
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
    tuning: Tuning | None = Field(
        default=None,
        description="A hyperparameter study (Vertex AI's StudySpec): each trial is a run with "
        "--PARAMETER_ID=VALUE flags appended to its args, as Vertex appends them, reporting its "
        "metric with cloudml-hypertune.",
    )
    targets: dict[str, Target] = Field(
        description="Where to run: --target NAME picks one.", min_length=1,
        json_schema_extra={"propertyNames": {"pattern": key_pattern(TARGET_NAME_RE)}},
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

    @model_validator(mode="after")
    def _tuning_fits(self) -> Spec:
        if self.tuning is None:
            return self
        if self.matrix is not None:
            raise FieldError(("tuning",), "a spec has a matrix or a tuning block, not both: a "
                             "study picks its own values")
        longest = len(f"{self.name}_trial_{self.tuning.max_trial_count}")
        if longest > 128:
            raise FieldError(("name",), f"a study's trials are named NAME_trial_N: keep the "
                             f"name under {128 - longest + len(self.name)} characters")
        found = arg_collisions(self.tuning, self.args, ("args",))
        for key, target in self.targets.items():
            found = found or arg_collisions(self.tuning, target.args, ("targets", key, "args"))
        if found is not None:
            raise found
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
