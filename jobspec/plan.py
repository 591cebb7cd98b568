"""Spec + target + command-line overrides → a LocalPlan or a CloudPlan: frozen data, no I/O.

Only the spec and the package tree are read (the package to learn its content hash). Anything
that depends on the moment (a submission id, today's date, the host's TensorFlow) comes in as
an argument, so the same inputs always give the same plan.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec import runtimes
from jobspec.assemble import Loaded
from jobspec.errors import UsageError
from jobspec.gcloudline import gcloud_command
from jobspec.joboptions import apply_options

# the plan types live in a light module, for runs from a cached plan (jobspec/fastpath.py)
from jobspec.plandata import (
    LABEL_NAME,
    LABEL_SUBMISSION,
    CloudPlan,
    GroupPlan,
    LocalPlan,
    Process,
    gcloud_text,
    label_value,
)
from jobspec.project import find_root, project_root
from jobspec.spec import CloudTarget, LocalTarget, Pool, Spec, job_dir_problem
from jobspec.timings import mark

__all__ = ["LABEL_NAME", "LABEL_SUBMISSION", "CloudPlan", "GroupPlan", "Host", "LocalPlan",
           "Process", "gcloud_text", "label_value", "plan_cloud", "plan_local"]

if TYPE_CHECKING:
    pass

@dataclass(frozen=True)
class Host:
    """Facts about this machine that a plan depends on, gathered by the caller."""

    python_version: str = f"{sys.version_info.major}.{sys.version_info.minor}"
    tensorflow: str | None = None
    today: date = field(default_factory=date.today)
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    # Asks an interpreter for (its Python "X.Y", its TensorFlow version), as gcloud asks the
    # `python` it will run; None: python_version and tensorflow above describe every one.
    probe: Callable[[str], tuple[str | None, str | None]] | None = None


class _Facts:
    """What the trainer's interpreter is, asked once and only when a plan needs it."""

    def __init__(self, host: Host, python: str) -> None:
        self._host, self._python = host, python
        self._known: tuple[str | None, str | None] | None = None

    def get(self) -> tuple[str | None, str | None]:
        if self._known is None:
            probe = self._host.probe
            self._known = (probe(self._python) if probe is not None
                           else (self._host.python_version, self._host.tensorflow))
        return self._known

    @property
    def python_version(self) -> str | None:
        return self.get()[0]

    @property
    def tensorflow(self) -> str | None:
        return self.get()[1]


def trainer_args(spec: Spec, target: LocalTarget | CloudTarget, extra: Sequence[str],
                 job_dir: str | None) -> list[str]:
    """spec args + target args + args after -- + [--job-dir JOB_DIR], as gcloud builds them."""
    args = [*spec.args, *target.args, *extra]
    if job_dir:
        args += ["--job-dir", job_dir]
    return args


def aip_env(job_dir: str | None) -> dict[str, str]:
    if not job_dir:
        return {}
    base = job_dir.rstrip("/")
    return {"AIP_MODEL_DIR": f"{base}/model/", "AIP_CHECKPOINT_DIR": f"{base}/checkpoints/",
            "AIP_TENSORBOARD_LOG_DIR": f"{base}/logs/"}


def repo_paths_in_args(args: Sequence[str], cwd: Path) -> list[str]:
    """Args naming an existing path relative to the trainer's folder: gone in the cloud."""
    found = []
    for arg in args:
        value = arg.split("=", 1)[1] if arg.startswith("-") and "=" in arg else arg
        if not value or value.startswith(("-", "/", "gs://")) or "://" in value:
            continue
        try:
            if (cwd / value).exists():
                found.append(value)
        except (OSError, ValueError):
            continue
    return found


def _tasks(target: LocalTarget, primary: str) -> list[tuple[str, int, int | None]]:
    dist = target.distributed
    assert dist is not None
    port = dist.start_port
    tasks: list[tuple[str, int, int | None]] = [(primary, 0, port)]
    tasks += [("ps", i, port + 1 + i) for i in range(dist.parameter_servers)]
    first_worker = port + 1 + dist.parameter_servers
    tasks += [("worker", i, first_worker + i) for i in range(dist.workers)]
    tasks += [("evaluator", i, None) for i in range(dist.evaluators)]
    return tasks


def tf_config(module: str, args: Sequence[str], task: tuple[str, int] | None,
              cluster: dict[str, list[str]] | None) -> str:
    """gcloud's TF_CONFIG, key for key (command_lib/ml_engine/local_train.py)."""
    config = {
        "job": {"job_name": module, "args": list(args)},
        "task": {"type": task[0], "index": task[1]} if cluster and task else {},
        "cluster": cluster or {},
        "environment": "cloud",
    }
    return json.dumps(config)


def _cluster_spec(cluster: dict[str, list[str]], primary: str, task: tuple[str, int]) -> str:
    """Vertex's CLUSTER_SPEC: pools by position (chief, workers, ps, evaluators)."""
    pools = {"workerpool0": cluster[primary], "workerpool1": cluster["worker"],
             "workerpool2": cluster["ps"]}
    pool = {primary: "workerpool0", "worker": "workerpool1", "ps": "workerpool2",
            "evaluator": "workerpool3"}[task[0]]
    return json.dumps({"cluster": pools, "environment": "cloud",
                       "task": {"type": pool, "index": task[1]}})


def _drift(spec: Spec, today: date, host: _Facts) -> list[str]:
    """One warning when the trainer's interpreter differs from a cloud target's image, as far
    as the runtime table knows that image's Python and TensorFlow."""
    for name, target in spec.targets.items():
        if not isinstance(target, CloudTarget):
            continue
        try:
            resolved = runtimes.resolve(
                runtime_version=target.runtime_version, executor_image=target.executor_image,
                image=target.image, build_base=target.build.base if target.build else None,
                region=target.region, gpu=False, today=today)
        except runtimes.RuntimeUnavailable:
            continue
        cloud_python = target.python_version or resolved.python_version
        notes = []
        framework = resolved.framework or ""
        if not cloud_python and not framework.startswith("TensorFlow"):
            continue
        if cloud_python and host.python_version and cloud_python != host.python_version:
            notes.append(f"Python {host.python_version} here, {cloud_python} in the cloud")
        if host.tensorflow and framework.startswith("TensorFlow"):
            cloud_tf = framework.split()[-1]
            if not host.tensorflow.startswith(cloud_tf + ".") and host.tensorflow != cloud_tf:
                notes.append(f"TensorFlow {host.tensorflow} here, {cloud_tf} in the cloud")
        if notes:
            return [f"runtime drift against target {name!r}: {'; '.join(notes)}"]
    return []


def trainer_python(loaded: Loaded, env: Mapping[str, str]) -> tuple[str, str]:
    """(interpreter, where it came from): `targets.T.python`, else `python` on PATH as gcloud
    finds it (so an active venv's is used), else `python3`."""
    assert loaded.target is not None
    target = loaded.spec.targets[loaded.target]
    assert isinstance(target, LocalTarget)
    search = env.get("PATH", os.defpath)
    if target.python:
        given = os.path.expanduser(target.python)
        is_path = os.sep in given or bool(os.altsep and os.altsep in given)
        # a path is one jobspec runs: relative to the spec's folder, like package_path
        found = shutil.which(os.path.normpath(loaded.base_dir / given) if is_path else given,
                             path=search)
        if found is None:
            where = "no executable file there" if is_path else "not found on PATH"
            raise loaded.error(("targets", loaded.target, "python"),
                               f"interpreter {target.python!r}: {where}")
        return found, f"targets.{loaded.target}.python"
    for name in ("python", "python3"):
        found = shutil.which(name, path=search)
        if found is not None:
            return found, ("`python` on PATH" if name == "python"
                           else "`python3` on PATH; there is no `python`")
    raise UsageError("no `python` or `python3` on PATH to run the trainer with",
                     hint=f"activate the environment that has the trainer's dependencies, or set "
                     f"targets.{loaded.target}.python")


def plan_local(loaded: Loaded, extra_args: Sequence[str] = (), *, host: Host | None = None,
               isolated: bool | None = None, container: bool = False) -> LocalPlan:
    host = host or Host()
    spec = loaded.spec
    assert loaded.target is not None
    target = spec.targets[loaded.target]
    assert isinstance(target, LocalTarget)
    isolated = not container and (target.isolated if isolated is None else isolated)
    package_dir = (loaded.base_dir / spec.trainer.package_path).resolve()
    cwd = package_dir.parent
    python, python_from = trainer_python(loaded, host.env)
    facts = _Facts(host, python)
    args = trainer_args(spec, target, extra_args, target.job_dir)
    base_env = {**spec.env, **target.env, "CLOUD_ML_JOB_ID": spec.name, **aip_env(target.job_dir)}
    warnings = []
    package = None
    root = project_root(loaded.path)
    if isolated:
        from jobspec.package import build_sdist

        package = build_sdist(package_dir, requirements=spec.trainer.requirements,
                              allow_outside=spec.trainer.allow_outside_repo,
                              allow_credentials=spec.trainer.allow_credentials,
                              repo_root=find_root(loaded.base_dir))
        for path in repo_paths_in_args(args, cwd):
            warnings.append(f"argument names {path!r}, a path in this repo: isolated runs, like "
                            "the cloud, start in an empty folder where it does not exist")
    dist = target.distributed
    processes = []
    run_cwd = None if isolated else str(cwd)
    if dist is None or dist.workers + dist.parameter_servers + dist.evaluators == 0:
        env = {**base_env, "TF_CONFIG": tf_config(spec.trainer.module, args, None, None)}
        processes.append(Process("chief-0", (python, "-m", spec.trainer.module, *args),
                                 run_cwd, env))
    else:
        primary = "master" if (facts.tensorflow or "").startswith("1.") else "chief"
        tasks = _tasks(target, primary)
        cluster: dict[str, list[str]] = {primary: [], "ps": [], "worker": []}
        for kind, _, port in tasks:
            if port is not None:
                cluster[kind].append(f"localhost:{port}")
        for kind, index, _ in tasks:
            env = {**base_env,
                   "TF_CONFIG": tf_config(spec.trainer.module, args, (kind, index), cluster),
                   "CLUSTER_SPEC": _cluster_spec(cluster, primary, (kind, index))}
            processes.append(Process(f"{kind}-{index}", (python, "-m", spec.trainer.module,
                                                         *args), run_cwd, env))
    warnings += _drift(spec, host.today, facts)
    made = LocalPlan(
        name=spec.name, target=loaded.target, spec_path=str(loaded.path),
        project_root=str(root), module=spec.trainer.module, package_path=str(package_dir),
        python=python, python_from=python_from, job_dir=target.job_dir, isolated=isolated,
        processes=tuple(processes),
        package=package, requirements=tuple(spec.trainer.requirements),
        secrets=tuple(spec.secrets), warnings=tuple(warnings), fingerprint=loaded.fingerprint,
        secret_values=_secrets(loaded, {**spec.env, **target.env}, host.env, args),
        env_read=tuple(sorted(loaded.env_read)))
    if not (isolated or container):
        return made
    from jobspec import container as containers  # the cloud's launcher, here

    return (containers.containerized(loaded, made, host.env, host.today) if container
            else containers.isolated(loaded, made))


def _secrets(loaded: Loaded, env_entries: Mapping[str, str], env: Mapping[str, str],
             args: Sequence[str]) -> tuple[str, ...]:
    from jobspec.secrets import plan_secrets

    return plan_secrets(loaded, env_entries, env, [*args, *env_entries.values()])


def _pool_body(shape: runtimes.PoolShape, spec_key: str, run: dict[str, Any]
               ) -> dict[str, Any]:
    machine_spec: dict[str, Any] = {"machineType": shape.machine_type}
    if shape.accelerator_type:
        machine_spec["acceleratorType"] = shape.accelerator_type
        machine_spec["acceleratorCount"] = shape.accelerator_count
    return {"machineSpec": machine_spec, "replicaCount": str(shape.count), spec_key: run}


def _shapes(target: CloudTarget) -> list[runtimes.PoolShape]:
    if target.scale_tier != "CUSTOM":
        return list(runtimes.scale_tier_pools(target.scale_tier))
    shapes = []
    pools: list[tuple[str, Pool | None]] = [
        ("chief", target.chief), ("worker", target.workers),
        ("ps", target.parameter_servers), ("evaluator", target.evaluators)]
    for role, pool in pools:
        if pool is None or pool.count == 0:
            shapes.append(runtimes.PoolShape(role, "", 0))
            continue
        machine, accel, accel_count = runtimes.map_machine_type(pool.machine_type or "standard")
        if pool.accelerator is not None:
            accel, accel_count = pool.accelerator.type, pool.accelerator.count
        count = 1 if role == "chief" else pool.count
        shapes.append(runtimes.PoolShape(role, machine, count, accel, accel_count))
    return shapes


def endpoint(region: str, env: Mapping[str, str]) -> str:
    """The Vertex AI endpoint of REGION (jobspec.context decides)."""
    from jobspec.context import aiplatform_for_env

    return aiplatform_for_env(region, env)


def _image_key(target: CloudTarget) -> tuple[str, ...]:
    """Where the target names its image: the spec line an image error points at."""
    if target.image is not None:
        return ("image",)
    if target.build is not None:
        return ("build", "base")
    return ("runtime_version",) if target.runtime_version is not None else ("executor_image",)


def _run_spec(mode: str, image: str, module: str, staging_uri: str | None,
              command: Sequence[str] | None, args: list[str], env: Mapping[str, str]
              ) -> tuple[str, dict[str, Any]]:
    """(the pool's spec key, the spec): what every pool runs, with the same args and env."""
    run: dict[str, Any]
    if mode == "python-package":
        assert staging_uri is not None
        key, run = "pythonPackageSpec", {"executorImageUri": image, "packageUris": [staging_uri],
                                         "pythonModule": module}
    elif mode == "container":
        from jobspec import launcher

        assert staging_uri is not None
        key, run = "containerSpec", {
            "imageUri": image,
            "command": launcher.command(launcher.gcs_path(staging_uri), module)}
    else:
        assert command is not None
        key, run = "containerSpec", {"imageUri": image, "command": list(command)}
    run["args"] = args
    if env:
        run["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return key, run


def plan_cloud(loaded: Loaded, extra_args: Sequence[str] = (), *, submission_id: str,
               host: Host | None = None, runtime_extra: Mapping[str, str] | None = None
               ) -> CloudPlan:
    host = host or Host()
    spec = loaded.spec
    assert loaded.target is not None
    target = spec.targets[loaded.target]
    assert isinstance(target, CloudTarget)
    from jobspec.cloudwhere import cloud_context

    where = cloud_context(target, host.env)
    project, region = where.require_project(f"target {loaded.target!r}"), where.region
    shapes = _shapes(target)
    gpu = any(s.accelerator_type for s in shapes)
    try:
        resolved = runtimes.resolve(
            runtime_version=target.runtime_version, executor_image=target.executor_image,
            image=target.image, build_base=target.build.base if target.build else None,
            region=region, gpu=gpu, today=host.today, extra=runtime_extra,
            allow_unavailable=target.allow_unavailable_image, refuse_unavailable=True,
            target=loaded.target)
    except runtimes.RuntimeUnavailable as exc:
        raise loaded.error(("targets", loaded.target, *_image_key(target)), exc.message) from None
    image, build = resolved.image_uri, None
    if target.build is not None:
        from jobspec.imagebuild import for_target

        build = for_target(spec, target, project=project, region=region)
        assert build is not None
        image = build.image
    mode = "command" if target.command is not None else resolved.mode
    root = project_root(loaded.path)
    package_dir = (loaded.base_dir / spec.trainer.package_path).resolve()
    mark("plan")  # no-op unless JOBSPEC_TIMINGS is set (bench/submission.py)
    package, staging_uri = None, None
    if mode != "command":  # bring-your-own-image: the image holds the trainer
        from jobspec.package import build_sdist

        package = build_sdist(package_dir, requirements=spec.trainer.requirements,
                              allow_outside=spec.trainer.allow_outside_repo,
                              allow_credentials=spec.trainer.allow_credentials,
                              repo_root=find_root(loaded.base_dir))
        mark("package")
        prefix = target.staging_prefix.strip("/")
        staging_uri = (f"gs://{target.bucket}/{prefix}/packages/{package.sha256}/"
                       f"{package.filename}")
    job_dir = target.job_dir or f"gs://{target.bucket}/{spec.name}"
    args = trainer_args(spec, target, extra_args, job_dir)
    env = {**spec.env, **target.env}
    spec_key, run = _run_spec(mode, image, spec.trainer.module, staging_uri, target.command,
                              args, env)
    pools = [_pool_body(s, spec_key, run) if s.count else {} for s in shapes]
    while pools and not pools[-1]:
        pools.pop()
    job_spec: dict[str, Any] = {"workerPoolSpecs": pools,
                                "baseOutputDirectory": {"outputUriPrefix": job_dir}}
    if target.service_account:
        job_spec["serviceAccount"] = target.service_account
    if target.network:
        job_spec["network"] = target.network
    timeout = target.timeout_seconds()
    if timeout is not None:
        job_spec["scheduling"] = {"timeout": f"{timeout}s"}
    labels = {**target.labels, LABEL_NAME: label_value(spec.name),
              LABEL_SUBMISSION: label_value(submission_id)}
    body = {"displayName": spec.name, "labels": labels, "jobSpec": job_spec}
    body = apply_options(target, body, parent=f"projects/{project}/locations/{region}")
    described = tuple(
        f"{s.role}: {s.count} x {s.machine_type}"
        + (f" + {s.accelerator_count} x {s.accelerator_type}" if s.accelerator_type else "")
        for s in shapes if s.count)
    warnings = list(resolved.warnings)
    if target.job_dir_outside_claim and job_dir_problem(job_dir, target.bucket, spec.name):
        warnings.append(f"job_dir {job_dir} is outside gs://{target.bucket}/{spec.name}/, the "
                        "folder the claim on the job name protects (job_dir_outside_claim: "
                        "true): another job may write to it as well")
    for path in repo_paths_in_args(args, package_dir.parent):
        warnings.append(f"argument names {path!r}, a path in this repo: the cloud job starts in "
                        "an empty folder where it does not exist")
    return CloudPlan(
        name=spec.name, target=loaded.target, spec_path=str(loaded.path),
        project_root=str(root), project=project, region=region, bucket=target.bucket,
        job_dir=job_dir, endpoint=where.aiplatform,
        parent=f"projects/{project}/locations/{region}", body=body, package=package,
        staging_uri=staging_uri, image=image, mode=mode, build=build,
        submission_id=submission_id, name_suffix=target.name_suffix, pools=described,
        gcloud=gcloud_command(body, project, region, mode, shapes),
        secrets=tuple(spec.secrets), warnings=tuple(warnings), fingerprint=loaded.fingerprint,
        secret_values=_secrets(loaded, env, host.env, args), context=where,
        env_read=tuple(sorted(loaded.env_read)))
