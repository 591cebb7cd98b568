"""Isolated local runs: the cloud's container launcher (jobspec/launcher.py) on this machine.
The sdist is laid out as the cloud job sees it (.jobspec/gcs/BUCKET/PREFIX/packages/SHA/FILE
plays /gcs/BUCKET/...: jobspec/container.py), pip-installed from there with its requirements
from the package index into a venv made empty, and run as the launcher runs it,
`sh -c 'exec python3 -m MODULE "$@"' jobspec ARGS` with the venv's bin first on PATH, from an
empty folder. A file left out of the package, or a dependency left out of `requirements`,
fails here the way it would fail in the cloud.

The launcher's install half (`python3 -m pip install OPTIONS /gcs/.../FILE`) runs once per
venv, not at each run: a venv is made for one sdist (its sha256 covers the code and the
requirements, which the sdist declares) and one interpreter, by `venv` (nothing in it), then
by that one `pip install`, with the launcher's options but --no-cache-dir, from that one
file; it is used only once complete. So each run starts from what a fresh install of that
sdist makes, on a Python with nothing else installed, as the container does. What differs:
pip's cache may serve a wheel it built or fetched before (the same version's bytes);
requirements without a pinned version are resolved when the venv is made, not at each run;
and a trainer that changes its own environment (pip-installs at run time) leaves that change
for the next run, where the cloud throws the container away (`jobspec clean` or a new package
hash starts afresh).

The venv sees nothing of the host's site-packages (nor jobspec's): only the standard library,
the package and what pip resolved for it. pip reads the user's own settings (PIP_INDEX_URL,
PIP_EXTRA_INDEX_URL, pip.conf), as any `pip install` would.

Venvs are cached under .jobspec/venvs/<key>, one per package hash and interpreter. Each is
built in a staging folder `.<key>-XXXX` that its builder holds locked (flock) while it works;
a staging folder whose lock nobody holds is what a killed build left, and the next isolated
run removes it. A venv appears under its key only once complete (a rename), and is used only
with its `.jobspec-ready` marker.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import IO

from jobspec.container import stage
from jobspec.errors import JobFailed, UsageError
from jobspec.launcher import PIP_OPTIONS
from jobspec.output import current
from jobspec.plandata import LocalPlan
from jobspec.records import Run, StateDir

try:
    import fcntl
except ImportError:  # Windows: no flock; stale staging folders stay (they are never used)
    fcntl = None  # type: ignore[assignment]

READY = ".jobspec-ready"
# In a ready venv: touched each time a run uses the venv (its last use, for `jobspec clean`),
# and held with a shared flock for as long as that run's jobspec lives; `jobspec clean` removes
# a venv only with an exclusive lock on it.
USED = ".jobspec-used"
LOCK = ".building"
# A staging folder with no lock file yet is being set up, unless it is older than this.
_SETUP_GRACE = 60.0
# The launcher's pip options, but its cache: the container is thrown away, a venv is not, and
# where the bytes of a version come from does not change what is installed.
_PIP_OPTIONS = tuple(o for o in PIP_OPTIONS if o != "--no-cache-dir")


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _output(argv: list[str], what: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              env=env)
    except OSError as exc:
        raise UsageError(f"{what}: cannot start {argv[0]}: {exc.strerror}") from None


def _tail(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])


def _interpreter(python: str) -> str:
    """The interpreter behind `python` (a pyenv shim or a PATH name can change what it runs):
    its real executable and full version, part of the cache key."""
    probe = "import sys; print(sys.executable); print(sys.version)"
    done = _output([python, "-c", probe], "asking the trainer's interpreter what it is")
    if done.returncode != 0 or len(done.stdout.splitlines()) < 2:
        tail = _tail(done)
        raise UsageError(f"{python} did not answer as a Python interpreter "
                         f"(exit {done.returncode})" + (f":\n{tail}" if tail else ""))
    return done.stdout


def _host_pip() -> bool:
    """True when jobspec's own pip can install into another interpreter (`pip --python`, pip
    22.3+): the venv then needs no pip of its own, which saves seconds on its first build."""
    if importlib.util.find_spec("pip") is None:
        return False
    try:
        major, minor = (int(x) for x in metadata.version("pip").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return (major, minor) >= (22, 3)


def _rmtree(path: Path) -> bool:
    shutil.rmtree(path, ignore_errors=True)
    return True


def sweep(cache: Path, remove: Callable[[Path], bool] = _rmtree) -> list[Path]:
    """Remove the staging folders of builds whose builder is gone (with REMOVE, which says
    whether it did: `jobspec clean --dry-run` removes nothing); the ones removed."""
    removed: list[Path] = []
    if fcntl is None or not cache.is_dir():
        return removed
    for entry in cache.iterdir():
        if not entry.name.startswith(".") or entry.is_symlink() or not entry.is_dir():
            continue  # a link is not a staging folder jobspec made: never followed
        try:
            handle = open(entry / LOCK)  # noqa: SIM115 (held across the removal)
        except FileNotFoundError:
            try:
                stale = time.time() - entry.stat().st_mtime > _SETUP_GRACE
            except OSError:
                continue
            if stale and remove(entry):
                removed.append(entry)
            continue
        except OSError:
            continue
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # its builder is at work
            if remove(entry):
                removed.append(entry)
    return removed


def _lock(staging: Path) -> IO[str] | None:
    if fcntl is None:
        return None
    handle = open(staging / LOCK, "w")  # noqa: SIM115 (held until the build ends)
    fcntl.flock(handle, fcntl.LOCK_EX)
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def _discard(venv: Path) -> None:
    """Move an unusable venv out of the way (renamed first: no one can start using it)."""
    trash = venv.with_name(f".{venv.name}-discarded-{os.getpid()}")
    try:
        os.replace(venv, trash)
    except OSError:
        return
    shutil.rmtree(trash, ignore_errors=True)


def venv_for(plan: LocalPlan, cache: Path) -> Path:
    """A venv with the package and its requirements installed, made once per package hash and
    interpreter."""
    assert plan.package is not None
    sweep(cache)
    identity = _interpreter(plan.python)
    key = hashlib.sha256(f"{plan.package.sha256}\0{identity}\0{_PIP_OPTIONS}".encode()
                         ).hexdigest()[:24]
    venv = cache / key
    if (venv / READY).exists() and _venv_python(venv).exists():
        return venv
    if venv.exists():
        _discard(venv)  # half-made by an older jobspec, or its interpreter is gone
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    lock = _lock(staging)
    try:
        current().info(f"installing {plan.package.filename} and its requirements into a new "
                       "isolated venv (kept for the next runs of this package)")
        build = staging / "venv"
        host_pip = _host_pip()
        made = _output([plan.python, "-m", "venv", *(["--without-pip"] if host_pip else []),
                        str(build)], "creating the isolated venv")
        if made.returncode != 0:
            raise UsageError(f"{plan.python} could not create a venv (exit {made.returncode}):"
                             f"\n{_tail(made)}",
                             hint="isolated runs need the interpreter's `venv` module "
                             "(on Debian and Ubuntu: the python3-venv package)")
        stage(plan)  # where the launcher installs it from: .jobspec/gcs/ plays /gcs/
        assert plan.staged_sdist is not None
        pip = ([sys.executable, "-m", "pip", "--python", str(_venv_python(build))] if host_pip
               else [str(_venv_python(build)), "-m", "pip"])
        what = f"installing {plan.package.filename} into the isolated venv"
        done = _output([*pip, "install", *_PIP_OPTIONS, "--no-input", "--quiet",
                        plan.staged_sdist], what,
                       env={**os.environ, "PIP_ROOT_USER_ACTION": "ignore"})
        if done.returncode != 0:
            raise JobFailed(f"{what} failed (exit {done.returncode}), as it would in the cloud:"
                            f"\n{_tail(done)}")
        (build / READY).write_text(plan.package.sha256 + "\n", encoding="utf-8")
        try:
            os.replace(build, venv)
        except OSError:  # another run made it first: theirs is as good as ours
            if not (venv / READY).exists():
                raise
        return venv
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if lock is not None:
            lock.close()


_in_use: list[IO[str]] = []  # kept open (locked) until this jobspec process ends


def _use(venv: Path) -> bool:
    """Mark VENV used now and hold it (shared) while this process lives; False when it was
    removed meanwhile (`jobspec clean`): then it is made again."""
    try:
        handle = open(venv / USED, "a")  # noqa: SIM115 (held until jobspec ends)
    except FileNotFoundError:
        return False
    if fcntl is not None:
        fcntl.flock(handle, fcntl.LOCK_SH)  # waits while `jobspec clean` decides about it
    try:
        os.utime(handle.fileno())
        ready = (venv / READY).exists() and os.path.samestat(os.fstat(handle.fileno()),
                                                              os.stat(venv / USED))
    except OSError:
        ready = False
    if not ready:
        handle.close()
        return False
    _in_use.append(handle)
    return True


def prepare(plan: LocalPlan, run: Run) -> LocalPlan:
    """The plan as it runs: each process with the cached venv's bin first on PATH (the
    launcher's `python3` is the venv's) and a fresh empty folder, kept in the run record so
    that relative outputs survive, as its cwd."""
    cache = StateDir(Path(plan.project_root)).venvs
    for _ in range(3):
        venv = venv_for(plan, cache)
        if _use(venv):
            break
    else:
        raise UsageError(f"the isolated venv under {cache} was removed as this run started; "
                         "run again")
    cwd = run.folder / "cwd"
    cwd.mkdir()
    bin_dir = str(_venv_python(venv).parent)
    processes = tuple(dataclasses.replace(
        p, cwd=str(cwd),
        env={**p.env, "PATH": os.pathsep.join(
            [bin_dir, p.env.get("PATH", os.environ.get("PATH", os.defpath))])})
        for p in plan.processes)
    return dataclasses.replace(plan, processes=processes)
