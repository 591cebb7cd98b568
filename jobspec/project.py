"""Where the project is: its root, its default spec, its [tool.jobspec] settings."""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobspec.errors import UsageError
from jobspec.fileread import read_regular

MAX_PYPROJECT = 1 << 20  # a pyproject.toml is a few KiB


@dataclass(frozen=True)
class Settings:
    """``[tool.jobspec]`` from the nearest pyproject.toml."""

    pyproject: Path | None = None
    default_spec: Path | None = None
    runtimes: dict[str, str] = field(default_factory=dict)


def find_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` holding pyproject.toml or .git."""
    here = start.resolve()
    for folder in (here, *here.parents):
        if (folder / "pyproject.toml").is_file() or (folder / ".git").exists():
            return folder
    return None


def project_root(spec_path: Path) -> Path:
    return find_root(spec_path.parent) or Path.cwd()


def _read_toml(path: Path) -> dict[str, Any]:
    return _read_text_and_toml(path)[1]


def _read_text_and_toml(path: Path) -> tuple[str, dict[str, Any]]:
    # here, not at the top: a run from a cached plan finds the project root and reads no TOML
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        text = read_regular(path, MAX_PYPROJECT).decode("utf-8")
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def settings(start: Path) -> Settings:
    here = start.resolve()
    for folder in (here, *here.parents):
        pyproject = folder / "pyproject.toml"
        if not pyproject.is_file():
            continue
        text, data = _read_text_and_toml(pyproject)
        tool = data.get("tool", {}).get("jobspec")
        if tool is None:
            continue
        checked = _checked(pyproject, text, tool)
        spec = checked.default_spec
        return Settings(pyproject, folder / spec if spec else None, dict(checked.runtimes))
    return Settings()


_EXPECTED: dict[tuple[str, ...], str] = {
    ("default-spec",): "expected the path of a spec file, relative to pyproject.toml",
    ("runtimes",): "expected a table of runtime versions, each mapped to an image URI (a "
                   "container image, or one of Google's prebuilt training images)",
}


def _checked(pyproject: Path, text: str, tool: Any) -> Any:
    """``[tool.jobspec]`` checked by its model; every problem at pyproject.toml:line:col."""
    from pydantic import ValidationError

    from jobspec.diagnostics import Problem, SpecError, did_you_mean, display_path
    from jobspec.located import Loc
    from jobspec.spec import ToolSettings
    from jobspec.validation import describe

    file = display_path(str(pyproject))
    if not isinstance(tool, dict):
        line, col = toml_position(text, ())
        raise SpecError([Problem(Loc(file, line, col), "tool.jobspec",
                                 f"expected a table, got {describe(tool)}")], {file: text})
    try:
        return ToolSettings.model_validate(tool)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = tuple(str(p) for p in err["loc"])
            unknown = err["type"] == "extra_forbidden"
            if unknown:
                known = ([f.alias or n for n, f in ToolSettings.model_fields.items()]
                         if len(path) == 1 else [])
                message = "unknown key" + did_you_mean(path[-1], known)
            else:
                expected = _EXPECTED.get(path, "expected an image URI (text)")
                message = f"{expected}, got {describe(err['input'])}"
            line, col = toml_position(text, path, at_key=unknown)
            shown = [p if re.fullmatch(r"[A-Za-z0-9_-]+", p) else json.dumps(p) for p in path]
            problems.append(Problem(Loc(file, line, col), ".".join(("tool.jobspec", *shown)),
                                    message))
        raise SpecError(problems, {file: text}) from None


_HEADER = re.compile(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")


def _key_parts(key: str) -> list[str]:
    """A TOML dotted key's parts: `a."b.c" . d` -> a, b.c, d (escapes are not decoded)."""
    parts, current, quote = [], "", ""
    for char in key:
        if quote:
            if char == quote:
                quote = ""
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def toml_position(text: str, path: tuple[str, ...], *, at_key: bool = True) -> tuple[int, int]:
    """(line, column) of ``tool.jobspec.PATH`` in pyproject.toml's text: tomllib keeps no
    positions. A line scan: the key's line inside the [tool.jobspec] table (or its
    [tool.jobspec.X] sub-table, or a dotted key `X.Y =`), the column of the key, or of the value
    when ``at_key`` is False. A key written inside an inline table (`runtimes = {...}`), or with
    a dot or '=' in its quoted name, is found by its first part only; when nothing is found,
    the table's header line, else 1:1."""
    lines = text.splitlines()
    table: str | None = None
    parts: list[str] = []
    header = (1, 1)
    best: tuple[int, int] | None = None
    best_len = -1
    for number, line in enumerate(lines, start=1):
        found = _HEADER.match(line)
        if found:
            table = ".".join(_key_parts(found.group(1)))
            parts = _key_parts(found.group(1))
            if parts == ["tool", "jobspec"]:
                header = (number, line.index("[") + 1)
            continue
        if table is None or parts[:2] != ["tool", "jobspec"]:
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip() or key.strip().startswith("#"):
            continue
        full = (*parts[2:], *_key_parts(key))
        shared = 0
        while shared < min(len(full), len(path)) and full[shared] == path[shared]:
            shared += 1
        if shared and shared > best_len:
            col = len(key) - len(key.lstrip()) + 1
            if not at_key and shared == len(full):
                col = len(key) + 1 + len(value) - len(value.lstrip()) + 1
            best, best_len = (number, col), shared
    if best is None and path and path[0] and table is not None:
        for number, line in enumerate(lines, start=1):  # a [tool.jobspec.X] header itself
            found = _HEADER.match(line)
            if found and _key_parts(found.group(1)) == ["tool", "jobspec", path[0]]:
                return number, line.index("[") + 1
    return best or header


def default_spec(cwd: Path) -> Path:
    """SPEC when the user gave none: pyproject's default-spec, then ./jobspec.yaml."""
    found = settings(cwd)
    if found.default_spec is not None:
        return found.default_spec
    candidate = cwd / "jobspec.yaml"
    if candidate.is_file():
        return candidate
    raise UsageError(
        "no spec given, and none found: pass SPEC, set [tool.jobspec] default-spec in "
        "pyproject.toml, or create ./jobspec.yaml"
    )
