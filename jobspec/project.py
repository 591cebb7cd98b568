"""Where the project is: its root, its default spec, its [tool.jobspec] settings."""

from __future__ import annotations

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
    # here, not at the top: a run from a cached plan finds the project root and reads no TOML
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        data: dict[str, Any] = tomllib.loads(read_regular(path, MAX_PYPROJECT).decode("utf-8"))
        return data
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
        tool = _read_toml(pyproject).get("tool", {}).get("jobspec")
        if not isinstance(tool, dict):
            continue
        spec = tool.get("default-spec")
        if spec is not None and not isinstance(spec, str):
            raise UsageError(f"{pyproject}: [tool.jobspec] default-spec must be a string")
        runtimes = tool.get("runtimes", {})
        if not isinstance(runtimes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in runtimes.items()
        ):
            raise UsageError(
                f"{pyproject}: [tool.jobspec.runtimes] must map versions to image URIs"
            )
        return Settings(pyproject, folder / spec if spec else None, dict(runtimes))
    return Settings()


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
