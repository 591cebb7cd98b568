"""`${name}`, `${bucket}`, `${VAR:-default}`: plain text substitution, never evaluation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from jobspec.diagnostics import Problem
from jobspec.located import LDict, LList, Loc

_REF = re.compile(r"\$(\$|\{([^}]*)\}|\{)")
# fullmatch, as every validating pattern: `$` would also match before a trailing newline
_EXPR = re.compile(r"([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_-]*)?)(?::-(.*))?", re.S)
BUILTINS = ("name", "target", "project", "region", "bucket")
# What interpolation may add to one spec, over all its targets and matrix members: a reference
# to a big variable, repeated (or ${bucket} built from ${name} built from ${BIG}...), must fail
# at its line before it builds a huge text, not after.
MAX_GROWTH = 1 << 20


@dataclass(frozen=True)
class UnsetVariable(Problem):
    """${VAR} with VAR unset and no default: an error where the job runs (plan, run), allowed
    where the user's environment is absent (validate in CI; other targets than the chosen one)."""


class Budget:
    """The characters interpolation may still add; shared by every context of one load."""

    def __init__(self, left: int = MAX_GROWTH) -> None:
        self.left = left


class TooLarge(Exception):
    """Interpolation ran out of budget: the load stops here (assemble.py reports it)."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


@dataclass
class Context:
    env: Mapping[str, str]
    values: dict[str, str] = field(default_factory=dict)
    # builtins that exist but cannot be used here, with the reason
    unavailable: dict[str, str] = field(default_factory=dict)
    matrix: dict[str, str] | None = None
    budget: Budget = field(default_factory=Budget)


def substitute(text: str, ctx: Context, loc: Loc, path: str, problems: list[Problem]) -> str:
    if "$" not in text:
        return text
    out: list[str] = []
    pos = 0
    for match in _REF.finditer(text):
        out.append(text[pos:match.start()])
        pos = match.end()
        if match.group(1) == "$":
            out.append("$")
            continue
        if match.group(1) == "{":
            problems.append(Problem(loc, path, "unterminated '${' (write '$$' for a literal '$')"))
            return text
        expr = match.group(2)
        parsed = _EXPR.fullmatch(expr)
        if parsed is None:
            shown = "${" + expr + "}"  # escaped when it holds a line break or NUL
            shown = f"'{shown}'" if shown.isprintable() else repr(shown)
            problems.append(Problem(loc, path, f"{shown} is not a valid reference: use "
                                    "${name}, ${VAR} or ${VAR:-default}"))
            continue
        var, default = parsed.group(1), parsed.group(2)
        value = _lookup(var, default, ctx, loc, path, problems)
        if value is None:
            out.append(match.group(0))
            continue
        ctx.budget.left -= len(value) - len(match.group(0))
        if ctx.budget.left < 0:
            raise TooLarge(Problem(loc, path, f"interpolation makes the spec more than "
                                   f"{MAX_GROWTH:,} characters larger (here '${{{var}}}' adds "
                                   f"{len(value):,}); a job file never needs that much"))
        out.append(value)
    out.append(text[pos:])
    return "".join(out)


def _lookup(var: str, default: str | None, ctx: Context, loc: Loc, path: str,
            problems: list[Problem]) -> str | None:
    if var.startswith("matrix."):
        key = var.split(".", 1)[1]
        if ctx.matrix is None:
            problems.append(Problem(loc, path, f"'${{{var}}}' used, but the spec has no matrix"))
            return None
        if key not in ctx.matrix:
            problems.append(Problem(loc, path, f"'${{{var}}}': the matrix has no {key!r} "
                                    f"(it has {', '.join(sorted(ctx.matrix)) or 'nothing'})"))
            return None
        return ctx.matrix[key]
    if "." in var:
        problems.append(Problem(loc, path, f"'${{{var}}}' is not a valid reference"))
        return None
    if var in ctx.values:
        return ctx.values[var]
    if var in ctx.unavailable:
        if default is not None:
            return default
        problems.append(Problem(loc, path, f"'${{{var}}}' {ctx.unavailable[var]}"))
        return None
    value = ctx.env.get(var)
    if value is not None and "\x00" in value:
        problems.append(Problem(loc, path, f"environment variable {var} holds a NUL character, "
                                "which no argument, path or name can"))
        return None
    if value:  # shell semantics: ${VAR:-x} also replaces an empty value
        return value
    if default is not None:
        return default
    if value == "":
        return value
    problems.append(UnsetVariable(loc, path, f"environment variable {var} is not set "
                            f"(write ${{{var}:-default}} to give a default)"))
    return None


def references(value: Any, found: set[str]) -> None:
    """Add to ``found`` every name that ``value``'s text refers to with ``${...}`` (as written
    when it is not a valid reference): what its interpolation may depend on."""
    if isinstance(value, str):
        if "$" in value:
            for match in _REF.finditer(value):
                expr = match.group(2)
                if expr is not None:
                    parsed = _EXPR.fullmatch(expr)
                    found.add(parsed.group(1) if parsed is not None else expr)
    elif isinstance(value, dict):
        for item in value.values():
            references(item, found)
    elif isinstance(value, list):
        for item in value:
            references(item, found)


def interpolate(value: Any, ctx: Context, loc: Loc, path: str, problems: list[Problem]) -> Any:
    """A copy of ``value`` with every string substituted; positions are kept."""
    if isinstance(value, str):
        return substitute(value, ctx, loc, path, problems)
    # A shallow copy, then only text with '$' and containers replaced: most values are plain
    # text or numbers, and copying them key by key was most of interpolate()'s cost.
    if isinstance(value, LDict):
        out = value.clone()
        for key, item in value.items():
            if isinstance(item, str):
                if "$" in item:
                    out[key] = substitute(item, ctx, value.val_locs[key],
                                          f"{path}.{key}" if path else key, problems)
            elif isinstance(item, (LDict, LList)):
                out[key] = interpolate(item, ctx, value.val_locs[key],
                                       f"{path}.{key}" if path else key, problems)
        return out
    if isinstance(value, LList):
        items = value.clone()
        for i, item in enumerate(value):
            if isinstance(item, str):
                if "$" in item:
                    items[i] = substitute(item, ctx, value.item_locs[i], f"{path}[{i}]", problems)
            elif isinstance(item, (LDict, LList)):
                items[i] = interpolate(item, ctx, value.item_locs[i], f"{path}[{i}]", problems)
        return items
    return value
