"""Reading a spec file: its bytes within bounds (a regular file, never a FIFO or a device), and
whether it is a spec at all, before any line of it is shown."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from jobspec.diagnostics import Problem, SpecError
from jobspec.errors import UsageError
from jobspec.fileread import Refused, read_regular
from jobspec.located import LDict, Loc
from jobspec.spec import Spec
from jobspec.yamlread import MAX_BYTES, build, decode

SPEC_KEYS = frozenset(Spec.model_fields)


def read_bytes(path: Path, file: str) -> bytes:
    """The bytes of a spec file: a regular file of at most MAX_BYTES, or nothing of it is read."""
    try:
        return read_regular(path, MAX_BYTES)
    except Refused as exc:
        if exc.size is not None:
            raise SpecError([Problem(Loc(file, 1, 1), "", f"file is larger than 1 MiB "
                                     f"({exc.size:,} bytes); a job file never needs to be")]
                            ) from None
        raise UsageError(f"{file}: {exc.reason}; nothing of it was read") from None
    except FileNotFoundError:
        raise UsageError(f"{file}: no such spec file") from None
    except PermissionError:
        raise UsageError(f"{file}: permission denied") from None
    except (OSError, ValueError) as exc:  # a name too long, a file used as a folder, a NUL
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{file}: cannot be read: {reason}") from None


def read(path: Path, file: str) -> str:
    return decode(read_bytes(path, file), file)


# ---------------------------------------------------------------------------------------------
# Which files are specs. Only a spec's lines are ever shown in an error: a file that is not one
# (`jobspec validate /etc/passwd`, `extends: ../.env.yaml`, a symlink to /proc/self/environ) is
# refused with why, and nothing of it is shown.

_UNPARSED: Any = object()
# a top-level key as written at the start of a line (or of a top-level list item), for a file
# that does not parse or is not a mapping
_KEY_LINE = re.compile(r"^(?:-[ \t]+)?[\"']?([A-Za-z_][A-Za-z0-9_-]*)[\"']?[ \t]*:(?:[ \t]|$)",
                       re.M)
_VERSION_NUMBER = re.compile(r"^version[ \t]*:[ \t]*(?:[0-9]+|([\"'])1\1)[ \t]*(?:#.*)?$", re.M)


class NotSpec(Exception):
    """Why a file is not a spec; the caller says where."""


def _real_name(path: Path) -> str:
    """The file's own name: a link's target's, so specs/x.yaml -> /proc/self/environ is no spec."""
    return os.path.realpath(path) if os.path.islink(path) else path.name


def _named(name: str, path: Path) -> str:
    return ("its name" if name == path.name else
            f"it is a link to {name}, and that name")


def not_a_spec(name: str, text: str, root: Any = _UNPARSED, named: str = "its name"
               ) -> str | None:
    """Why the file named ``name`` (its real name) holding ``text`` is not a spec, or None.

    A spec is a .yaml/.yml file whose top level has a whole-number ``version`` or only keys a
    spec has (a base file may leave ``version`` to the file that extends it): a
    docker-compose.yml (``version: "3.8"``, ``services:``) is not one. ``root`` is its tree when it
    parsed; otherwise its top-level keys are read from the text."""
    if not name.lower().endswith((".yaml", ".yml")):
        return f"{named} does not end in .yaml or .yml"
    if root is None:  # an empty document: nothing to show but comments
        return None
    if isinstance(root, LDict):
        version = root.get("version")
        keys = set(root)
        # a number (`version: 2` is a spec with a wrong version), not docker-compose's "3.8"
        versioned = type(version) is int or version == "1"
    else:
        keys = {m.group(1) for m in _KEY_LINE.finditer(text)}
        versioned = _VERSION_NUMBER.search(text) is not None
        if not keys:
            return "it is not a mapping of spec keys"
    if versioned or keys <= SPEC_KEYS:
        return None
    return "it has no `version: 1`, and it has top-level keys that a spec does not have"


def parse_file(path: Path, file: str, texts: dict[Loc, str]) -> tuple[Any, str]:
    """(tree, text) of a spec file. NotSpec when it is not one, whatever else is wrong with it:
    its own errors would show its lines."""
    data = read_bytes(path, file)
    try:
        text = decode(data, file)
        root = build(text, file, texts)
    except SpecError as exc:
        shown = exc.sources.get(file)
        if shown is not None:
            real = _real_name(path)
            why = not_a_spec(real, shown, named=_named(real, path))
            if why is not None:
                raise NotSpec(why) from None
        raise
    real = _real_name(path)
    why = not_a_spec(real, text, root, _named(real, path))
    if why is not None:
        raise NotSpec(why)
    return root, text
