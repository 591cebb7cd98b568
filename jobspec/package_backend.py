"""A project's own sdist, built by its declared build backend (PEP 517) through pyproject_hooks,
the hook caller pip and pypa `build` use.

The backend runs in a copy of the package root in a temporary folder, with its output in another:
setuptools writes `<name>.egg-info` into the tree it builds, and planning must write nothing into
the user's project. There is no build isolation (nothing is downloaded, so it works offline): the
backend must be importable by the Python jobspec runs on, and when it is not the error names it
and the command that installs it.
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec import proc
from jobspec.package_tree import PackageError, copy_project

BUILD_TIMEOUT_S = 300
# PEP 517: a project without [build-system] is built by setuptools' legacy backend
_FALLBACK = ("setuptools.build_meta:__legacy__", ("setuptools>=40.8.0",))


@dataclass(frozen=True)
class Backend:
    name: str  # e.g. "setuptools.build_meta"
    requires: tuple[str, ...]
    path: tuple[str, ...]  # backend-path: in-tree backends, relative to the package root
    declared: bool  # named in pyproject.toml's [build-system], not PEP 517's fallback

    @property
    def setuptools(self) -> bool:
        return self.name.partition(":")[0].split(".")[0] == "setuptools"


def backend_of(pyproject: Path, doc: Mapping[str, Any] | None) -> Backend:
    """The build backend pyproject.toml's [build-system] declares (doc: the parsed file)."""
    system = (doc or {}).get("build-system")
    if system is None or "build-backend" not in system:
        requires = system.get("requires") if isinstance(system, dict) else None
        return Backend(_FALLBACK[0], _strings(pyproject, "requires", requires) or _FALLBACK[1],
                       (), False)  # fmt: skip
    if not isinstance(system, dict) or not isinstance(system.get("build-backend"), str):
        raise PackageError(f"{pyproject}: [build-system].build-backend must be a string")
    return Backend(system["build-backend"], _strings(pyproject, "requires", system.get("requires")),
                   _strings(pyproject, "backend-path", system.get("backend-path")), True)


def _strings(pyproject: Path, key: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PackageError(f"{pyproject}: [build-system].{key} must be a list of strings")
    return tuple(value)


def build(package: Path, repo_root: Path | None, backend: Backend, what: str) -> tuple[str, bytes]:
    """(file name, bytes) of the sdist the backend builds from a copy of the package root."""
    from pyproject_hooks import (
        BackendUnavailable,
        BuildBackendHookCaller,
        BuildBackendWarning,
        HookMissing,
    )

    parent = package.parent
    with tempfile.TemporaryDirectory(prefix="jobspec-build-") as tmp:
        source, out = Path(tmp) / "src" / parent.name, Path(tmp) / "out"
        source.parent.mkdir()
        out.mkdir()
        copy_project(package, repo_root, source)

        def runner(cmd: Sequence[str], cwd: str | None = None,
                   extra_environ: Mapping[str, str] | None = None) -> None:
            env = {**os.environ, **(extra_environ or {})}
            proc.run(cmd, what=what, cwd=Path(cwd) if cwd else None, env=env,
                     timeout=BUILD_TIMEOUT_S, error=PackageError)  # fmt: skip

        hooks = BuildBackendHookCaller(str(source), backend.name, list(backend.path) or None,
                                       runner=runner, python_executable=sys.executable)
        try:
            with warnings.catch_warnings():  # the backend's chatter, e.g. setuptools' "beta"
                warnings.simplefilter("ignore", BuildBackendWarning)
                name = hooks.build_sdist(str(out))
        except BackendUnavailable as err:
            raise _unavailable(parent, backend, err.traceback) from None
        except HookMissing:
            raise PackageError(f"the build backend {backend.name} of {parent} cannot build "
                               "an sdist (it has no build_sdist hook)") from None
        built = out / os.path.basename(str(name))
        if not built.is_file() or not built.name.endswith(".tar.gz"):
            raise PackageError(f"{what} made no .tar.gz (it returned {name!r})")
        return built.name, built.read_bytes()


def _unavailable(parent: Path, backend: Backend, traceback: str) -> PackageError:
    lines = traceback.strip().splitlines()
    why = f" ({lines[-1]})" if lines else ""
    where = (f"{parent / 'pyproject.toml'} declares the build backend {backend.name}"
             if backend.declared else f"the package root {parent} names no [build-system] "
             f"build-backend, so it is built by {backend.name} (PEP 517)")
    install = " ".join(shlex.quote(r) for r in backend.requires) or "<the backend's package>"
    return PackageError(
        f"{where}, which this Python ({sys.executable}) cannot import{why}",
        hint="jobspec builds without build isolation, so that it works offline: install the "
        f"build requirements beside jobspec with\n        {shlex.quote(sys.executable)} -m pip "
        f"install {install}",
    )
