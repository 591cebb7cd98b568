"""The cloud's container launcher on this machine: `--isolated` and `--container` plans.

Both lay the sdist out where the cloud job finds it. The cloud stages it at
gs://BUCKET/STAGING_PREFIX/packages/SHA256/FILE and the job reads it as /gcs/BUCKET/... (Cloud
Storage FUSE); here it is written to .jobspec/gcs/BUCKET/STAGING_PREFIX/packages/SHA256/FILE,
so `.jobspec/gcs/` plays `/gcs/`. BUCKET and STAGING_PREFIX are those of the cloud target the
local target copies (`container_from`), else of the spec's cloud targets when they all share
one, else PLACEHOLDER_BUCKET and the default prefix.

`--isolated` runs the launcher (jobspec/launcher.py) in two halves. Its install half, the
same pip options on the same file, runs once per package hash and interpreter, into a venv made
empty (jobspec/isolated.py); each run then runs its exec half, `sh -c 'exec python3 -m MODULE
"$@"' jobspec ARGS`, with the venv's bin first on PATH (so `python3` is the venv's), from an
empty folder. That is the cloud's command on an environment the install half has just made:
see isolated.py for why a cached venv is one.

`--container` runs the cloud target's image with docker or podman: the launcher itself (or a
bring-your-own-image target's `command`), the sdist bind-mounted read-only at its /gcs/ path,
the trainer's folder mounted at its own path as the working folder (relative args resolve as
in a local run), the package's source folder hidden under an empty tmpfs (the trainer imports
the installed sdist, as in the cloud, not the source beside it), each env entry as `-e NAME`
with its value in the runtime's environment (never on its command line), GPUs when the cloud
target's chief asks for NVIDIA accelerators. Pure planning; `stage` and `stop` do the I/O.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec import launcher
from jobspec.errors import UsageError
from jobspec.plandata import LocalPlan, Process

if TYPE_CHECKING:
    from jobspec.assemble import Loaded
    from jobspec.package import Package
    from jobspec.spec import CloudTarget

PLACEHOLDER_BUCKET = "jobspec-local"  # no cloud target says which bucket: a name for the layout
DEFAULT_PREFIX = "jobspec-staging"  # CloudTarget.staging_prefix's default
RUNTIMES = ("docker", "podman")
RUNTIME_ENV = "JOBSPEC_CONTAINER_RUNTIME"
STOP_SECONDS = 5  # `RUNTIME stop --time`: SIGTERM, then SIGKILL, as local runs do


def exec_script(module: str) -> str:
    """The launcher's exec half, exactly as launcher.script ends."""
    return f'exec python3 -m {shlex.quote(module)} "$@"'


def install_script(package_path: str, module: str) -> str:
    """The launcher's install half: launcher.script without its exec half."""
    full = launcher.script(package_path, module)
    tail = " && " + exec_script(module)
    if not full.endswith(tail):  # launcher.py changed shape: this module must follow it
        raise AssertionError(f"the launcher script no longer ends with {tail!r}")
    return full[:-len(tail)]


def staged_path(project_root: str, bucket: str, prefix: str, package: Package) -> str:
    """Where this machine keeps the sdist: .jobspec/gcs/BUCKET/PREFIX/packages/SHA256/FILE."""
    from jobspec.records import StateDir

    parts = [bucket, *[p for p in prefix.strip("/").split("/") if p], "packages",
             package.sha256, package.filename]
    return str(Path(StateDir(Path(project_root)).gcs, *parts))  # .jobspec/gcs plays /gcs/


def gcs_path(plan: LocalPlan) -> str:
    """The /gcs/... path the cloud job reads the staged sdist from."""
    from jobspec.records import StateDir

    assert plan.staged_sdist is not None
    root = StateDir(Path(plan.project_root)).gcs
    return f"{launcher.GCS_MOUNT}/{Path(plan.staged_sdist).relative_to(root).as_posix()}"


def stage(plan: LocalPlan) -> None:
    """Write the plan's sdist where the plan says it is, unless it is there already."""
    if plan.staged_sdist is None or plan.package is None:
        return
    from jobspec.package import write

    path = Path(plan.staged_sdist)
    try:
        if path.is_file() and hashlib.sha256(path.read_bytes()).hexdigest() == \
                plan.package.sha256:
            with contextlib.suppress(OSError):  # another user's file: used as it is
                os.utime(path)  # its last use, which `jobspec clean` ages it by
            return
        write(plan.package, path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write the sdist to {path}: {exc.strerror}") from None


# --- which cloud target ---------------------------------------------------------------------


def _runs_image(target: CloudTarget) -> bool:
    return any(getattr(target, key) is not None for key in ("image", "build", "runtime_version"))


def cloud_source(loaded: Loaded) -> tuple[str, CloudTarget]:
    """The cloud target whose container the local target runs: `container_from`, else the
    spec's only cloud target that runs a container image."""
    from jobspec.spec import CloudTarget, LocalTarget

    assert loaded.target is not None
    local = loaded.spec.targets[loaded.target]
    assert isinstance(local, LocalTarget)
    clouds = {k: t for k, t in loaded.spec.targets.items() if isinstance(t, CloudTarget)}
    where: tuple[str, ...] = ("targets", loaded.target)
    if local.container_from is not None:
        where = ("targets", loaded.target, "container_from")
        chosen = clouds.get(local.container_from)
        if chosen is None:
            known = ", ".join(sorted(clouds)) or "none"
            raise loaded.error(where, f"{local.container_from!r} is not a cloud target of this "
                               f"spec (cloud targets: {known})")
        if not _runs_image(chosen):
            raise loaded.error(where, f"target {local.container_from!r} runs a Google prebuilt "
                               "image through pythonPackageSpec (executor_image), not a "
                               "container: give it image, build or runtime_version")
        return local.container_from, chosen
    runs = sorted(k for k, t in clouds.items() if _runs_image(t))
    if len(runs) == 1:
        return runs[0], clouds[runs[0]]
    if not runs:
        raise loaded.error(where, "--container runs a cloud target's container image, and no "
                           "cloud target of this spec has image, build or runtime_version")
    raise loaded.error(where, f"--container: cloud targets {', '.join(runs)} all run container "
                       f"images; set targets.{loaded.target}.container_from to one of them")


def staging_place(loaded: Loaded) -> tuple[str, str]:
    """(bucket, staging prefix) for the sdist's local /gcs-like path (see the module's doc)."""
    from jobspec.spec import CloudTarget, LocalTarget

    assert loaded.target is not None
    local = loaded.spec.targets[loaded.target]
    clouds = {k: t for k, t in loaded.spec.targets.items() if isinstance(t, CloudTarget)}
    if isinstance(local, LocalTarget) and local.container_from in clouds:
        chosen = clouds[str(local.container_from)]
        return chosen.bucket, chosen.staging_prefix
    places = {(t.bucket, t.staging_prefix) for t in clouds.values()}
    return places.pop() if len(places) == 1 else (PLACEHOLDER_BUCKET, DEFAULT_PREFIX)


# --- plans ----------------------------------------------------------------------------------


def _build_package(loaded: Loaded) -> Package:
    from jobspec.package import build_sdist
    from jobspec.project import find_root

    spec = loaded.spec
    return build_sdist((loaded.base_dir / spec.trainer.package_path).resolve(),
                       requirements=spec.trainer.requirements,
                       allow_outside=spec.trainer.allow_outside_repo,
                       allow_credentials=spec.trainer.allow_credentials,
                       repo_root=find_root(loaded.base_dir))


def _trainer_args(proc: Process) -> tuple[str, ...]:
    assert proc.argv[1] == "-m"  # (python, -m, MODULE, *args): plan_local's shape
    return proc.argv[3:]


def isolated(loaded: Loaded, plan: LocalPlan) -> LocalPlan:
    """An isolated plan: the sdist at its /gcs-like path; each process the launcher's exec
    half (its `python3` is the venv's, its cwd a fresh empty folder)."""
    package = plan.package or _build_package(loaded)
    bucket, prefix = staging_place(loaded)
    staged = staged_path(plan.project_root, bucket, prefix, package)
    processes = tuple(dataclasses.replace(
        p, argv=("sh", "-c", exec_script(plan.module), launcher.ARG0, *_trainer_args(p)),
        cwd=None) for p in plan.processes)
    return dataclasses.replace(plan, package=package, staged_sdist=staged, processes=processes)


def runtime(env: Mapping[str, str]) -> str:
    """The container runtime's path: JOBSPEC_CONTAINER_RUNTIME (docker or podman), else the
    first of docker, podman on PATH; UsageError (exit 2) when there is none."""
    search = env.get("PATH", os.defpath)
    wanted = env.get(RUNTIME_ENV, "").strip()
    if wanted and wanted not in RUNTIMES:
        raise UsageError(f"{RUNTIME_ENV}={wanted!r}: expected docker or podman")
    for name in (wanted,) if wanted else RUNTIMES:
        found = shutil.which(name, path=search)
        if found is not None:
            return found
    looked = wanted or "docker or podman"
    raise UsageError(f"--container needs {looked} on PATH, and there is none",
                     hint="install one, or run `--isolated`: the same launcher and sdist in a "
                     "fresh venv on this machine, without the image")


def _flavor(path: str) -> str:
    return "podman" if Path(path).name.startswith("podman") else "docker"


def _chief_gpus(target: CloudTarget) -> bool:
    from jobspec import runtimes

    if target.scale_tier != "CUSTOM":
        shapes = runtimes.scale_tier_pools(target.scale_tier)
        accel = shapes[0].accelerator_type if shapes else None
    else:
        chief = target.chief
        assert chief is not None and chief.machine_type is not None
        accel = (chief.accelerator.type if chief.accelerator is not None
                 else runtimes.map_machine_type(chief.machine_type)[1])
    return bool(accel and accel.startswith("NVIDIA_"))


def _image(loaded: Loaded, name: str, target: CloudTarget, env: Mapping[str, str],
           today: Any) -> str:
    if target.image is not None:
        return str(target.image)
    if target.build is not None:
        from jobspec.cloudwhere import cloud_context
        from jobspec.imagebuild import for_target

        where = cloud_context(target, env)
        build = for_target(loaded.spec, target, project=where.require_project(f"target {name!r}"),
                           region=where.region)
        assert build is not None
        return build.image
    from jobspec import runtimes
    from jobspec.project import settings

    try:
        return runtimes.resolve(runtime_version=target.runtime_version, executor_image=None,
                                region=target.region, gpu=_chief_gpus(target), today=today,
                                extra=settings(loaded.path.parent).runtimes).image_uri
    except runtimes.RuntimeUnavailable as exc:
        raise loaded.error(("targets", name, "runtime_version"), exc.message) from None


def _mountable(path: str, what: str) -> str:
    if ":" in path or "," in path or "\n" in path:
        raise UsageError(f"--container cannot mount {what} {path!r}: docker and podman read "
                         "':' and ',' in a mount as separators")
    return path


def container_name(plan: LocalPlan) -> str:
    """One name per job and project: a local run of a job is one at a time (runlock.py)."""
    digest = hashlib.sha256(plan.project_root.encode()).hexdigest()[:8]
    return f"jobspec-{plan.name[:64]}-{digest}"


def containerized(loaded: Loaded, plan: LocalPlan, env: Mapping[str, str],
                  today: Any) -> LocalPlan:
    """A plan whose one process is `RUNTIME run ... IMAGE ...`: the cloud target's container,
    here."""
    assert loaded.target is not None
    if len(plan.processes) > 1:
        raise loaded.error(("targets", loaded.target, "distributed"),
                           "--container runs one container (the chief): run distributed "
                           "targets without it")
    name, target = cloud_source(loaded)
    path = runtime(env)
    image = _image(loaded, name, target, env, today)
    proc = plan.processes[0]
    args = _trainer_args(proc)
    package_dir = plan.package_path
    workdir = str(Path(package_dir).parent)
    argv = [path, "run", "--rm", "--name", container_name(plan),
            "-v", f"{_mountable(workdir, 'the trainer folder')}:{workdir}", "-w", workdir,
            "--tmpfs", _mountable(package_dir, "the package folder")]
    package = staged = None
    if target.command is None:
        package = plan.package or _build_package(loaded)
        staged = staged_path(plan.project_root, target.bucket, target.staging_prefix, package)
        at = launcher.gcs_path(f"gs://{target.bucket}/{target.staging_prefix.strip('/')}/"
                               f"packages/{package.sha256}/{package.filename}")
        argv += ["-v", f"{_mountable(staged, 'the sdist')}:{at}:ro"]
    for key in [*proc.env, "PYTHONUNBUFFERED"]:
        argv += ["-e", key]  # the value comes from the runtime's own environment
    if _chief_gpus(target):
        # podman has no --gpus: it names NVIDIA GPUs as CDI devices (NVIDIA Container
        # Toolkit, "Support for Container Device Interface", docs.nvidia.com/datacenter/
        # cloud-native/container-toolkit/latest/cdi-support.html, read 2026-11-27)
        argv += (["--gpus", "all"] if _flavor(path) == "docker"
                 else ["--device", "nvidia.com/gpu=all"])
    if target.command is None:
        assert staged is not None
        argv += ["--entrypoint", "sh", image, "-c", launcher.script(at, plan.module),
                 launcher.ARG0, *args]
    else:
        argv += ["--entrypoint", target.command[0], image, *target.command[1:], *args]
    container = dataclasses.replace(proc, argv=tuple(argv), cwd=workdir)
    warnings = plan.warnings
    if plan.job_dir and os.path.isabs(plan.job_dir) and not Path(plan.job_dir).is_relative_to(
            workdir):
        warnings += (f"job_dir {plan.job_dir} is outside {workdir}, the one folder mounted in "
                     "the container: what the trainer writes there stays in the container, "
                     "which is removed when it ends",)
    return dataclasses.replace(plan, isolated=False, package=package, staged_sdist=staged,
                               container=(name, image), processes=(container,),
                               warnings=warnings)


def stop(plan: LocalPlan) -> bool:
    """Stop the plan's container (`RUNTIME stop --time 5 NAME`: SIGTERM, SIGKILL after 5 s):
    the runtime's client may be gone while its container runs on. True if it said it did."""
    argv = plan.processes[0].argv
    name = argv[argv.index("--name") + 1]
    try:
        done = subprocess.run([argv[0], "stop", "--time", str(STOP_SECONDS), name],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=STOP_SECONDS + 25)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0
