"""Pydantic's errors, told in the spec's own words and pinned to file:line:col."""

from __future__ import annotations

import re
import types
import typing
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from jobspec.diagnostics import Problem, did_you_mean
from jobspec.located import LDict, Loc, Path_, key_loc, locate
from jobspec.spec import CloudTarget, FieldError, LocalTarget, Spec

_KINDS: dict[str, type[BaseModel]] = {"local": LocalTarget, "cloud": CloudTarget}


def dotted(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif not part.isprintable():  # a key with a line break or NUL: show it escaped
            out += f"[{part!r}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(value: Any) -> str:
    if value is None:
        return "nothing (an empty value)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int):
        return f"the number {value}"
    if isinstance(value, float):
        return f"the number {value:g}"
    if isinstance(value, str):
        shown = value if len(value) <= 60 else value[:57] + "..."
        return f"the string {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "a mapping",
    "list_type": "a list",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The model ``annotation`` stands for, picking a target's model by its kind."""
    while typing.get_origin(annotation) in (typing.Annotated, Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if typing.get_origin(annotation) is typing.Annotated:
            annotation = options[0]
        elif (isinstance(node, dict) and isinstance(node.get("kind"), str)
              and _KINDS.get(node["kind"]) in options):  # `kind: {}` is not a kind
            return _KINDS[node["kind"]]
        else:
            annotation = options[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


def known_keys(path: Path_, data: Any) -> list[str]:
    """Field names valid in the mapping at ``path`` (for did-you-mean)."""
    annotation: Any = Spec
    node = data
    for part in path:
        model = _model_of(annotation, node)
        if model is not None:
            field = model.model_fields.get(str(part))
            annotation = field.annotation if field is not None else None
        else:
            args = typing.get_args(annotation)
            annotation = args[-1] if args else None
        if isinstance(node, dict):
            node = node.get(part)
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            node = node[part]
        else:
            node = None
        if annotation is None:
            return []
    model = _model_of(annotation, node)
    return list(model.model_fields) if model is not None else []


def _strip_tag(loc: tuple[Any, ...]) -> Path_:
    """Drop the discriminator pydantic inserts: ('targets', 'x', 'cloud', ...)."""
    if len(loc) >= 3 and loc[0] == "targets" and loc[2] in _KINDS:
        return (loc[0], loc[1]) + tuple(loc[3:])
    return tuple(loc)


def _message(err: Any, path: Path_, data: Any) -> str:
    kind = err["type"]
    value = err.get("input")
    if kind == "missing":
        return f"missing required key {path[-1]!r}"
    if kind == "extra_forbidden":
        return "unknown key" + did_you_mean(str(path[-1]), known_keys(path[:-1], data))
    if kind in _EXPECTED:
        return f"expected {_EXPECTED[kind]}, got {describe(value)}"
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'|(\d+)", err["ctx"]["expected"])
        names = [a or b for a, b in choices]
        hint = did_you_mean(str(value), names) if isinstance(value, str) else ""
        expected = names[0] if len(names) == 1 else f"one of {', '.join(names)}"
        return f"expected {expected}, got {describe(value)}{hint}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        sign = {"greater_than_equal": ">=", "less_than_equal": "<=", "greater_than": ">",
                "less_than": "<"}[kind]
        bound = next(iter(err["ctx"].values()))
        return f"expected a number {sign} {bound}, got {describe(value)}"
    if kind == "too_short":
        return "expected at least one entry, got none"
    if kind == "value_error":
        return str(err["ctx"]["error"])
    if kind == "assertion_error":
        return str(err["msg"])
    msg = str(err["msg"])
    return msg[:1].lower() + msg[1:]


MAX_ERRORS = 1000  # per model check: past this, a count; beyond is a hostile or broken file


def problems(exc: ValidationError, root: LDict, data: Any, file: str) -> list[Problem]:
    out = []
    if exc.error_count() > MAX_ERRORS:
        out.append(Problem(Loc(file, 1, 1), "", f"{exc.error_count():,} problems; the first "
                           f"{MAX_ERRORS:,} found are listed"))
    for err in exc.errors(include_url=False)[:MAX_ERRORS]:
        if err["type"] == "union_tag_invalid":
            continue  # the loader has already reported the target's kind, with a suggestion
        path = _strip_tag(err["loc"])
        error = (err.get("ctx") or {}).get("error")
        if isinstance(error, FieldError):  # a rule about one value inside the checked one
            path = path + error.at
            found = locate(root, path, key=error.key)
            out.append(Problem(found or Loc(file, 1, 1), dotted(path), str(error)))
            continue
        if err["type"] == "missing":
            # point at the mapping that lacks the key, where its own key is written
            where = key_loc(root, path[:-1]) if path[:-1] else Loc(file, 1, 1)
        elif err["type"] == "extra_forbidden":
            where = key_loc(root, path)
        elif err["type"] == "value_error" and isinstance(err.get("input"), dict):
            where = key_loc(root, path)  # a rule about a whole mapping: point at its key
        else:
            where = locate(root, path)
        out.append(Problem(where or Loc(file, 1, 1), dotted(path), _message(err, path, data)))
    return out


ENV_NOTE = ("note: allowed by `validate`, which may run without your environment (CI, "
            "pre-commit); an error at `plan` and `run`, and with `validate --strict-env`")


def split_unset_env(found: list[Problem]) -> tuple[list[Problem], list[Problem]]:
    """(errors, unset): ``found`` without the ${VAR}s whose VAR is unset and has no default,
    and without the problems of the values holding them (a value like ``${BUCKET}`` cannot be
    judged until the variable is set), then those ${VAR}s."""
    from jobspec.interpolate import UnsetVariable

    unset: list[Problem] = [p for p in found if isinstance(p, UnsetVariable)]
    if not unset:
        return found, []
    paths = {p.path for p in unset}
    locs = {p.loc for p in unset}

    def depends(p: Problem) -> bool:
        return p.loc in locs or any(p.path == q or p.path.startswith((q + ".", q + "["))
                                    for q in paths)

    return [p for p in found if not isinstance(p, UnsetVariable) and not depends(p)], unset
