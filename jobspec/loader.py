"""Spec file → validated models: safe YAML with positions, then overrides, extends,
interpolation and the models. The only module that imports yaml.

PyYAML's composer is recursive and expands aliases on use, so a hostile file can exhaust the
stack or memory. Building the tree from the event stream here keeps every limit in one loop:
size, depth, aliases, expanded node count, tags and duplicate keys.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from jobspec.diagnostics import (
    Problem,
    SpecError,
    did_you_mean,
    display_path,
    yaml_syntax_problem,
)
from jobspec.errors import UsageError
from jobspec.interpolate import BUILTINS, Context, interpolate, substitute
from jobspec.located import LDict, LList, Loc, deep_merge, locate, plain
from jobspec.matrix import combinations, member_name
from jobspec.spec import Spec
from jobspec.validation import describe, dotted
from jobspec.validation import problems as validation_problems

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIASES = 64
MAX_NODES = 20_000
MAX_TARGETS = 100
# Each target, and each matrix member, is checked with its own copy of the top-level values and
# of its extends chain: about 10 µs a value here. A 256-member sweep of 4 targets is ~60,000.
MAX_WORK = 100_000
_PER_TARGET = 10  # a model validation's fixed cost, in values

Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_T = "tag:yaml.org,2002:"
_SAFE_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")}
_NODES = {"map": "mapping", "seq": "list"}
_CONSTRUCT = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()


def _line_col(before: str) -> tuple[int, int]:
    """1-based position just after ``before``, counting line breaks as the renderer does."""
    lines = (before + "x").splitlines()
    return len(lines), len(lines[-1])


def decode(data: bytes, file: str) -> str:
    if len(data) > MAX_BYTES:
        raise SpecError([Problem(Loc(file, 1, 1), "", f"file is larger than 1 MiB "
                                 f"({len(data):,} bytes); a job file never needs to be")])
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise SpecError([Problem(Loc(file, 1, 1), "", "not UTF-8 text: the file starts with a "
                                 "UTF-16 byte order mark; save it as UTF-8")])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        # everything before the first bad byte decodes, so the column can count characters
        line, col = _line_col(data[:exc.start].decode("utf-8").removeprefix("\ufeff"))
        shown = data.decode("utf-8", "replace").removeprefix("\ufeff")
        raise SpecError([Problem(Loc(file, line, col), "", f"not UTF-8 text (byte "
                                 f"0x{data[exc.start]:02x}); save the file as UTF-8")],
                        {file: shown}) from None
    return text.removeprefix("\ufeff")


def _loc(file: str, mark: Any) -> Loc:
    return Loc(file, mark.line + 1, mark.column + 1)


# what an explicit or implicit tag promises, for "'x' is not a valid boolean"
_KINDS = {_T + "int": "whole number", _T + "float": "number", _T + "bool": "boolean",
          _T + "null": "null"}


_IMPLICIT: dict[tuple[str, Any], str] = {}


def _implicit_tag(value: str, implicit: Any) -> str:
    """The tag YAML gives an untagged scalar, memoised: the resolver's regex walk was a tenth of
    build() in `jobspec validate` over many files (bench/README.md), and keys repeat."""
    tag = _IMPLICIT.get((value, implicit))
    if tag is None:
        tag = _RESOLVER.resolve(yaml.ScalarNode, value, implicit)
        if len(value) <= 64 and len(_IMPLICIT) < 4096:
            _IMPLICIT[(value, implicit)] = tag
    return tag


def _scalar(event: Any, tag: str | None) -> Any:
    if tag is None:
        tag = _implicit_tag(event.value, event.implicit)
    if tag not in _KINDS:
        # dates stay as written (jobspec has no date fields); a bare `<<` or `=` as a value is
        # text: the merge and value tags only mean something as keys
        return event.value
    node = yaml.ScalarNode(tag, event.value)
    try:
        return _CONSTRUCT.yaml_constructors[tag](_CONSTRUCT, node)
    except (ValueError, LookupError, TypeError):
        raise ValueError(f"{event.value!r} is not a valid {_KINDS[tag]}") from None


def _flow_too_deep(text: str, file: str) -> Loc | None:
    """Where flow brackets first nest past MAX_DEPTH (what our own check would report), for a
    libyaml that refuses deep nesting before it hands us the events. A block mapping at the
    top counts as one level, as it does for the builder; deeper block levels are not counted,
    so for flow nested inside block mappings this points a little late."""
    depth = 0 if text.lstrip().startswith(("[", "{")) else 1
    line, col, quote = 1, 0, ""
    for char in text:
        col += 1
        if char == "\n":
            line, col = line + 1, 0
        elif quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                return Loc(file, line, col)
        elif char in "]}":
            depth -= 1
    return None


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.stack: list[list[Any]] = []  # [container, pending key or None, key loc, merges]
        self.anchors: dict[str, Any] = {}
        # expanded size of each finished container: an alias adds its target's size without
        # walking it again (walking a shared subtree per alias would be exponential)
        self.sizes: dict[int, int] = {}
        self.texts: dict[Loc, str] = {}  # plain scalars YAML typed (010, on): what was written
        self.anchor_texts: dict[str, str] = {}
        self.aliases = 0
        self.nodes = 0
        self.root: Any = None
        self.problems: list[Problem] = []

    def fail(self, mark: Any, message: str) -> SpecError:
        return SpecError(self.problems + [Problem(_loc(self.file, mark), "", message)])

    def count(self, n: int, mark: Any) -> None:
        self.nodes += n
        if self.nodes > MAX_NODES:
            raise self.fail(mark, f"more than {MAX_NODES:,} values after expanding aliases")

    def check_tag(self, tag: str | None, mark: Any, node: str = "scalar") -> str | None:
        if tag is None or tag == "!":
            return tag
        shown = tag.replace(_T, "!!")
        if node != "scalar" and tag in _SAFE_TAGS and tag != _T + node:
            raise self.fail(mark, f"YAML tag {shown!r} does not fit a {_NODES[node]}")
        if node == "scalar" and tag in (_T + "map", _T + "seq"):
            raise self.fail(mark, f"YAML tag {shown!r} does not fit a single value")
        if tag in _SAFE_TAGS:
            return tag
        raise self.fail(mark, f"YAML tag {shown!r} is not allowed: a job file holds plain data "
                              "(strings, numbers, booleans, lists and mappings) only")

    def add(self, value: Any, mark: Any, anchor: str | None, key_tag: str | None = None) -> None:
        loc = _loc(self.file, mark)
        if anchor is not None:
            self.anchors[anchor] = value
        if not self.stack:
            self.root = value
            return
        frame = self.stack[-1]
        container = frame[0]
        if isinstance(container, LList):
            container.push(value, loc)
        elif frame[1] is None:  # this is a key
            if isinstance(value, (LDict, LList)):
                raise self.fail(mark, "a mapping key must be a plain value")
            frame[1] = "<<" if key_tag == _T + "merge" else value
            frame[2] = loc
        else:
            key, key_loc = frame[1], frame[2]
            frame[1] = None
            if key == "<<":
                frame[3].append((value, mark))
                return
            if key in container:
                first = container.key_locs[key]
                self.problems.append(Problem(key_loc, "", f"duplicate key {key!r} (first defined "
                                             f"at line {first.line}); YAML would keep only one"))
            container.put(key, value, key_loc, loc)

    def merge(self, container: LDict, merges: list[tuple[Any, Any]]) -> None:
        for value, mark in merges:
            sources = value if isinstance(value, LList) else [value]
            for source in sources:
                if not isinstance(source, LDict):
                    raise self.fail(mark, "a merge key '<<' needs a mapping or a list of mappings")
                for key in source:
                    if key not in container:
                        container.copy_entry(source, key)


def build(text: str, file: str, texts: dict[Loc, str] | None = None) -> Any:
    """The located tree of a single-document YAML text. ``texts`` receives the written text
    of each untagged plain scalar that YAML read as a number or boolean, by position."""
    builder = _Builder(file)
    documents = 0
    try:
        events: Any = yaml.parse(text, Loader=Parser)
        for event in events:
            kind = type(event)
            if kind is yaml.ScalarEvent:
                builder.count(1, event.start_mark)
                tag = builder.check_tag(event.tag, event.start_mark)
                is_key = (bool(builder.stack) and isinstance(builder.stack[-1][0], LDict)
                          and builder.stack[-1][1] is None)
                if is_key:
                    resolved = tag or _implicit_tag(event.value, event.implicit)
                    builder.add(event.value, event.start_mark, event.anchor, resolved)
                    continue
                try:
                    value = _scalar(event, tag)
                except ValueError as exc:
                    raise builder.fail(event.start_mark, str(exc)) from None
                if tag is None and event.implicit[0] and isinstance(value, (int, float)):
                    builder.texts[_loc(file, event.start_mark)] = event.value
                    if event.anchor is not None:
                        builder.anchor_texts[event.anchor] = event.value
                builder.add(value, event.start_mark, event.anchor)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                builder.count(1, event.start_mark)
                builder.check_tag(event.tag, event.start_mark,
                                  "map" if kind is yaml.MappingStartEvent else "seq")
                if len(builder.stack) >= MAX_DEPTH:
                    raise builder.fail(event.start_mark,
                                       f"nesting deeper than {MAX_DEPTH} levels")
                loc = _loc(file, event.start_mark)
                container: Any = LDict(loc) if kind is yaml.MappingStartEvent else LList(loc)
                builder.stack.append([container, None, None, [], event.anchor, event.start_mark])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                container, _, _, merges, anchor, mark = builder.stack.pop()
                if merges:
                    builder.merge(container, merges)
                children = container.values() if isinstance(container, LDict) else container
                builder.sizes[id(container)] = 1 + sum(builder.sizes.get(id(c), 1)
                                                       for c in children)
                builder.add(container, mark, anchor)
            elif kind is yaml.AliasEvent:
                builder.aliases += 1
                if builder.aliases > MAX_ALIASES:
                    raise builder.fail(event.start_mark, f"more than {MAX_ALIASES} aliases; a job "
                                       "file needs only a few")
                if event.anchor not in builder.anchors:
                    raise builder.fail(event.start_mark, f"unknown alias *{event.anchor}")
                target = builder.anchors[event.anchor]
                frame = builder.stack[-1] if builder.stack else None
                if frame is not None and isinstance(frame[0], LDict) and frame[1] is None:
                    raise builder.fail(event.start_mark, f"an alias (*{event.anchor}) cannot be "
                                       "a mapping key")
                builder.count(builder.sizes.get(id(target), 1), event.start_mark)
                if event.anchor in builder.anchor_texts:
                    builder.texts[_loc(file, event.start_mark)] = builder.anchor_texts[event.anchor]
                builder.add(target, event.start_mark, None)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise builder.fail(event.start_mark,
                                       "more than one YAML document; a job file holds one")
    except yaml.MarkedYAMLError as exc:
        def at(mark: Any) -> tuple[int, int] | None:
            return None if mark is None else (mark.line, mark.column)

        if "maximum nesting depth" in str(exc.problem):
            # newer libyaml stops deep flow nesting itself, reading ahead of the events that
            # our own depth check sees: same verdict, in the same words
            mark = exc.problem_mark or exc.context_mark
            where = _flow_too_deep(text, file) or _loc(file, mark)
            raise SpecError([Problem(where, "", f"nesting deeper than {MAX_DEPTH} "
                                     "levels")], {file: text}) from None
        problem = yaml_syntax_problem(file, text, exc.problem, at(exc.problem_mark),
                                      exc.context, at(exc.context_mark))
        raise SpecError(builder.problems + [problem], {file: text}) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids: no mark, a position
        line, col = _line_col(text[:exc.position])
        raise SpecError([Problem(Loc(file, line, col), "", f"the character U+{exc.character:04X} "
                                 "is not allowed in YAML (control characters must be escaped "
                                 "in a double-quoted string)")], {file: text}) from None
    except yaml.YAMLError as exc:
        raise SpecError([Problem(Loc(file, 1, 1), "", f"YAML error: {exc}")],
                        {file: text}) from None
    except SpecError as exc:
        exc.sources = {file: text}
        raise SpecError(exc.problems, {file: text}) from None
    if builder.problems:
        raise SpecError(builder.problems, {file: text})
    if texts is not None:
        texts.update(builder.texts)
    return builder.root


def parse_value(text: str, file: str, column: int = 1,
                texts: dict[Loc, str] | None = None) -> Any:
    """One value from the command line (``--set k=v``), read as safe YAML: 2 → int, x → str.
    ``column`` is where the value starts in ``file``, so positions inside it point there."""
    if not text.strip():
        return ""
    pad = " " * (column - 1) if not any(c in text for c in "\r\n\x85\u2028\u2029") else ""
    return build(pad + text, file, texts)


# ---------------------------------------------------------------------------------------------
# The pipeline: file → tree → overrides → target extends → interpolation → models


@dataclass(frozen=True)
class Loaded:
    path: Path  # absolute
    spec: Spec  # top-level values interpolated for `target`; targets that loaded cleanly
    target: str | None
    fingerprint: str  # sha256 of the validated spec, canonical JSON
    tree: Any = None  # the located data behind `spec`, for errors found after loading
    sources: dict[str, str] = field(default_factory=dict)
    matrix: dict[str, str] | None = None  # this member's matrix values
    group: str | None = None  # with a matrix: the group's name, and one Loaded per member
    members: tuple[Loaded, ...] = ()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def error(self, path: tuple[str | int, ...], message: str) -> SpecError:
        """A SpecError about a value that loaded fine but cannot be used (e.g. a runtime)."""
        where = locate(self.tree, path) or Loc(display_path(str(self.path)), 1, 1)
        return SpecError([Problem(where, dotted(path), message)], self.sources)


def read(path: Path, file: str) -> str:
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_BYTES + 1)
            if len(data) > MAX_BYTES:
                size = fh.seek(0, 2)
                raise SpecError([Problem(Loc(file, 1, 1), "", f"file is larger than 1 MiB "
                                         f"({size:,} bytes); a job file never needs to be")])
    except FileNotFoundError:
        raise UsageError(f"{file}: no such spec file") from None
    except IsADirectoryError:
        raise UsageError(f"{file}: is a folder, not a spec file") from None
    except PermissionError:
        raise UsageError(f"{file}: permission denied") from None
    except (OSError, ValueError) as exc:  # a name too long, a file used as a folder, a NUL
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{file}: cannot be read: {reason}") from None
    return decode(data, file)


def apply_set(root: LDict, assignment: str, texts: dict[Loc, str] | None = None) -> list[Problem]:
    """``--set targets.cloud.region=europe-west1``: the value is read as one safe YAML scalar."""
    label = f"--set {assignment}"
    start = len("--set ") + 1  # columns count in the label, as the error shows it
    key, sep, raw = assignment.partition("=")
    if not sep or not key.strip():
        return [Problem(Loc(label, 1, start), "", "expected KEY.PATH=VALUE")]
    loc = Loc(label, 1, start + len(key) + 1)
    try:
        value = parse_value(raw, label, loc.col, texts)
    except SpecError as exc:
        return exc.problems
    node: Any = root
    parts = key.split(".")
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
            node = node[part]
        elif isinstance(node, LList) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return [Problem(here, key, f"cannot set {part!r}: its parent is not a mapping")]
    return []


def _size(value: Any, memo: dict[int, int]) -> int:
    """Values in ``value`` with aliases expanded; shared (aliased) containers counted once."""
    if not isinstance(value, (LDict, LList)):
        return 1
    if id(value) not in memo:
        items = value.values() if isinstance(value, LDict) else value
        memo[id(value)] = 1 + sum(_size(v, memo) for v in items)
    return memo[id(value)]


def _check_work(root: LDict, targets: LDict, members: int, problems: list[Problem],
                sources: dict[str, str]) -> None:
    """Refuse, before doing it, work that copies multiply: a few aliases or a long extends
    chain in a file with many targets would otherwise take minutes to check."""
    where = root.key_locs["targets"]
    if len(targets) > MAX_TARGETS:
        raise SpecError(problems + [Problem(where, "targets", f"{len(targets)} targets; at most "
                                            f"{MAX_TARGETS} are allowed")], sources)
    memo: dict[int, int] = {}
    top = _size(root, memo) - _size(targets, memo)
    own = {name: _size(body, memo) for name, body in targets.items()}
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


def _resolve_targets(targets: LDict, problems: list[Problem]) -> LDict:
    """Fill in each target's kind and merge `extends` chains; positions stay at their origin."""
    resolved = LDict(targets.loc)

    def resolve(name: str, chain: tuple[str, ...]) -> Any:
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
                base = resolve(parent, chain + (name,))
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
            merged = LDict(body.loc)
            for key in body:
                merged.copy_entry(body, key)
            merged.put("kind", kind, targets.key_locs[name], targets.key_locs[name])
            body = merged
        elif body["kind"] not in ("local", "cloud"):
            problems.append(Problem(body.val_locs["kind"], f"targets.{name}.kind",
                                    f"expected one of local, cloud, got {describe(body['kind'])}"
                                    + did_you_mean(str(body["kind"]), ["local", "cloud"])))
        resolved.copy_entry(targets, name, body, use=True)
        return body

    for name in targets:
        resolve(name, ())
    return resolved


def _context(root: LDict, target: str, body: Any, env: Mapping[str, str],
             problems: list[Problem]) -> Context:
    ctx = Context(env=env, values={"target": target})
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
    fallback = env.get("GOOGLE_CLOUD_PROJECT") or env.get("CLOUDSDK_CORE_PROJECT")
    defaults = {"region": "us-central1", "project": fallback}
    for key in ("region", "project", "bucket"):  # each may use the ones before it
        raw = body.get(key, defaults.get(key))
        if isinstance(raw, str):
            loc = body.val_locs.get(key, body.loc)
            ctx.values[key] = substitute(raw, ctx, loc, f"targets.{target}.{key}", problems)
            del ctx.unavailable[key]
        elif key == "project":
            ctx.unavailable[key] = (f"is not set: target {target!r} has no project, and neither "
                                    "GOOGLE_CLOUD_PROJECT nor CLOUDSDK_CORE_PROJECT is set")
        else:
            ctx.unavailable[key] = f"is not set: target {target!r} has no {key}"
    return ctx


def _as_written(data: LDict, target: str | None, texts: Mapping[Loc, str]) -> None:
    """The trainer's args and env values are text: `- 010` or `DEBUG: on` reach it as
    written, not as the 8 or true that YAML 1.1 reads."""
    holders: list[Any] = [data]
    targets = data.get("targets")
    if target is not None and isinstance(targets, LDict):
        holders.append(targets.get(target))
    for holder in holders:
        if not isinstance(holder, LDict):
            continue
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
                base: Path, file: str, texts: Mapping[Loc, str],
                matrix: dict[str, str] | None = None) -> tuple[Spec | None, LDict, list[Problem]]:
    problems: list[Problem] = []
    body = targets.get(target) if target is not None else None
    ctx = _context(root, target or "", body, env, problems) if target is not None else Context(
        env=env, unavailable={k: "is only defined inside a target" for k in BUILTINS})
    ctx.matrix = matrix
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


def _follows(problem: Problem, interpolation: list[Problem]) -> bool:
    """A model error about a value whose interpolation already failed repeats that error."""
    for earlier in interpolation:
        if earlier.path == problem.path:
            return True
        inside = earlier.path.startswith((problem.path + ".", problem.path + "["))
        if inside and "${" in problem.message:  # e.g. a labels rule quoting '${matrix.x}'
            return True
    return False


def load(path: Path | str, *, target: str | None = None, overrides: Sequence[str] = (),
         name: str | None = None, env: Mapping[str, str] | None = None,
         strict_all: bool = False) -> Loaded:
    """Load and validate a spec. ``strict_all`` (validate) makes every target's errors count;
    otherwise only ``target``'s do, and other targets are kept when they load cleanly."""
    env = os.environ if env is None else env
    path = Path(path)
    file = display_path(str(path))
    text = read(path, file)
    sources = {file: text}
    texts: dict[Loc, str] = {}
    root = build(text, file, texts)
    if not isinstance(root, LDict):
        raise SpecError([Problem(Loc(file, 1, 1), "", "expected a mapping of keys at the top "
                                 f"level, got {describe(plain(root))}")], sources)
    problems: list[Problem] = []
    if root.get("extends") is not None:  # resolve() walks the path: only pay it when needed
        root = _file_extends(root, path, sources, texts, (path.resolve(),))
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
        _check_work(root, raw_targets, max(len(combos), 1), problems, sources)
    targets = _resolve_targets(raw_targets, problems) if isinstance(raw_targets, LDict) else (
        LDict(root.loc))
    if target is not None and isinstance(raw_targets, LDict) and target not in targets:
        known = ", ".join(targets) or "none"
        raise UsageError(f"{file}: no target named {target!r}{did_you_mean(target, targets)}; "
                         f"the spec has: {known}")
    names: list[str | None] = (list(targets) if isinstance(raw_targets, LDict) and targets
                               else [None])
    chosen = target if target in names else names[0]  # targets not a mapping: say why
    if not combos:
        loaded = _assemble(root, targets, names, chosen, env, path, sources, texts, strict_all,
                           problems, None)
        if problems or loaded is None:
            raise SpecError(problems, sources)
        return loaded
    group = root.get("name")
    members = []
    for index, combo in enumerate(combos):
        member_root = LDict(root.loc)
        for key in root:
            member_root.copy_entry(root, key)
        if isinstance(group, str):
            member_root.copy_entry(root, "name", member_name(group, index), use=True)
        member = _assemble(member_root, targets, names, chosen, env, path, sources, texts,
                           strict_all, problems, combo)
        if member is not None:
            members.append(member)
    if problems or len(members) != len(combos):
        raise SpecError(problems, sources)
    first = members[0]
    return Loaded(first.path, first.spec, chosen, first.fingerprint, first.tree, sources,
                  group=str(group), members=tuple(members))


def _assemble(root: LDict, targets: LDict, names: list[str | None], chosen: str | None,
              env: Mapping[str, str], path: Path, sources: dict[str, str],
              texts: Mapping[Loc, str], strict_all: bool, problems: list[Problem],
              matrix: dict[str, str] | None) -> Loaded | None:
    """One validated spec (one matrix member): the chosen target strictly, the others kept when
    they load cleanly (or strictly too, for `validate`)."""
    resolved = path.resolve()
    base = resolved.parent
    file = display_path(str(path))
    specs: dict[str | None, Spec | None] = {}
    trees: dict[str | None, LDict] = {}
    for each in names:
        spec, trees[each], found = _one_target(root, targets, each, env, base, file, texts,
                                               matrix)
        specs[each] = spec
        if strict_all or each == chosen:
            seen = set(problems)  # a set: thousands of problems must not cost millions of steps
            problems += [p for p in found if p not in seen]
    main = specs.get(chosen)
    if main is None:
        return None
    kept = {n: s.targets[n] for n, s in specs.items() if s is not None and n is not None}
    spec = main.model_copy(update={"targets": kept})
    canonical = json.dumps(spec.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    fingerprint = hashlib.sha256(canonical.encode()).hexdigest()
    return Loaded(resolved, spec, chosen, fingerprint, trees[chosen], sources,
                  matrix=matrix)


def _file_extends(root: LDict, path: Path, sources: dict[str, str], texts: dict[Loc, str],
                  chain: tuple[Path, ...]) -> LDict:
    """`extends: ../base.yaml`: the base file loads first, then this file merges onto it
    (mappings deeply; lists and scalars replace). Values keep the file they came from."""
    parent = root.get("extends")
    if parent is None:
        return root
    where = root.val_locs["extends"]
    if not isinstance(parent, str) or not parent:
        raise SpecError([Problem(where, "extends", "expected the path of a base spec file")],
                        sources)
    base_path = Path(os.path.normpath(path.parent / parent))
    if base_path.resolve() in chain:
        cycle = " -> ".join(display_path(str(p)) for p in (*chain, base_path.resolve()))
        raise SpecError([Problem(where, "extends", f"extends forms a cycle: {cycle}")], sources)
    base_file = display_path(str(base_path))
    try:
        text = read(base_path, base_file)
    except UsageError as exc:
        raise SpecError([Problem(where, "extends", exc.message)], sources) from None
    sources[base_file] = text
    try:
        base = build(text, base_file, texts)
    except SpecError as exc:
        raise SpecError(exc.problems, {**sources, **exc.sources}) from None
    if not isinstance(base, LDict):
        raise SpecError([Problem(Loc(base_file, 1, 1), "", "expected a mapping of keys at the "
                                 "top level of a base spec")], sources)
    base = _file_extends(base, base_path, sources, texts, (*chain, base_path.resolve()))
    _rebase_package_path(base, base_path.parent, path.parent)
    child = LDict(root.loc)
    for key in root:
        if key != "extends":
            child.copy_entry(root, key)
    merged: LDict = deep_merge(base, child)
    return merged


def _rebase_package_path(base: LDict, base_dir: Path, spec_dir: Path) -> None:
    """package_path is relative to the file that wrote it: keep it pointing at the same folder."""
    trainer = base.get("trainer")
    if isinstance(trainer, LDict) and isinstance(trainer.get("package_path"), str):
        moved = os.path.relpath((base_dir / trainer["package_path"]).resolve(),
                                spec_dir.resolve())
        trainer.copy_entry(trainer, "package_path", moved, use=True)


# ---------------------------------------------------------------------------------------------
# Other YAML that jobspec reads or writes (`jobspec import`): same safe reader, one writer


def read_yaml(path: Path) -> Any:
    """A data file (a gcloud --config) as a located tree, with the spec reader's safety limits."""
    file = display_path(str(path))
    return build(read(path, file), file)


def dump(data: Any) -> str:
    """Plain data as block-style YAML in the given key order; safe_dump quotes what needs it."""
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                               allow_unicode=True, width=1 << 16)
    return text
