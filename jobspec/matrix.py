"""Matrix sweeps: `matrix: {lr: [0.1, 0.01], bs: [8, 16], include: [...], exclude: [...]}`.

Expansion follows GitHub Actions: the product of the lists, minus every combination that
matches an `exclude` entry, then each `include` entry either extends the combinations it matches
(on the keys they share, when it only adds new keys) or is added as a combination of its own.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import re
from typing import Any

from jobspec.diagnostics import Problem
from jobspec.located import LDict, LList

MAX_COMBINATIONS = 256
_SCALARS = (str, int, float, bool)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _entries(node: LList, key: str, problems: list[Problem]) -> list[dict[str, str]]:
    out = []
    for i, item in enumerate(node):
        where = node.item_locs[i]
        if not isinstance(item, LDict) or not item:
            problems.append(Problem(where, f"matrix.{key}[{i}]",
                                    "expected a mapping of matrix keys to values"))
            continue
        entry = {}
        for name, value in item.items():
            if not isinstance(value, _SCALARS):
                problems.append(Problem(item.val_locs[name], f"matrix.{key}[{i}].{name}",
                                        "expected a single value (string, number or boolean)"))
            else:
                entry[name] = _text(value)
        out.append(entry)
    return out


def combinations(matrix: Any, problems: list[Problem]) -> list[dict[str, str]]:
    """Every combination, in order, as strings ready for ${matrix.KEY}."""
    if not isinstance(matrix, LDict):
        return []
    axes: dict[str, list[str]] = {}
    include: list[dict[str, str]] = []
    exclude: list[dict[str, str]] = []
    for key, value in matrix.items():
        where = matrix.val_locs[key]
        if key in ("include", "exclude"):
            if not isinstance(value, LList):
                problems.append(Problem(where, f"matrix.{key}", "expected a list of mappings"))
                continue
            (include if key == "include" else exclude).extend(_entries(value, key, problems))
            continue
        if not isinstance(value, LList) or not value:
            problems.append(Problem(where, f"matrix.{key}", "expected a non-empty list of values"))
            continue
        values = []
        for i, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                problems.append(Problem(value.item_locs[i], f"matrix.{key}[{i}]",
                                        "expected a single value (string, number or boolean)"))
            else:
                values.append(_text(item))
        axes[key] = values
    size = 1
    for values in axes.values():
        size *= len(values)
    if size > MAX_COMBINATIONS:
        problems.append(Problem(matrix.loc, "matrix", f"{size} combinations; at most "
                                f"{MAX_COMBINATIONS} are allowed"))
        return []
    combos = [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]
    combos = [c for c in combos if not any(_matches(c, e) for e in exclude)] if axes else []
    if len(include) > MAX_COMBINATIONS:  # each entry scans the combinations: bound it first
        problems.append(Problem(matrix.loc, "matrix.include", f"{len(include)} entries; at "
                                f"most {MAX_COMBINATIONS} are allowed"))
        return []
    for entry in include:
        shared = {k: v for k, v in entry.items() if k in axes}
        extra = {k: v for k, v in entry.items() if k not in axes}
        targets = [c for c in combos if _matches(c, shared)] if shared and extra else []
        if targets and all(k not in c or c[k] == v for c in targets for k, v in extra.items()):
            for combo in targets:
                combo.update(extra)
        else:
            combos.append(dict(entry))
    if not combos and (axes or include):
        problems.append(Problem(matrix.loc, "matrix", "every combination is excluded"))
    if len(combos) > MAX_COMBINATIONS:
        problems.append(Problem(matrix.loc, "matrix", f"{len(combos)} combinations; at most "
                                f"{MAX_COMBINATIONS} are allowed"))
        return []
    return combos


def _matches(combo: dict[str, str], entry: dict[str, str]) -> bool:
    return all(combo.get(k) == v for k, v in entry.items())


_PLAIN = re.compile(r"[A-Za-z0-9_]+")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_OTHER = re.compile(r"[^A-Za-z0-9_]+")
MAX_NAME = 128  # spec.NAME_RE


def _hash(combo: dict[str, str]) -> str:
    text = json.dumps(combo, sort_keys=True, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def _word(text: str) -> tuple[str, bool]:
    """``text`` as name characters, and whether that lost something (then a hash tells apart
    what reads the same): 0.01 -> 0p01, -1 -> m1, 1e-05 -> 1em05, "a/b" -> a_b (lossy)."""
    if _PLAIN.fullmatch(text):
        return text, False
    if _NUMBER.fullmatch(text):
        return text.replace("-", "m").replace("+", "").replace(".", "p"), False
    return _OTHER.sub("_", text).strip("_") or "x", True


def _name(group: str, combo: dict[str, str], with_hash: bool) -> str:
    words, lossy = [group], with_hash
    for key, value in combo.items():
        for part in (key, value):
            word, lost = _word(part)
            words.append(word)
            lossy = lossy or lost
    name = "_".join(words)
    if lossy or len(name) > MAX_NAME:
        name = f"{name[:MAX_NAME - 9]}_{_hash(combo)}"
    return name


def member_names(group: str, combos: list[dict[str, str]]) -> list[str]:
    """One job name per combination, made from the combination itself (sweep_lr_0p01_bs_8),
    so adding a value to the matrix renames no other member. A hash of the combination is
    appended when the name would be too long, when a value had characters a name cannot hold,
    or when two combinations would read the same."""
    names = [_name(group, combo, False) for combo in combos]
    counts = collections.Counter(names)
    return [_name(group, combo, True) if counts[name] > 1 else name
            for name, combo in zip(names, combos, strict=True)]
