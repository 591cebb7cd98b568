"""What the command modules share: the spec a command names, loading for a target's kind,
the trailing arguments, warnings, and the --json switch of the one Output."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from jobspec.output import Output, current


def _spec_path(spec: str | None) -> Path:
    from jobspec.project import default_spec

    return Path(spec) if spec else default_spec(Path.cwd())


def _load(spec: str | None, target: str | None) -> Any:
    from jobspec.request import Request, load

    return load(Request(spec=spec, target=target), strict=False)  # only the target's kind


def _trailing(ctx: click.Context) -> tuple[str, ...]:
    """What followed `--` on the command line (main() splits it off before click parses)."""
    obj = ctx.find_root().obj
    return tuple(obj.get("trailing", ())) if isinstance(obj, dict) else ()


def _argv(ctx: click.Context) -> tuple[str, ...] | None:
    obj = ctx.find_root().obj
    return tuple(obj["argv"]) if isinstance(obj, dict) and "argv" in obj else None


def _warn(message: str) -> None:
    from jobspec.secrets import mask

    current().warn(mask(message))


def _json(as_json: bool) -> Output:
    """The current Output, switched to JSON when the command was given --json."""
    out = current()
    out.as_json = out.as_json or as_json
    return out


_json_opt = click.option("--json", "as_json", is_flag=True,
                         help="Print JSON on stdout (and messages as JSON lines on stderr).")


def _info(message: str) -> None:
    current().info(message)
