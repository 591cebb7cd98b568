"""Isolated local runs: the cloud's sdist, pip-installed into a cached venv, run from an empty
folder. A file left out of the package, or a dependency left out of `requirements`, fails here
the way it would fail in the cloud.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import site
import subprocess
import sys
import tempfile
from pathlib import Path

from jobspec.errors import JobFailed, UsageError
from jobspec.package import write
from jobspec.plan import LocalPlan
from jobspec.records import Run


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _run(argv: list[str], what: str) -> None:
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as exc:
        raise UsageError(f"{what}: cannot start {argv[0]}: {exc.strerror}") from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip().splitlines()
        tail = "\n".join(output[-15:])
        raise JobFailed(f"{what} failed (exit {done.returncode}), as it would in the cloud:\n"
                        f"{tail}")


def venv_for(plan: LocalPlan, cache: Path) -> Path:
    """A venv with the package installed, made once per package hash and interpreter."""
    assert plan.package is not None
    key = hashlib.sha256(f"{plan.package.sha256}\0{plan.python}".encode()).hexdigest()[:24]
    venv = cache / key
    if _venv_python(venv).exists() and (venv / ".jobspec-ready").exists():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=cache))
    try:
        build = staging / "venv"
        # --system-site-packages: host frameworks (TensorFlow, numpy) stay visible, as they are
        # in the prebuilt cloud images; pip comes from the host interpreter, not the venv.
        _run([plan.python, "-m", "venv", "--system-site-packages", "--without-pip", str(build)],
             "creating the isolated venv")
        _expose_host_site(build)
        sdist = write(plan.package, staging)
        _run([sys.executable, "-m", "pip", "--python", str(_venv_python(build)), "install",
              "--no-index", "--no-build-isolation", "--disable-pip-version-check",
              "--no-input", "--quiet", str(sdist)],
             f"installing {plan.package.filename} into the isolated venv")
        (build / ".jobspec-ready").write_text(plan.package.sha256 + "\n", encoding="utf-8")
        try:
            os.replace(build, venv)
        except OSError:  # another run made it first: theirs is as good as ours
            if not (venv / ".jobspec-ready").exists():
                raise
        return venv
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _expose_host_site(venv: Path) -> None:
    """When jobspec itself runs in a venv, --system-site-packages reaches the base Python only;
    a .pth file adds this interpreter's site-packages after the venv's own."""
    probe = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    purelib = subprocess.run([str(_venv_python(venv)), "-c", probe],
                             capture_output=True, text=True, check=True).stdout.strip()
    host = [p for p in site.getsitepackages() if Path(p).is_dir()]
    Path(purelib, "_jobspec_host_site.pth").write_text("\n".join(host) + "\n", encoding="utf-8")


def prepare(plan: LocalPlan, run: Run) -> tuple[str, str]:
    """(python, cwd) for an isolated run: the cached venv, and a fresh empty folder kept in the
    run record so that relative outputs survive."""
    venv = venv_for(plan, Path(plan.project_root) / ".jobspec" / "venvs")
    cwd = run.folder / "cwd"
    cwd.mkdir()
    return str(_venv_python(venv)), str(cwd)
