"""Checks of a spec that loaded cleanly against the files it names: `trainer.module` must be a
module of the package at `package_path`, so a typo is exit 2 at its line, not a cloud job that
fails after staging."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.diagnostics import Problem, did_you_mean
from jobspec.located import locate

if TYPE_CHECKING:
    from jobspec.assemble import Loaded

# (spec folder, package_path, module, has a cloud target) already found, for this process:
# `validate` of many specs sharing one trainer stats its module once; a miss is never cached.
_FOUND: set[tuple[str, str, str, bool]] = set()


def with_module_checked(loaded: Loaded, problems: list[Problem]) -> Loaded:
    """``loaded``, with a problem added when its module is not in its package. Only for a spec
    without other problems: one of those (a bad --set, say) can be why the module looks wrong."""
    if problems:
        return loaded
    found = module_problem(loaded.spec, loaded.tree, os.path.dirname(loaded.path))
    if found is not None and found not in problems:
        problems.append(found)
    return loaded


def module_problem(spec: Any, tree: Any, base: str) -> Problem | None:
    """None when `python -m MODULE` finds a file in the package; else the problem, placed at
    `trainer.module`. ``base`` is the spec's folder, which package_path is relative to."""
    trainer = spec.trainer
    cloud = any(t.kind == "cloud" for t in spec.targets.values())
    key = (base, str(trainer.package_path), str(trainer.module), cloud)
    if key in _FOUND:
        return None
    package = os.path.normpath(os.path.join(base, trainer.package_path))
    message = _why_missing(package, str(trainer.module), str(trainer.package_path), cloud)
    if message is None:
        _FOUND.add(key)
        return None
    where = locate(tree, ("trainer", "module"))
    assert where is not None  # the tree holds the trainer the spec was built from
    return Problem(where, "trainer.module", message)


def _is_module(parent: str, parts: list[str]) -> bool:
    path = os.path.join(parent, *parts)
    return os.path.isfile(path + ".py") or os.path.isfile(os.path.join(path, "__main__.py"))


def _why_missing(package: str, module: str, written: str, cloud: bool) -> str | None:
    parent, name = os.path.split(package)
    parts = module.split(".")
    if parts[0] != name:
        inside = [name, *parts]
        hint = (f" (did you mean '{'.'.join(inside)}'?)" if _is_module(parent, inside)
                else did_you_mean(module, _modules(parent, [name])))
        return (f"module {module!r} is not in package_path {written!r}: the package is "
                f"{name!r}, so its modules are named '{name}.NAME'{hint}")
    if _is_module(parent, parts):
        return _left_out(parent, parts, module) if cloud and len(parts) > 1 else None
    shown = "/".join(parts)
    if len(parts) == 1 or os.path.isdir(os.path.join(parent, *parts)):
        what = (f"{shown} is a folder without __main__.py, which `python -m {module}` "
                "would run")
    else:
        what = f"neither {shown}.py nor {shown}/__main__.py exists"
    # did-you-mean from the deepest folder of the module's path that exists, one level down
    depth = 1
    while depth < len(parts) - 1 and os.path.isdir(os.path.join(parent, *parts[:depth + 1])):
        depth += 1
    return (f"no module {module!r} in package_path {written!r}: {what}"
            + did_you_mean(module, _modules(parent, parts[:depth])))


def _left_out(parent: str, parts: list[str], module: str) -> str | None:
    """Python runs a module from a folder without __init__.py, but the cloud installs the
    package's sdist, and the setup.py jobspec generates (as gcloud does) finds packages with
    find_packages(): such a folder, and the module in it, is left out, and the job fails after
    staging. The parent's own setup.py, or a pyproject.toml with a [project] table, may find
    them otherwise: not judged."""
    if os.path.exists(os.path.join(parent, "setup.py")) or _has_project(parent):
        return None
    runs_main = not os.path.isfile(os.path.join(parent, *parts) + ".py")
    for depth in range(2, len(parts) + (1 if runs_main else 0)):
        folder = os.path.join(parent, *parts[:depth])
        if not os.path.isfile(os.path.join(folder, "__init__.py")):
            shown = "/".join(parts[:depth])
            return (f"{shown} has no __init__.py: the cloud target installs the package "
                    f"with find_packages(), which leaves {shown} out, so `python -m {module}` "
                    f"would fail there (add {shown}/__init__.py)")
    return None


def _has_project(parent: str) -> bool:
    from jobspec.errors import JobspecError
    from jobspec.project import _read_toml

    path = os.path.join(parent, "pyproject.toml")
    try:
        return os.path.isfile(path) and "project" in _read_toml(Path(path))
    except JobspecError:  # a broken pyproject.toml: packaging will say so
        return True


def _modules(parent: str, prefix: list[str]) -> list[str]:
    """Dotted names of the modules in one folder, and in its subfolders: only read on error."""
    found: list[str] = []

    def scan(parts: list[str], deeper: bool) -> None:
        try:
            entries = list(os.scandir(os.path.join(parent, *parts)))
        except OSError:
            return
        for entry in entries[:1000]:
            stem, ext = os.path.splitext(entry.name)
            if ext == ".py" and entry.is_file() and stem.isidentifier() and stem != "__init__":
                found.append(".".join([*parts, stem]) if stem != "__main__" else ".".join(parts))
            elif entry.is_dir() and entry.name.isidentifier() and deeper:
                scan([*parts, entry.name], False)

    scan(prefix, True)
    return found
