"""`--set KEY.PATH=VALUE` on the command line: one safe YAML value put into the spec's tree."""

from __future__ import annotations

from typing import Any

from jobspec.diagnostics import Problem, SpecError
from jobspec.located import LDict, LList, Loc
from jobspec.validation import describe
from jobspec.yamlread import parse_value

MAX_SET_LENGTH = 1 << 16  # one --set, key and value: a command line, not a file
MAX_SET_DEPTH = 32  # keys in a --set path; the file itself nests at most MAX_DEPTH


def apply_set(root: LDict, assignment: str, texts: dict[Loc, str] | None = None) -> list[Problem]:
    """``--set targets.cloud.region=europe-west1``: the value is read as one safe YAML scalar."""
    label = f"--set {assignment}"
    start = len("--set ") + 1  # columns count in the label, as the error shows it
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        return [Problem(Loc(label, 1, start), "", "expected KEY.PATH=VALUE")]
    if len(assignment) > MAX_SET_LENGTH:
        return [Problem(Loc(label, 1, start), "", f"expected at most {MAX_SET_LENGTH:,} "
                        f"characters in one --set, got {len(assignment):,}")]
    parts = key.split(".")
    if len(parts) > MAX_SET_DEPTH:
        return [Problem(Loc(label, 1, start), key[:200], f"expected at most {MAX_SET_DEPTH} keys "
                        f"in a --set path, got {len(parts):,}")]
    if parts == ["extends"]:
        # the base file is read and merged before overrides apply: setting it would change
        # nothing while looking as if it did
        return [Problem(Loc(label, 1, start), key, "the top-level extends cannot be set on the "
                        "command line: it names the base file, which is merged before --set "
                        "applies; edit the spec's extends instead")]
    loc = Loc(label, 1, start + len(key) + 1)
    try:
        value = parse_value(raw, label, loc.col, texts)
    except SpecError as exc:
        return exc.problems
    node: Any = root
    for i, part in enumerate(parts):
        here = Loc(label, 1, start + len(".".join(parts[:i])) + (1 if i else 0))
        if not part:
            return [Problem(here, key, "empty key in the path")]
        if isinstance(node, LDict) and i < len(parts) - 1 and node.get(part) is not None and (
                not isinstance(node[part], (LDict, LList))):
            return [Problem(here, key, f"{'.'.join(parts[:i + 1])} is {describe(node[part])}, "
                            f"so it has no key {parts[i + 1]!r}")]
        if i == len(parts) - 1:
            if isinstance(node, LList) and part.isdigit() and int(part) < len(node):
                node[int(part)] = value
                node.item_locs[int(part)] = loc
            elif isinstance(node, LDict):
                node.put(part, value, here, loc)
            else:
                return [Problem(here, key, f"cannot set {part!r}: its parent is not a mapping")]
        elif isinstance(node, LDict):
            if not isinstance(node.get(part), (LDict, LList)):
                node.put(part, LDict(here), here, here)
            else:  # copy on write: a YAML alias or merge key may share it with other places
                node[part] = node[part].clone()
            node = node[part]
        elif isinstance(node, LList) and part.isdigit() and int(part) < len(node):
            if isinstance(node[int(part)], (LDict, LList)):  # copy on write, as above
                node[int(part)] = node[int(part)].clone()
            node = node[int(part)]
        else:
            return [Problem(here, key, f"cannot set {part!r}: its parent is not a mapping")]
    return []
