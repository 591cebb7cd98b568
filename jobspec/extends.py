"""File `extends`: a spec's base files, read and merged under it, from inside the project only
(or folders the user allows), in a chain of bounded depth without cycles."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from jobspec.assemble import rebase_package_path
from jobspec.diagnostics import Problem, SpecError, display_path
from jobspec.errors import UsageError
from jobspec.located import LDict, Loc, deep_merge
from jobspec.specfile import NotSpec, parse_file
from jobspec.validation import describe

MAX_EXTENDS = 16  # files in one extends chain, the spec itself included
ALLOW_VAR = "JOBSPEC_EXTENDS_ALLOW"


def extends_roots(path: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    """Where `extends` may read: the project of the spec named on the command line (the folder
    holding pyproject.toml or .git, else the spec's own folder), and the folders the user names
    in JOBSPEC_EXTENDS_ALLOW. Nothing in a spec or its project can widen this: a spec in a pull
    request must not be able to read the reviewer's files."""
    from jobspec.project import find_root

    folder = path.parent.resolve()
    extra = [Path(p).resolve() for p in env.get(ALLOW_VAR, "").split(os.pathsep) if p.strip()]
    return (find_root(folder) or folder, *extra)


def file_extends(root: LDict, path: Path, sources: dict[str, str], texts: dict[Loc, str],
                 chain: tuple[Path, ...], allowed: tuple[Path, ...]) -> LDict:
    """`extends: ../base.yaml`: the base file loads first, then this file merges onto it
    (mappings deeply; lists and scalars replace). Values keep the file they came from.

    Every refusal points at the `extends` line and shows nothing of the base file: it may not
    be a spec at all."""
    parent = root.get("extends")
    if parent is None:
        return root
    where = root.val_locs["extends"]

    def fail(message: str) -> SpecError:
        return SpecError([Problem(where, "extends", message)], sources)

    if not isinstance(parent, str) or not parent:
        raise fail("expected the path of a base spec file")
    if "\x00" in parent:  # resolve() would raise on it
        raise fail(f"expected the path of a base spec file without NUL characters, got "
                   f"{describe(parent)}")
    if not parent.lower().endswith((".yaml", ".yml")):
        raise fail(f"expected the path of a base spec file ending in .yaml or .yml, got "
                   f"{parent!r}")
    if len(chain) >= MAX_EXTENDS:
        raise fail(f"more than {MAX_EXTENDS} files in the extends chain (from "
                   f"{display_path(str(chain[0]))}); merge some of the base files")
    base_path = Path(os.path.normpath(path.parent / parent))
    try:
        real = base_path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL
        raise fail(f"{parent}: cannot be resolved: {exc}") from None
    if real in chain:
        cycle = " -> ".join(display_path(str(p)) for p in (*chain, real))
        raise fail(f"extends forms a cycle: {cycle}")
    if not any(real == folder or folder in real.parents for folder in allowed):
        raise fail(f"{parent} is outside the project ({allowed[0]}): extends reads only files "
                   f"inside it; to allow another folder, name it in the environment variable "
                   f"{ALLOW_VAR} (folders separated by {os.pathsep!r})")
    base_file = display_path(str(base_path))
    try:
        base, text = parse_file(base_path, base_file, texts)
    except UsageError as exc:
        raise fail(exc.message) from None
    except NotSpec as exc:
        raise fail(f"{parent} is not a spec file: {exc}; no line of it is shown") from None
    except SpecError as exc:
        if base_file not in exc.sources:  # too large, UTF-16: said without the file's lines
            raise fail("; ".join(f"{parent}: {p.message}" for p in exc.problems)) from None
        raise SpecError(exc.problems, {**sources, **exc.sources}) from None
    sources[base_file] = text
    if not isinstance(base, LDict):
        raise SpecError([Problem(Loc(base_file, 1, 1), "", "expected a mapping of keys at the "
                                 "top level of a base spec")], sources)
    base = file_extends(base, base_path, sources, texts, (*chain, real), allowed)
    rebase_package_path(base, base_path.parent, path.parent)
    child = LDict(root.loc)
    for key in root:
        if key != "extends":
            child.copy_entry(root, key)
    merged: LDict = deep_merge(base, child)
    return merged
