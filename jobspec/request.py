"""Request → plan → executor.

The command line builds one `Request`; `plan(request)` turns it into complete, frozen data (a
LocalPlan, a CloudPlan or a GroupPlan, jobspec/plandata.py); `execute(plan, options)` carries
it out and returns the exit code. Nothing here keeps state between calls, and this module
itself is light: the planner (YAML, pydantic) loads only when `plan` is called.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.plandata import NAME_MARKER, AnyPlan, CloudPlan, GroupPlan, LocalPlan
from jobspec.studyplan import StudyPlan


@dataclass(frozen=True)
class RunOptions:
    """How to carry a plan out: nothing here changes what the plan is."""

    detach: bool = False  # cloud: return once submitted
    reclaim: bool = False  # cloud: take over this name's failed claim
    cancel_on_interrupt: bool = False  # cloud: Ctrl-C cancels the job
    parallel: int | None = None  # --parallel: a sweep's members (1 when not given) or a
    # study's trials (its parallel_trial_count when not given) at a time


@dataclass(frozen=True)
class Request:
    """Everything the command line said about a job: the only input of planning besides the
    files it names and the environment."""

    spec: str | None  # None: the project's default spec
    target: str | None
    overrides: tuple[str, ...] = ()  # --set KEY.PATH=VALUE, in order
    extra_args: tuple[str, ...] = ()  # after `--`: the trainer's, untouched
    name: str | None = None  # --name
    isolated: bool | None = None  # None: as the target says
    container: bool = False  # local: run the cloud target's container (jobspec/container.py)
    options: RunOptions = RunOptions()

    @property
    def spec_path(self) -> Path:
        from jobspec.project import default_spec

        return Path(self.spec) if self.spec else default_spec(Path.cwd())


def load(request: Request, *, name: str | None = None, strict: bool = True) -> Any:
    """The spec, assembled for the request's target (a jobspec.assemble.Loaded). ``strict``:
    every target is checked, as `validate` does (plan, run); an unset ${VAR} counts only in
    the request's target."""
    from jobspec.loader import load as load_spec
    from jobspec.secrets import is_secret_name, remember

    # a --set of a secret-named key: an error quoting the assignment must not show the value
    remember(value for key, _, value in (s.partition("=") for s in request.overrides)
             if is_secret_name(key.rsplit(".", 1)[-1]))
    return load_spec(request.spec_path, target=request.target, overrides=request.overrides,
                     name=name if name is not None else request.name, strict_all=strict,
                     strict_env=False)


def host() -> Any:
    from jobspec.plan import Host

    return Host(probe=_ask_python)


_TF_DISTS = ("tensorflow", "tensorflow-cpu", "tf-nightly")
# Run by the trainer's interpreter: its version and TensorFlow's, from package metadata (fast;
# gcloud imports tensorflow, which takes seconds).
_PROBE = ("import sys\nfrom importlib import metadata\ntf = '-'\n"
          f"for d in {_TF_DISTS!r}:\n"
          "    try: tf = metadata.version(d); break\n"
          "    except Exception: pass\n"
          "print('%d.%d' % sys.version_info[:2], tf)\n")


def _ask_python(python: str) -> tuple[str | None, str | None]:
    """(Python "X.Y", TensorFlow version) of the interpreter that will run the trainer; None for
    what it cannot tell (gcloud then assumes no TensorFlow too)."""
    if python == sys.executable:
        return f"{sys.version_info.major}.{sys.version_info.minor}", _local_tensorflow()
    import subprocess

    try:
        done = subprocess.run([python, "-c", _PROBE], stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None, None
    words = done.stdout.split()
    if done.returncode != 0 or len(words) != 2:
        return None, None
    return words[0], None if words[1] == "-" else words[1]


def _local_tensorflow() -> str | None:
    from importlib import metadata

    for dist in _TF_DISTS:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def plan(request: Request, loaded: Any = None) -> AnyPlan | StudyPlan:
    """The plan `run` would carry out, or an error (nothing is done)."""
    import uuid

    loaded = loaded if loaded is not None else load(request)
    here = host()
    if loaded.spec.tuning is not None:
        return _plan_study(loaded, request, here)
    if loaded.members:  # each member is a submission of its own, with its own id
        members = tuple(_plan_one(m, request, here, uuid.uuid4().hex[:16], member=True)
                        for m in loaded.members)
        return GroupPlan(group=loaded.group, members=members)  # type: ignore[arg-type]
    return _plan_one(loaded, request, here, uuid.uuid4().hex[:16], member=False)


def _plan_one(loaded: Any, request: Request, here: Any, submission: str, *,
              member: bool) -> LocalPlan | CloudPlan:
    from jobspec import plan as planner
    from jobspec.project import settings

    target = loaded.spec.targets[loaded.target]
    if request.container and target.kind != "local":
        from jobspec.errors import UsageError

        raise UsageError(f"--container runs a cloud target's container on this machine: "
                         f"--target {loaded.target} is a cloud target; name a local one")
    if target.kind == "local":
        return planner.plan_local(loaded, request.extra_args, host=here,
                                  isolated=request.isolated, container=request.container)
    extra = settings(loaded.path.parent).runtimes
    if member or target.name_suffix == "none":
        return planner.plan_cloud(loaded, request.extra_args, submission_id=submission,
                                  host=here, runtime_extra=extra)
    # The suffix is picked at submission: plan with a marker in its place, so the executor
    # can put the final name wherever `${name}` or the name went (plandata.with_suffix).
    marked = load(request, name=loaded.spec.name + NAME_MARKER)
    made = planner.plan_cloud(marked, request.extra_args, submission_id=submission, host=here,
                              runtime_extra=extra)
    return dataclasses.replace(made, name_marker=NAME_MARKER, fingerprint=loaded.fingerprint)


def _plan_study(loaded: Any, request: Request, here: Any) -> StudyPlan | CloudPlan:
    """A spec with a tuning block: on a local target a study whose trials are planned as one
    local run each; on a cloud target the single job's plan whose request becomes a
    HyperparameterTuningJob, its trialJobSpec exactly the job's jobSpec."""
    from jobspec.errors import UsageError
    from jobspec.search import name_seed
    from jobspec.tuning import study_spec, trial_counts, tuned_flag

    tuning = loaded.spec.tuning
    target = loaded.spec.targets[loaded.target]
    if request.container:
        raise UsageError("--container runs one job: a study's trials run as local runs",
                         hint="drop --container (--isolated works)")
    for arg in request.extra_args:
        name = tuned_flag(arg, tuning)
        if name is not None:
            raise UsageError(f"{arg!r} after -- passes --{name}, which the study tunes: each "
                             f"trial gets --{name}=VALUE", hint="drop it from the command line")
    if target.kind != "local":
        import uuid

        job = _plan_one(loaded, request, here, uuid.uuid4().hex[:16], member=False)
        assert isinstance(job, CloudPlan)
        return dataclasses.replace(job, study={"studySpec": study_spec(tuning),
                                               **trial_counts(tuning)})
    run = _plan_one(loaded, request, here, "", member=False)
    assert isinstance(run, LocalPlan)
    seed, seed_from = ((tuning.seed, "tuning.seed") if tuning.seed is not None
                       else (name_seed(loaded.spec.name), "the study's name"))
    notes = tuple(f"tuning.{key} applies on Vertex AI only: local trials run to their end"
                  for key in ("decay_curve_stopping_spec", "median_automated_stopping_spec")
                  if getattr(tuning, key) is not None)
    return StudyPlan(study=loaded.spec.name, run=run, tuning=tuning.model_dump(mode="json"),
                     seed=seed, seed_from=seed_from, notes=notes)


def shown(the_plan: AnyPlan) -> AnyPlan:
    """The plan as `plan` shows it: a name picked at submission shows as the base name."""
    from jobspec.plandata import with_suffix

    if isinstance(the_plan, CloudPlan):
        return with_suffix(the_plan, "")
    return the_plan


def warn(message: str) -> None:
    """`warning: ...` on stderr, through the command's output (jobspec/output.py)."""
    from jobspec.output import current
    from jobspec.secrets import mask

    current().warn(mask(message))


def execute(the_plan: AnyPlan | StudyPlan, options: RunOptions = RunOptions()) -> int:
    """Carry the plan out: its warnings first, then the one executor for its kind."""
    for warning in dict.fromkeys(the_plan.warnings):
        warn(warning)
    if isinstance(the_plan, StudyPlan):
        from jobspec.study import execute_study

        return execute_study(the_plan, options.parallel)
    if isinstance(the_plan, GroupPlan):
        group = the_plan
        local = [m for m in group.members if isinstance(m, LocalPlan)]
        cloud = [m for m in group.members if isinstance(m, CloudPlan)]
        if local:
            from jobspec.sweep import run_local_group

            return _reported(group, lambda: run_local_group(
                group.group, local, parallel=options.parallel or 1))
        from jobspec.cloud.group import submit_group

        return _reported(group, lambda: submit_group(
            group.group, cloud, detach=options.detach, reclaim=options.reclaim))
    if isinstance(the_plan, LocalPlan):
        from jobspec.local import execute as execute_local

        return _reported(the_plan, lambda: execute_local(the_plan))
    from jobspec.cloud.submit import execute as execute_cloud

    return execute_cloud(the_plan, detach=options.detach, reclaim=options.reclaim,
                         cancel_on_interrupt=options.cancel_on_interrupt)


_STATES = {0: "succeeded", 1: "failed", 130: "interrupted"}


def _reported(the_plan: AnyPlan, carry_out: Callable[[], int]) -> int:
    """Run CARRY_OUT; under `run --json`, its outcome as one JSON object on stdout (also when
    it fails: the error then goes to stderr as well, as for every command)."""
    from jobspec.errors import JobspecError
    from jobspec.output import current

    out = current()
    if not out.as_json:
        return carry_out()
    if isinstance(the_plan, GroupPlan):
        data: dict[str, Any] = {"kind": "group", "group": the_plan.group,
                                "members": [m.name for m in the_plan.members]}
    else:
        data = {"kind": the_plan.kind, "name": the_plan.name, "target": the_plan.target}
    try:
        code = carry_out()
    except JobspecError as exc:
        from jobspec.secrets import mask

        out.emit_json({**data, "exit_code": exc.exit_code,
                       "state": _STATES.get(exc.exit_code, "error"),
                       "error": mask(exc.message)})
        raise
    out.emit_json({**data, "exit_code": code, "state": _STATES.get(code, "error")})
    return code


def run(request: Request) -> int:
    """`jobspec run`: plan, then execute."""
    return execute(plan(request), request.options)
