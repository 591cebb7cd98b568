"""The plan types, and plans as data: light (no YAML, no pydantic), so that a cached or
written plan can be executed without loading the validator (jobspec/fastpath.py).

A plan is complete and frozen: executing it needs nothing from the planner. A cloud plan whose
name gets a suffix at submission (`name_suffix: counter|timestamp`) is made with a marker in
place of the suffix, wherever the name appears (the request body, job_dir, the gcloud line);
the executor picks the suffix and calls `with_suffix`, a pure function of the plan.

As data (`plan --out`, the plan cache), a plan holds no secret value: each is replaced by a
token naming the environment variable it came from, read again when the plan is loaded
(`load_plan` refuses when it is not set). A secret that did not come from an environment
variable (written in the spec or given with --set) cannot be carried: `dump_plan` refuses.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobspec import __version__
from jobspec.errors import UsageError
from jobspec.secrets import Secrets, is_secret_name

if TYPE_CHECKING:  # packaging (and pathspec) load only when a plan needs an sdist
    from jobspec.context import CloudContext
    from jobspec.imagebuild import ImageBuild
    from jobspec.package import Package

LABEL_NAME = "jobspec-name"
LABEL_SUBMISSION = "jobspec-submission"
FORMAT = 1  # the version of a plan file's layout
# Stands for the suffix picked at submission; lowercase, as labels and bucket names must be.
NAME_MARKER = "__jsx0"
MODES = ("container", "command", "python-package")  # CloudPlan.mode


@dataclass(frozen=True)
class Process:
    task: str  # "chief-0", "worker-1", ...
    argv: tuple[str, ...]
    cwd: str | None  # None: a fresh empty folder, made when the run starts (isolated mode)
    env: dict[str, str]  # added to os.environ


@dataclass(frozen=True)
class LocalPlan:
    name: str
    target: str
    spec_path: str
    project_root: str
    module: str
    package_path: str
    python: str
    python_from: str  # "`python` on PATH", "targets.T.python", ...
    job_dir: str | None
    isolated: bool
    processes: tuple[Process, ...]
    package: Package | None  # isolated mode installs this sdist
    requirements: tuple[str, ...]
    secrets: tuple[str, ...]
    warnings: tuple[str, ...]
    fingerprint: str
    kind: str = "local"
    secret_values: tuple[str, ...] = ()  # masked in every output (jobspec/secrets.py)
    env_read: tuple[str, ...] = ()  # environment variables the spec read (names only)
    # the sdist's copy laid out like /gcs/BUCKET/PREFIX/packages/SHA/FILE under .jobspec/gcs/
    # (--isolated, --container), and under --container (cloud target, image): jobspec/container.py
    staged_sdist: str | None = None
    container: tuple[str, ...] = ()


@dataclass(frozen=True)
class CloudPlan:
    name: str
    target: str
    spec_path: str
    project_root: str
    project: str
    region: str
    bucket: str
    job_dir: str
    endpoint: str
    parent: str  # projects/P/locations/R
    body: dict[str, Any]  # the CustomJob request body, exactly as sent
    # The sdist staged at staging_uri; None in "command" mode (the image holds the trainer:
    # nothing is built, staged or uploaded)
    package: Package | None
    staging_uri: str | None
    image: str  # the image every pool runs (in "python-package" mode, the executor image)
    # "container": containerSpec, the launcher installs the staged sdist and runs the module;
    # "command": containerSpec, the target's own command; "python-package": pythonPackageSpec
    mode: str
    build: ImageBuild | None  # the dependencies image to build first (`build:`), else None
    submission_id: str
    name_suffix: str
    pools: tuple[str, ...]  # human-readable pool shapes, for `plan`
    gcloud: tuple[str, ...]
    secrets: tuple[str, ...]
    warnings: tuple[str, ...]
    fingerprint: str
    kind: str = "cloud"
    secret_values: tuple[str, ...] = ()  # masked in every output (jobspec/secrets.py)
    env_read: tuple[str, ...] = ()  # environment variables the spec read (names only)
    name_marker: str = ""  # NAME_MARKER when the suffix is picked at submission, else ""
    context: CloudContext | None = None  # where project, region and endpoints came from
    # A tuning study (`tuning:`): {"studySpec", "maxTrialCount", "parallelTrialCount",
    # "maxFailedTrialCount"}. Set: the job is a HyperparameterTuningJob whose trialJobSpec is
    # body["jobSpec"] exactly (request_body); None: the CustomJob `body`.
    study: dict[str, Any] | None = None


@dataclass(frozen=True)
class GroupPlan:
    """A matrix sweep: one plan per member, all local or all cloud."""

    group: str
    members: tuple[LocalPlan, ...] | tuple[CloudPlan, ...]
    kind: str = "group"

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(w for m in self.members for w in m.warnings))


AnyPlan = LocalPlan | CloudPlan | GroupPlan


CUSTOM_JOBS = "customJobs"
TUNING_JOBS = "hyperparameterTuningJobs"


def collection(plan: CloudPlan) -> str:
    """The Vertex collection the plan's job is created in."""
    return CUSTOM_JOBS if plan.study is None else TUNING_JOBS


def request_body(plan: CloudPlan) -> dict[str, Any]:
    """The create request exactly as sent: the CustomJob body, or for a study the
    HyperparameterTuningJob whose trialJobSpec is that body's jobSpec, with its display name,
    labels (the submission label included) and encryption."""
    if plan.study is None:
        return plan.body
    body = plan.body
    tuning: dict[str, Any] = {"displayName": body["displayName"]}
    if "labels" in body:
        tuning["labels"] = body["labels"]
    tuning.update(plan.study)
    tuning["trialJobSpec"] = body["jobSpec"]
    if "encryptionSpec" in body:
        tuning["encryptionSpec"] = body["encryptionSpec"]
    return tuning


def label_value(text: str) -> str:
    """A GCP label value: lowercase letters, digits, '_' and '-', at most 63 characters."""
    lowered = text.lower()
    return "".join(c if c.isascii() and (c.isalnum() or c in "_-") else "-" for c in lowered)[:63]


def gcloud_text(cmd: Sequence[str]) -> str:
    """The command as one would type it: the verb on the first line, one flag per line."""
    first = next((i for i, part in enumerate(cmd) if part.startswith("--")), len(cmd))
    head = " ".join(shlex.quote(part) for part in cmd[:first])
    flags = [shlex.quote(part) for part in cmd[first:]]  # in order: a quoted flag stays put
    return " \\\n    ".join([head, *flags])


def base_name(plan: CloudPlan) -> str:
    return plan.name.removesuffix(plan.name_marker) if plan.name_marker else plan.name


def with_suffix(plan: CloudPlan, suffix: str) -> CloudPlan:
    """The plan for the final name BASE + suffix ("" for the base name itself): the marker
    replaced wherever the name went, and the name label made again from the final name."""
    if not plan.name_marker:
        return plan
    marker = plan.name_marker

    def swap(value: Any) -> Any:
        if isinstance(value, str):
            return value.replace(marker, suffix)
        if isinstance(value, dict):
            return {swap(k): swap(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return type(value)(swap(v) for v in value)
        return value

    changes = {f.name: swap(getattr(plan, f.name)) for f in dataclasses.fields(plan)
               if f.name not in ("package", "build", "name_marker", "secret_values",
                                 "submission_id")}
    final = str(changes["name"])
    body = changes["body"]
    body["labels"] = {**body.get("labels", {}), LABEL_NAME: label_value(final)}
    gcloud = tuple(_relabel(word, final) for word in changes["gcloud"])
    return dataclasses.replace(plan, **{**changes, "gcloud": gcloud, "name_marker": ""})


def _relabel(word: str, final: str) -> str:
    if not word.startswith("--labels="):
        return word
    pairs = [p.partition("=") for p in word.removeprefix("--labels=").split(",")]
    return "--labels=" + ",".join(
        f"{k}={label_value(final) if k == LABEL_NAME else v}" for k, _, v in pairs)


# ---- plans as data -------------------------------------------------------------------------

_TOKEN = re.compile("\0([0-9]+)\\.([0-9])\0")


def _forms(value: str) -> list[str]:
    """A value as written raw, and inside JSON text (TF_CONFIG, the request body)."""
    return [value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]]


def _secret_env(plan: LocalPlan | CloudPlan, env: Mapping[str, str]) -> list[str]:
    """The environment variables whose values are secrets of the plan (or inside one)."""
    raw = [v for v in plan_secrets(plan).values if "\0" not in v]
    return sorted(n for n in plan.env_read
                  if len(env.get(n, "")) >= 8 and any(env[n] in v for v in raw))


def _walk(data: Any, change: Any) -> Any:
    if isinstance(data, str):
        return change(data)
    if isinstance(data, dict):
        return {_walk(k, change): _walk(v, change) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, change) for v in data]
    return data


def _to_data(plan: Any) -> Any:
    if isinstance(plan, GroupPlan):
        return {"kind": "group", "group": plan.group,
                "members": [_to_data(m) for m in plan.members]}
    out: dict[str, Any] = {}
    for f in dataclasses.fields(plan):
        value = getattr(plan, f.name)
        if f.name == "processes":
            value = [{"task": p.task, "argv": list(p.argv), "cwd": p.cwd, "env": dict(p.env)}
                     for p in value]
        elif f.name == "package" and value is not None:
            import base64

            value = {**{g.name: getattr(value, g.name) for g in dataclasses.fields(value)},
                     "data": base64.b64encode(value.data).decode("ascii"),
                     "files": list(value.files),
                     "excluded": [[e.path, e.reason] for e in value.excluded]}
        elif f.name == "context" and value is not None:
            value = {g.name: (list(v) if isinstance(v := getattr(value, g.name), tuple) else v)
                     for g in dataclasses.fields(value)}
        elif f.name == "build" and value is not None:
            value = {**{g.name: getattr(value, g.name) for g in dataclasses.fields(value)},
                     "files": [list(pair) for pair in value.files]}
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def dump_plan(plan: AnyPlan, env: Mapping[str, str] | None = None) -> str:
    """The plan as versioned JSON text, with each secret replaced by a token naming the
    environment variable to read it from again; UsageError when a secret has no such source."""
    env = os.environ if env is None else env
    members = plan.members if isinstance(plan, GroupPlan) else (plan,)
    names = sorted({n for m in members for n in _secret_env(m, env)})
    data = _to_data(plan)
    for index, name in enumerate(names):
        value = env[name]
        for number, form in sorted(enumerate(_forms(value)), key=lambda f: -len(f[1])):
            token = f"\0{index}.{number}\0"
            data = _walk(data, lambda s, form=form, token=token: s.replace(form, token))
    strings: list[str] = []

    def keep(text: str) -> str:
        strings.append(text)
        return text

    _walk(data, keep)
    for member in members:
        values = plan_secrets(member).values
        if any(v in s for s in strings for v in values):
            raise UsageError(
                f"plan {member.name!r} holds a secret that is not the value of an "
                "environment variable (written in the spec or given with --set): a plan "
                "cannot be written with it, and must not hold it",
                hint="give the secret through an environment variable, read with ${VAR}")
    return json.dumps({"jobspec_plan": FORMAT, "jobspec_version": __version__,
                       "secret_env": names, "plan": data},
                      indent=1, sort_keys=True) + "\n"


class BadPlan(UsageError):
    pass


def load_plan(text: str | bytes, where: str, env: Mapping[str, str] | None = None) -> AnyPlan:
    """A plan from dump_plan's text, its secrets read again from the environment. BadPlan
    (exit 2) for a file of another jobspec version, a missing variable, or anything else."""
    env = os.environ if env is None else env
    try:
        outer = json.loads(text)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadPlan(f"{where}: not a plan file jobspec wrote (not JSON: {exc})") from None
    if not isinstance(outer, dict) or outer.get("jobspec_plan") != FORMAT:
        raise BadPlan(f"{where}: not a plan file jobspec wrote (no 'jobspec_plan': {FORMAT})")
    if not isinstance(outer.get("jobspec_version"), str) or not isinstance(outer.get("plan"),
                                                                            dict):
        raise BadPlan(f"{where}: not a plan file jobspec wrote (no version or no plan)")
    if outer.get("jobspec_version") != __version__:
        raise BadPlan(f"{where}: written by jobspec {outer.get('jobspec_version')!r}; this is "
                      f"jobspec {__version__}, which may plan differently",
                      hint="make the plan again with this jobspec (`jobspec plan --out`)")
    names = outer.get("secret_env")
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise BadPlan(f"{where}: not a plan file jobspec wrote (bad 'secret_env')")
    missing = [n for n in names if not env.get(n)]
    if missing:
        raise BadPlan(f"{where}: the plan reads its secrets from the environment, and "
                      f"{', '.join(missing)} is not set",
                      hint="set it as it was when the plan was made")

    def restore(text: str) -> str:
        def one(match: re.Match[str]) -> str:
            index, number = int(match.group(1)), int(match.group(2))
            if index >= len(names) or number >= 3:
                raise ValueError("a secret token names no variable")
            return _forms(env[names[index]])[number]
        return _TOKEN.sub(one, text)

    try:
        data = _walk(outer["plan"], restore)
        return _from_data(data)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BadPlan(f"{where}: not a plan file jobspec wrote ({type(exc).__name__}: {exc})"
                      ) from None


def _check(value: Any, kind: str, name: str) -> Any:
    """Each field as its annotation says, or ValueError: an edited file must not reach an
    executor as a wrong type."""
    ok = {"str": lambda v: isinstance(v, str), "bool": lambda v: isinstance(v, bool),
          "str | None": lambda v: v is None or isinstance(v, str),
          "tuple[str, ...]": lambda v: isinstance(v, list) and all(isinstance(x, str)
                                                                   for x in v),
          "dict[str, Any]": lambda v: isinstance(v, dict)}.get(kind)
    if ok is not None and not ok(value):
        raise ValueError(f"{name!r} is not a {kind}")
    return tuple(value) if kind == "tuple[str, ...]" else value


def _strs(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                              for k, v in value.items()):
        raise ValueError(f"{name!r} is not a mapping of strings")
    return value


def _from_data(data: Any) -> AnyPlan:
    if not isinstance(data, dict):
        raise ValueError("a plan is a mapping")
    kind = data.get("kind")
    if kind == "group":
        members = tuple(_from_data(m) for m in data["members"])
        if not members or any(isinstance(m, GroupPlan) for m in members) or len(
                {m.kind for m in members}) != 1:
            raise ValueError("a group holds local or cloud plans, all of one kind")
        return GroupPlan(group=_check(data["group"], "str", "group"),
                         members=members)  # type: ignore[arg-type]
    cls: type[LocalPlan] | type[CloudPlan] = {"local": LocalPlan, "cloud": CloudPlan}[str(kind)]
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        value: Any = data.get(f.name) if f.name == "study" else data[f.name]
        if f.name == "processes":
            value = tuple(Process(task=_check(p["task"], "str", "task"),
                                  argv=_check(p["argv"], "tuple[str, ...]", "argv"),
                                  cwd=_check(p["cwd"], "str | None", "cwd"),
                                  env=_strs(p["env"], "env")) for p in value)
            if not value:
                raise ValueError("a local plan runs at least one process")
        elif f.name == "package":
            value = None if value is None else _package(value)
        elif f.name == "context":
            value = None if value is None else _context(value)
        elif f.name == "build":
            value = None if value is None else _build(value)
        elif f.name == "study":
            value = data.get("study")  # absent from a plan written before studies
            if value is not None and not isinstance(value, dict):
                raise ValueError("'study' is not a mapping")
        elif f.name == "mode":
            value = _check(value, "str", "mode")
            if value not in MODES:
                raise ValueError(f"'mode' is not one of {', '.join(MODES)}")
        else:
            value = _check(value, str(f.type), f.name)
        values[f.name] = value
    return cls(**values)


def _package(data: dict[str, Any]) -> Package:
    import base64

    from jobspec.package import Package
    from jobspec.package_tree import Excluded

    return Package(filename=_check(data["filename"], "str", "filename"),
                   data=base64.b64decode(data["data"], validate=True),
                   sha256=_check(data["sha256"], "str", "sha256"),
                   md5_b64=_check(data["md5_b64"], "str", "md5_b64"), size=int(data["size"]),
                   files=_check(data["files"], "tuple[str, ...]", "files"),
                   excluded=tuple(Excluded(str(p), str(r)) for p, r in data["excluded"]),
                   build=_check(data["build"], "str", "build"))


def _build(data: dict[str, Any]) -> ImageBuild:
    from jobspec.imagebuild import ImageBuild

    values: dict[str, Any] = {}
    for f in dataclasses.fields(ImageBuild):
        if f.name == "files":
            files = data["files"]
            if not isinstance(files, list) or not all(
                    isinstance(p, list) and len(p) == 2 and all(isinstance(x, str) for x in p)
                    for p in files):
                raise ValueError("'files' is not a list of (name, text) pairs")
            values["files"] = tuple((name, text) for name, text in files)
        else:
            values[f.name] = _check(data[f.name], "str", f.name)
    return ImageBuild(**values)


def _context(data: dict[str, Any]) -> Any:
    from jobspec.context import CloudContext

    values = {}
    for f in dataclasses.fields(CloudContext):
        value = data[f.name]
        values[f.name] = _check(value, str(f.type), f.name)
    return CloudContext(**values)


def secret_values(env: Mapping[str, str], extra: Iterable[str] = ()) -> list[str]:
    """Values of env entries with secret names (Secrets.of keeps those long enough to mask)."""
    extra = tuple(extra)
    return sorted({v for k, v in env.items() if is_secret_name(k, extra) and v}, key=len,
                  reverse=True)


def plan_secrets(plan: LocalPlan | CloudPlan) -> Secrets:
    """Everything secret in the plan: its secret values, and the values of env entries with
    secret names (also for a plan made without secret_values)."""
    env: dict[str, str] = {}
    if isinstance(plan, LocalPlan):
        for proc in plan.processes:
            env.update(proc.env)
    else:
        for pool in plan.body["jobSpec"]["workerPoolSpecs"]:
            for item in pool_spec(pool).get("env", []):
                env[item["name"]] = item["value"]
    return Secrets.of((*plan.secret_values, *secret_values(env, plan.secrets)))


def pool_spec(pool: dict[str, Any]) -> dict[str, Any]:
    """A worker pool's containerSpec or pythonPackageSpec ({} for a placeholder pool): where
    its args and env are, whatever the mode."""
    found: dict[str, Any] = pool.get("containerSpec") or pool.get("pythonPackageSpec") or {}
    return found


# the file the gcloud line reads the job's CustomJobSpec from, when flags cannot say it
GCLOUD_CONFIG = "custom_job_spec.yaml"


def repeated_items(run: Mapping[str, Any]) -> list[str]:
    """Items given twice in a pool's args or command: gcloud 528's --args and --command
    (arg_parsers.UpdateAction) refuse them ("cannot be specified multiple times"), so the
    gcloud line passes the request's jobSpec with --config instead."""
    found: list[str] = []
    for key in ("args", "command"):
        items = list(run.get(key) or [])
        found += [x for i, x in enumerate(items) if x in items[:i] and x not in found]
    return found
