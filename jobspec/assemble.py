"""From a located tree to validated models: target extends, the work limits, interpolation per
target (and per matrix member), and pydantic. No YAML here: loader.py reads the files."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from jobspec.checks import with_module_checked
from jobspec.diagnostics import Problem, SpecError, did_you_mean, display_path
from jobspec.interpolate import (
    BUILTINS,
    Budget,
    Context,
    TooLarge,
    interpolate,
    references,
    substitute,
)
from jobspec.located import LDict, LList, Loc, count_values, deep_merge, locate, plain
from jobspec.secrets import EnvReads, remember_written
from jobspec.spec import Spec
from jobspec.validation import describe, dotted, split_unset_env
from jobspec.validation import problems as validation_problems

MAX_TARGETS = 100
# Each target, and each matrix member, is checked with its own copy of the top-level values and
# of its extends chain: about 10 µs a value here. A 256-member sweep of 4 targets is ~60,000.
MAX_WORK = 100_000
_PER_TARGET = 10  # a model validation's fixed cost, in values


@dataclass(frozen=True)
class Loaded:
    path: Path  # absolute
    spec: Spec  # top-level values interpolated for `target`; targets that loaded cleanly
    target: str | None
    tree: Any = None  # the located data behind `spec`, for errors found after loading
    sources: dict[str, str] = field(default_factory=dict)
    matrix: dict[str, str] | None = None  # this member's matrix values
    group: str | None = None  # with a matrix: the group's name, and one Loaded per member
    members: tuple[Loaded, ...] = ()
    env_read: frozenset[str] = frozenset()  # environment variables interpolation read

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of the validated spec as canonical JSON. Computed on first use: `validate`
        never needs it, and it was a fourteenth of validating a spec (bench/README.md)."""
        import hashlib  # here: loading OpenSSL is ~3 ms of every command's start otherwise
        canonical = json.dumps(self.spec.model_dump(mode="json"), sort_keys=True,
                               separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def error(self, path: tuple[str | int, ...], message: str) -> SpecError:
        """A SpecError about a value that loaded fine but cannot be used (e.g. a runtime)."""
        where = locate(self.tree, path) or Loc(display_path(str(self.path)), 1, 1)
        return SpecError([Problem(where, dotted(path), message)], self.sources)


def check_work(root: LDict, targets: LDict, members: int, problems: list[Problem],
                sources: dict[str, str]) -> None:
    """Refuse, before doing it, work that copies multiply: a few aliases or a long extends
    chain in a file with many targets would otherwise take minutes to check."""
    where = root.key_locs["targets"]
    if len(targets) > MAX_TARGETS:
        raise SpecError(problems + [Problem(where, "targets", f"{len(targets)} targets; at most "
                                            f"{MAX_TARGETS} are allowed")], sources)
    memo: dict[int, int] = {}
    top = count_values(root, memo) - count_values(targets, memo)
    own = {name: count_values(body, memo) for name, body in targets.items()}
    work = 0
    for name in targets:
        seen: set[str] = set()
        current: Any = name
        while isinstance(current, str) and current in own and current not in seen:
            seen.add(current)
            work += own[current]
            body = targets[current]
            current = body.get("extends") if isinstance(body, LDict) else None
        work += top + _PER_TARGET
    work *= members
    if work > MAX_WORK:
        copies = f"{len(targets)} target(s)" + (f" x {members} matrix members" if members > 1
                                                else "")
        raise SpecError(problems + [Problem(where, "targets", f"too much to check: {copies} each "
                                            f"check their own copy of the {top:,} top-level "
                                            f"values, {work:,} values in all (at most "
                                            f"{MAX_WORK:,})")], sources)


def resolve_targets(targets: LDict, problems: list[Problem]) -> LDict:
    """Fill in each target's kind and merge `extends` chains; positions stay at their origin."""
    resolved = LDict(targets.loc)
    for name in targets:
        _resolve(name, (), targets, resolved, problems)
    return resolved


# A function of its own, not a closure: a nested function that calls itself is a reference
# cycle, which kept every spec's targets alive until the garbage collector's next pass.
def _resolve(name: str, chain: tuple[str, ...], targets: LDict, resolved: LDict,
             problems: list[Problem]) -> Any:
    if name in resolved:
        return resolved[name]
    body = targets[name]
    if not isinstance(body, LDict):
        return body  # the model reports the type
    parent = body.get("extends")
    if parent is not None:
        where = body.val_locs["extends"]
        path = f"targets.{name}.extends"
        if not isinstance(parent, str) or parent not in targets:
            choices = [t for t in targets if t != name]
            problems.append(Problem(where, path, f"no target named {parent!r} to extend"
                                    + did_you_mean(str(parent), choices)))
        elif parent == name or parent in chain:
            cycle = " -> ".join(chain + (name, parent))
            problems.append(Problem(where, path, f"extends forms a cycle: {cycle}"))
        else:
            base = _resolve(parent, chain + (name,), targets, resolved, problems)
            if isinstance(base, LDict):
                body = deep_merge(base, body)
                body.put("extends", parent, targets[name].key_locs["extends"], where)
    if "kind" not in body:
        kind = body.get("kind") or (name if name in ("local", "cloud") else None)
        if kind is None:
            problems.append(Problem(targets.key_locs[name], f"targets.{name}",
                                    "missing 'kind' (local or cloud): only targets named "
                                    "local or cloud may leave it out"))
            kind = "local"
        body = body.clone()
        body.put("kind", kind, targets.key_locs[name], targets.key_locs[name])
    elif body["kind"] not in ("local", "cloud"):
        problems.append(Problem(body.val_locs["kind"], f"targets.{name}.kind",
                                f"expected one of local, cloud, got {describe(body['kind'])}"
                                + did_you_mean(str(body["kind"]), ["local", "cloud"])))
    resolved.copy_entry(targets, name, body, use=True)
    return body


def _context(root: LDict, target: str, body: Any, env: Mapping[str, str],
             problems: list[Problem], budget: Budget) -> Context:
    ctx = Context(env=env, values={"target": target}, budget=budget)
    later = "cannot be used here: it is defined from this value"
    ctx.unavailable = {k: later for k in BUILTINS if k != "target"}
    name = root.get("name")
    if isinstance(name, str):
        ctx.values["name"] = substitute(name, ctx, root.val_locs["name"], "name", problems)
        del ctx.unavailable["name"]
    cloud = isinstance(body, LDict) and body.get("kind") == "cloud"
    if not cloud:
        for key in ("project", "region", "bucket"):
            ctx.unavailable[key] = f"is not defined: target {target!r} is not a cloud target"
        return ctx
    from jobspec.context import resolve_project, resolve_region

    defaults = {  # what the target leaves out: the cloud context's (no ADC at load time)
        "region": None if "region" in body else resolve_region(None, env)[0],
        "project": None if "project" in body else resolve_project(None, env)[0]}
    for key in ("region", "project", "bucket"):  # each may use the ones before it
        raw = body.get(key, defaults.get(key))
        if isinstance(raw, str):
            loc = body.val_locs.get(key, body.loc)
            ctx.values[key] = substitute(raw, ctx, loc, f"targets.{target}.{key}", problems)
            del ctx.unavailable[key]
        elif key == "project":
            ctx.unavailable[key] = (f"is not set: target {target!r} has no project, and neither "
                                    "GOOGLE_CLOUD_PROJECT nor CLOUDSDK_CORE_PROJECT nor the "
                                    "gcloud configuration names one")
        else:
            ctx.unavailable[key] = f"is not set: target {target!r} has no {key}"
    return ctx


def _as_written(data: LDict, target: str | None, texts: Mapping[Loc, str]) -> None:
    """The trainer's args and env values are text: `- 010` or `DEBUG: on` reach it as
    written, not as the 8 or true that YAML 1.1 reads."""
    _texts_of(data, texts)
    targets = data.get("targets")
    if target is not None and isinstance(targets, LDict):
        _texts_of(targets.get(target), texts)


def _texts_of(holder: Any, texts: Mapping[Loc, str]) -> None:
    if not isinstance(holder, LDict):
        return
    args, env = holder.get("args"), holder.get("env")
    if isinstance(args, LList):
        for i, item in enumerate(args):
            if not isinstance(item, str) and args.item_locs[i] in texts:
                args[i] = texts[args.item_locs[i]]
    if isinstance(env, LDict):
        for key, item in list(env.items()):
            if not isinstance(item, str) and env.val_locs[key] in texts:
                env[key] = texts[env.val_locs[key]]


def _one_target(root: LDict, targets: LDict, target: str | None, env: Mapping[str, str],
                base: Path, file: str, texts: Mapping[Loc, str], budget: Budget,
                matrix: dict[str, str] | None = None) -> tuple[Spec | None, LDict, list[Problem]]:
    problems: list[Problem] = []
    body = targets.get(target) if target is not None else None
    ctx = _context(root, target or "", body, env, problems, budget) if target is not None else (
        Context(env=env, unavailable={k: "is only defined inside a target" for k in BUILTINS},
                budget=budget))
    ctx.matrix = matrix
    late = _late_name(body, target)
    if late is not None:
        problems.append(late)
    data = LDict(root.loc)
    for key in root:
        if key == "targets":
            continue
        data.copy_entry(root, key, interpolate(root[key], ctx, root.val_locs[key], key, problems),
                        use=True)
    if "targets" in root:
        only = LDict(targets.loc)
        if target is not None:
            only.copy_entry(targets, target, interpolate(body, ctx, targets.val_locs[target],
                                                         f"targets.{target}", problems), use=True)
        # with no target to pick, targets is not a non-empty mapping: let the model say why
        data.copy_entry(root, "targets", only if target is not None else root["targets"],
                        use=True)
    _as_written(data, target, texts)
    as_plain = plain(data)
    try:
        spec = Spec.model_validate(as_plain, context={"base": str(base)})
    except ValidationError as exc:
        found = validation_problems(exc, data, as_plain, file)
        return None, data, problems + [p for p in found if not _follows(p, problems)]
    return (spec if not problems else None), data, problems


def _late_name(body: Any, target: str | None) -> Problem | None:
    """With name_suffix, the name is picked at submission (NAME_N or NAME_YYYYMMDD_HHMMSS) and
    the spec loaded again under it: a job_dir that does not say ${name} would stay in the base
    name's folder, outside the claim of the name the job gets."""
    if not isinstance(body, LDict) or body.get("kind") != "cloud":
        return None
    suffix, job_dir = body.get("name_suffix"), body.get("job_dir")
    if suffix not in ("counter", "timestamp") or not isinstance(job_dir, str):
        return None
    if body.get("job_dir_outside_claim") is True:
        return None
    found: set[str] = set()
    references(job_dir, found)
    if "name" in found:
        return None
    final = "NAME_N" if suffix == "counter" else "NAME_YYYYMMDD_HHMMSS"
    return Problem(body.val_locs["job_dir"], f"targets.{target}.job_dir",
                   f"expected a job_dir that uses ${{name}}, like gs://${{bucket}}/${{name}}, got "
                   f"{describe(job_dir)}: with name_suffix: {suffix} the job is named {final} when "
                   f"it is submitted, and only gs://BUCKET/{final}/ is claimed for it")


def _follows(problem: Problem, interpolation: list[Problem]) -> bool:
    """A model error about a value whose interpolation already failed repeats that error."""
    for earlier in interpolation:
        if earlier.path == problem.path:
            return True
        inside = earlier.path.startswith((problem.path + ".", problem.path + "["))
        if inside and "${" in problem.message:  # e.g. a labels rule quoting '${matrix.x}'
            return True
    return False


# The values a target's interpolation context holds that differ from target to target.
_PER_TARGET_NAMES = frozenset(BUILTINS) - {"name"}


def _all_at_once(root: LDict, targets: LDict, names: list[str | None], chosen: str | None,
                 env: Mapping[str, str], base: Path, texts: Mapping[Loc, str],
                 matrix: dict[str, str] | None, budget: Budget) -> tuple[Spec, LDict] | None:
    """The spec and the chosen target's tree in one model check, when nothing fails.

    Checking each target with its own copy of the top level (``_one_target``) is what errors
    need; a valid spec whose top level refers to no per-target value (${target}, ${bucket}...)
    gives the same values checked once with every target's interpolated body beside it: the
    models have no rule across targets. None (check target by target) at the first problem,
    so every error still comes from ``_one_target``, word for word.
    """
    if None in names:
        return None
    found: set[str] = set()
    for key, value in root.items():
        if key != "targets":
            references(value, found)
    if found & _PER_TARGET_NAMES:
        return None
    problems: list[Problem] = []
    data = LDict(root.loc)
    bodies = LDict(targets.loc)
    trial = Budget(budget.left)  # spent only if this succeeds: else target by target spends it
    for each in names:
        assert each is not None
        body = targets.get(each)
        if _late_name(body, each) is not None:
            return None
        ctx = _context(root, each, body, env, problems, trial)
        ctx.matrix = matrix
        if each == names[0]:  # the top level once: it reads only what every context shares
            for key in root:
                if key != "targets":
                    data.copy_entry(root, key, interpolate(root[key], ctx, root.val_locs[key],
                                                           key, problems), use=True)
            data.copy_entry(root, "targets", bodies, use=True)  # last, as in _one_target
        bodies.copy_entry(targets, each, interpolate(body, ctx, targets.val_locs[each],
                                                     f"targets.{each}", problems), use=True)
        if problems:
            return None
    _texts_of(data, texts)
    for body in bodies.values():
        _texts_of(body, texts)
    try:
        spec = Spec.model_validate(plain(data), context={"base": str(base)})
    except ValidationError:
        return None
    budget.left = trial.left
    assert chosen is not None
    tree = LDict(data.loc)  # what _one_target gives for the chosen target
    for key in data:
        if key == "targets":
            only = LDict(bodies.loc)
            only.copy_entry(bodies, chosen)
            tree.copy_entry(data, key, only, use=True)
        else:
            tree.copy_entry(data, key)
    return spec, tree


def assemble(root: LDict, targets: LDict, names: list[str | None], chosen: str | None,
              env: Mapping[str, str], path: Path, sources: dict[str, str],
              texts: Mapping[Loc, str], strict_all: bool, problems: list[Problem],
              matrix: dict[str, str] | None, budget: Budget | None = None,
              strict_env: bool = True) -> Loaded | None:
    """One validated spec (one matrix member): the chosen target strictly, the others kept when
    they load cleanly (or strictly too, for `validate`, `plan` and `run`). ``budget``: what
    interpolation may still add, shared by the members of one load. ``strict_env`` False: an
    unset ${VAR} in another target than the chosen one is no error (plan, run)."""
    budget = budget or Budget()
    seen = set(problems)
    nuls = nul_problems(root, sources)
    problems += [p for p in nuls if p not in seen]
    try:
        return _assemble(root, targets, names, chosen, env, path, sources, texts, strict_all,
                         problems, matrix, budget, {p.path for p in nuls}, strict_env)
    except TooLarge as exc:
        raise SpecError(problems + [exc.problem], sources) from None


def _assemble(root: LDict, targets: LDict, names: list[str | None], chosen: str | None,
              env: Mapping[str, str], path: Path, sources: dict[str, str],
              texts: Mapping[Loc, str], strict_all: bool, problems: list[Problem],
              matrix: dict[str, str] | None, budget: Budget, said: set[str],
              strict_env: bool = True) -> Loaded | None:
    """``said``: paths already reported (a NUL), whose model errors would repeat them."""
    resolved = path.resolve()
    base = resolved.parent
    reads = EnvReads(env)  # which variables were read: their values may be secrets
    env = reads
    remember_written(root, targets)  # errors below may show a line holding a secret
    at_once = _all_at_once(root, targets, names, chosen, env, base, texts, matrix, budget)
    if at_once is not None:
        return with_module_checked(Loaded(resolved, at_once[0], chosen, at_once[1], sources,
                                          matrix=matrix, env_read=frozenset(reads.names)),
                                   problems)
    file = display_path(str(path))
    specs: dict[str | None, Spec | None] = {}
    trees: dict[str | None, LDict] = {}
    for each in names:
        spec, trees[each], found = _one_target(root, targets, each, env, base, file, texts,
                                               budget, matrix)
        specs[each] = spec
        if strict_all or each == chosen:
            if each != chosen and not strict_env:
                found = split_unset_env(found)[0]
            seen = set(problems)  # a set: thousands of problems must not cost millions of steps
            problems += [p for p in found if p not in seen and p.path not in said]
    main = specs.get(chosen)
    if main is None:
        return None
    kept = {n: s.targets[n] for n, s in specs.items() if s is not None and n is not None}
    spec = main.model_copy(update={"targets": kept})
    return with_module_checked(Loaded(resolved, spec, chosen, trees[chosen], sources,
                                      matrix=matrix, env_read=frozenset(reads.names)),
                               problems)


def nul_problems(root: LDict, sources: Mapping[str, str]) -> list[Problem]:
    """Every key and text value holding a NUL: no argument, path, name or environment value
    can (the OS ends a C string there). YAML reads a NUL only from an escape in a quoted string
    (a raw one is refused by the reader) or from a --set or --name, so the walk runs only when
    a source holds a backslash or a NUL."""
    if not any("\\" in text or "\x00" in text for text in sources.values()):
        return []
    found: list[Problem] = []
    _find_nul(root, (), found)
    return found


def _find_nul(node: Any, path: tuple[str | int, ...], found: list[Problem]) -> None:
    if isinstance(node, LDict):
        for key, value in node.items():
            here = (*path, key)
            if "\x00" in key:
                found.append(Problem(node.key_locs[key], dotted(here),
                                     "expected a key without NUL characters, got "
                                     + describe(key)))
            if isinstance(value, str):
                if "\x00" in value:
                    found.append(Problem(node.val_locs[key], dotted(here),
                                         f"expected text without NUL characters, got "
                                         f"{describe(value)}"))
            else:
                _find_nul(value, here, found)
    elif isinstance(node, LList):
        for i, value in enumerate(node):
            if isinstance(value, str):
                if "\x00" in value:
                    found.append(Problem(node.item_locs[i], dotted((*path, i)),
                                         f"expected text without NUL characters, got "
                                         f"{describe(value)}"))
            else:
                _find_nul(value, (*path, i), found)


def rebase_package_path(base: LDict, base_dir: Path, spec_dir: Path) -> None:
    """package_path is relative to the file that wrote it: keep it pointing at the same folder."""
    trainer = base.get("trainer")
    if isinstance(trainer, LDict) and isinstance(trainer.get("package_path"), str):
        moved = os.path.relpath((base_dir / trainer["package_path"]).resolve(),
                                spec_dir.resolve())
        trainer.copy_entry(trainer, "package_path", moved, use=True)
