"""Spec file → validated models: the pipeline. The file is read (specfile, yamlread), its base
files merged (extends), --name and --set applied (overrides), then each target and matrix
member interpolated and validated (assemble).

The names other code imported from here before the split (build, read, dump, MAX_ALIASES...)
live in the modules below and are re-exported. Imports flow one way: loader → extends and
overrides → specfile → yamlread (the only module that imports yaml).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobspec.assemble import Loaded, assemble, check_work, resolve_targets
from jobspec.diagnostics import Problem, SpecError, did_you_mean, display_path
from jobspec.errors import UsageError
from jobspec.extends import extends_roots, file_extends
from jobspec.interpolate import Budget
from jobspec.located import LDict, Loc, plain
from jobspec.matrix import combinations, member_names
from jobspec.overrides import apply_set
from jobspec.specfile import NotSpec, parse_file, read
from jobspec.validation import describe
from jobspec.yamlread import MAX_ALIASES, build, dump, parse_value

# what other code imported from here before the split; new code imports from the module itself
__all__ = ["MAX_ALIASES", "apply_set", "build", "dump", "load", "parse_value", "read"]


def load(path: Path | str, *, target: str | None = None, overrides: Sequence[str] = (),
         name: str | None = None, env: Mapping[str, str] | None = None,
         strict_all: bool = False, strict_env: bool = True) -> Loaded:
    """Load and validate a spec. ``strict_all`` (validate, plan, run) makes every target's
    errors count; otherwise only ``target``'s do, and other targets are kept when they load
    cleanly. ``strict_env`` False: an unset ${VAR} counts only in ``target`` (plan, run)."""
    env = os.environ if env is None else env
    path = Path(path)
    file = display_path(str(path))
    texts: dict[Loc, str] = {}
    try:
        root, text = parse_file(path, file, texts)
    except NotSpec as exc:
        raise SpecError([Problem(Loc(file, 1, 1), "", f"not a spec file: {exc}; no line of it "
                                 "is shown")]) from None
    sources = {file: text}
    if not isinstance(root, LDict):
        raise SpecError([Problem(Loc(file, 1, 1), "", "expected a mapping of keys at the top "
                                 f"level, got {describe(plain(root))}")], sources)
    problems: list[Problem] = []
    if root.get("extends") is not None:  # resolve() walks the path: only pay it when needed
        root = file_extends(root, path, sources, texts, (path.resolve(),),
                            extends_roots(path, env))
    if name is not None:
        label = f"--name {name}"
        root.put("name", name, Loc(label, 1, 1), Loc(label, 1, 8))
        sources[label] = label
    for assignment in overrides:
        problems += apply_set(root, assignment, texts)
        sources[f"--set {assignment}"] = f"--set {assignment}"
    raw_targets = root.get("targets")
    combos = combinations(root.get("matrix"), problems)
    if isinstance(raw_targets, LDict):
        check_work(root, raw_targets, max(len(combos), 1), problems, sources)
    targets = resolve_targets(raw_targets, problems) if isinstance(raw_targets, LDict) else (
        LDict(root.loc))
    if target is not None and isinstance(raw_targets, LDict) and target not in targets:
        known = ", ".join(targets) or "none"
        raise UsageError(f"{file}: no target named {target!r}{did_you_mean(target, targets)}; "
                         f"the spec has: {known}")
    names: list[str | None] = (list(targets) if isinstance(raw_targets, LDict) and targets
                               else [None])
    chosen = target if target in names else names[0]  # targets not a mapping: say why
    budget = Budget()  # what interpolation may add, over every target and member
    if not combos:
        loaded = assemble(root, targets, names, chosen, env, path, sources, texts, strict_all,
                           problems, None, budget, strict_env)
        if problems or loaded is None:
            raise SpecError(problems, sources)
        return loaded
    group = root.get("name")
    members = []
    names_of = member_names(group, combos) if isinstance(group, str) else []
    for index, combo in enumerate(combos):
        member_root = LDict(root.loc)
        for key in root:
            member_root.copy_entry(root, key)
        if isinstance(group, str):
            member_root.copy_entry(root, "name", names_of[index], use=True)
        member = assemble(member_root, targets, names, chosen, env, path, sources, texts,
                           strict_all, problems, combo, budget, strict_env)
        if member is not None:
            members.append(member)
    if problems or len(members) != len(combos):
        raise SpecError(problems, sources)
    first = members[0]
    return Loaded(first.path, first.spec, chosen, first.tree, sources,
                  group=str(group), members=tuple(members))
