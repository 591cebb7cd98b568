"""Spec file → validated models: safe YAML with positions, then overrides, extends,
interpolation and the models. The only module that imports yaml.

PyYAML's composer is recursive and expands aliases on use, so a hostile file can exhaust the
stack or memory. Building the tree from the event stream here keeps every limit in one loop:
size, depth, aliases, expanded node count, tags and duplicate keys.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from jobspec.assemble import (
    Loaded,
    assemble,
    check_work,
    rebase_package_path,
    resolve_targets,
)
from jobspec.diagnostics import (
    Problem,
    SpecError,
    did_you_mean,
    display_path,
    yaml_syntax_problem,
)
from jobspec.errors import UsageError
from jobspec.fileread import Refused, read_regular
from jobspec.interpolate import Budget
from jobspec.located import LDict, LList, Loc, count_values, deep_merge, plain
from jobspec.matrix import combinations, member_names
from jobspec.spec import Spec
from jobspec.validation import describe

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIASES = 64
MAX_NODES = 20_000
MAX_EXTENDS = 16  # files in one extends chain, the spec itself included
ALLOW_VAR = "JOBSPEC_EXTENDS_ALLOW"

Parser: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_T = "tag:yaml.org,2002:"
_SAFE_TAGS = {_T + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "merge")}
_NODES = {"map": "mapping", "seq": "list"}
_CONSTRUCT = yaml.constructor.SafeConstructor()
_RESOLVER: Any = yaml.resolver.Resolver()
SPEC_KEYS = frozenset(Spec.model_fields)


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
# first characters of the plain scalars that YAML may read as something other than text ("" for
# the empty one); the others are text without asking the resolver
_TYPED_FIRST = frozenset(k for k in _RESOLVER.yaml_implicit_resolvers if k is not None)
_ANY_FIRST = None in _RESOLVER.yaml_implicit_resolvers


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


_SCALAR, _ALIAS, _DOCUMENT = yaml.ScalarEvent, yaml.AliasEvent, yaml.DocumentStartEvent
_MAP, _SEQ = yaml.MappingStartEvent, yaml.SequenceStartEvent
_ENDS = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
_MERGE = _T + "merge"


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def fail(self, mark: Any, message: str) -> SpecError:
        return SpecError(self.problems + [Problem(_loc(self.file, mark), "", message)])

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

    def merge(self, container: LDict, merges: list[tuple[Any, Any]]) -> None:
        for value, mark in merges:
            sources = value if isinstance(value, LList) else [value]
            for source in sources:
                if not isinstance(source, LDict):
                    raise self.fail(mark, "a merge key '<<' needs a mapping or a list of mappings")
                for key in source:
                    if key not in container:
                        container.copy_entry(source, key)

    def run(self, text: str, texts: dict[Loc, str]) -> Any:
        """The tree of ``text``. One loop over the events with its state in local variables:
        it runs for every value of every spec, and was a third of `jobspec validate`."""
        file, problems = self.file, self.problems
        # a frame: [container, is a mapping, pending key or None, key loc, merges, anchor, mark]
        stack: list[list[Any]] = []
        anchors: dict[str, Any] = {}
        anchor_texts: dict[str, str] = {}  # anchored plain scalars YAML typed: what was written
        # expanded size of aliased containers: an alias adds its target's size, each shared
        # subtree walked once (walking it again per alias would be exponential)
        sizes: dict[int, int] = {}
        aliases = nodes = documents = 0
        root: Any = None
        parser = Parser(text)
        try:
            get_event = parser.get_event
            while (event := get_event()) is not None:
                kind = type(event)
                if kind is _SCALAR:
                    mark = event.start_mark
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise self.fail(mark, f"more than {MAX_NODES:,} values after "
                                        "expanding aliases")
                    tag = event.tag
                    if tag is not None:
                        tag = self.check_tag(tag, mark)
                    loc = Loc(file, mark.line + 1, mark.column + 1)
                    value = event.value
                    anchor = event.anchor
                    frame = stack[-1] if stack else None
                    if frame is not None and frame[1] and frame[2] is None:  # a key
                        if anchor is not None:
                            anchors[anchor] = value
                        # only a plain `<<` reads as the merge key without a tag
                        resolved = tag or (_implicit_tag(value, event.implicit)
                                           if value == "<<" else None)
                        frame[2] = "<<" if resolved == _MERGE else value
                        frame[3] = loc
                        continue
                    if tag is None:
                        implicit = event.implicit
                        typed = implicit[0] and (value[:1] in _TYPED_FIRST or _ANY_FIRST) and (
                            _IMPLICIT.get((value, implicit))
                            or _implicit_tag(value, implicit)) in _KINDS
                    else:
                        typed = tag in _KINDS
                    if typed:
                        try:
                            value = _scalar(event, tag)
                        except ValueError as exc:
                            raise self.fail(mark, str(exc)) from None
                        if tag is None and event.implicit[0] and isinstance(value, (int, float)):
                            texts[loc] = event.value
                            if anchor is not None:
                                anchor_texts[anchor] = event.value
                elif kind is _MAP or kind is _SEQ:
                    mark = event.start_mark
                    nodes += 1
                    if nodes > MAX_NODES:
                        raise self.fail(mark, f"more than {MAX_NODES:,} values after "
                                        "expanding aliases")
                    is_map = kind is _MAP
                    if event.tag is not None:
                        self.check_tag(event.tag, mark, "map" if is_map else "seq")
                    if len(stack) >= MAX_DEPTH:
                        raise self.fail(mark, f"nesting deeper than {MAX_DEPTH} levels")
                    loc = Loc(file, mark.line + 1, mark.column + 1)
                    stack.append([LDict(loc) if is_map else LList(loc), is_map, None, None, [],
                                  event.anchor, mark])
                    continue
                elif kind in _ENDS:
                    value, _, _, _, merges, anchor, mark = stack.pop()
                    if merges:
                        self.merge(value, merges)
                    loc = value.loc
                    frame = stack[-1] if stack else None
                    if frame is not None and frame[1] and frame[2] is None:
                        if anchor is not None:
                            anchors[anchor] = value
                        raise self.fail(mark, "a mapping key must be a plain value")
                elif kind is _ALIAS:
                    mark = event.start_mark
                    aliases += 1
                    if aliases > MAX_ALIASES:
                        raise self.fail(mark, f"more than {MAX_ALIASES} aliases; a job file "
                                        "needs only a few")
                    if event.anchor not in anchors:
                        raise self.fail(mark, f"unknown alias *{event.anchor}")
                    value = anchors[event.anchor]
                    frame = stack[-1] if stack else None
                    if frame is not None and frame[1] and frame[2] is None:
                        raise self.fail(mark, f"an alias (*{event.anchor}) cannot be a mapping "
                                        "key")
                    nodes += count_values(value, sizes)
                    if nodes > MAX_NODES:
                        raise self.fail(mark, f"more than {MAX_NODES:,} values after "
                                        "expanding aliases")
                    loc = Loc(file, mark.line + 1, mark.column + 1)
                    if event.anchor in anchor_texts:
                        texts[loc] = anchor_texts[event.anchor]
                    anchor = None
                else:
                    if kind is _DOCUMENT:
                        documents += 1
                        if documents > 1:
                            raise self.fail(event.start_mark, "more than one YAML document; a "
                                            "job file holds one")
                    continue
                # place ``value`` (a scalar, a finished container, an alias's target) at ``loc``
                if anchor is not None:
                    anchors[anchor] = value
                if frame is None:
                    root = value
                elif not frame[1]:
                    container = frame[0]
                    container.append(value)
                    container.item_locs.append(loc)
                else:
                    key, key_loc = frame[2], frame[3]
                    frame[2] = None
                    if key == "<<":
                        frame[4].append((value, mark))
                        continue
                    container = frame[0]
                    if key in container:
                        first = container.key_locs[key]
                        problems.append(Problem(key_loc, "", f"duplicate key {key!r} (first "
                                                f"defined at line {first.line}); YAML would "
                                                "keep only one"))
                    container[key] = value
                    container.key_locs[key] = key_loc
                    container.val_locs[key] = loc
        finally:
            parser.dispose()
        return root


def build(text: str, file: str, texts: dict[Loc, str] | None = None) -> Any:
    """The located tree of a single-document YAML text. ``texts`` receives the written text
    of each untagged plain scalar that YAML read as a number or boolean, by position."""
    builder = _Builder(file)
    found: dict[Loc, str] = {}
    try:
        root = builder.run(text, found)
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
        texts.update(found)
    return root


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


def _read_bytes(path: Path, file: str) -> bytes:
    """The bytes of a spec file: a regular file of at most MAX_BYTES, or nothing of it is read."""
    try:
        return read_regular(path, MAX_BYTES)
    except Refused as exc:
        if exc.size is not None:
            raise SpecError([Problem(Loc(file, 1, 1), "", f"file is larger than 1 MiB "
                                     f"({exc.size:,} bytes); a job file never needs to be")]
                            ) from None
        raise UsageError(f"{file}: {exc.reason}; nothing of it was read") from None
    except FileNotFoundError:
        raise UsageError(f"{file}: no such spec file") from None
    except PermissionError:
        raise UsageError(f"{file}: permission denied") from None
    except (OSError, ValueError) as exc:  # a name too long, a file used as a folder, a NUL
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"{file}: cannot be read: {reason}") from None


def read(path: Path, file: str) -> str:
    return decode(_read_bytes(path, file), file)


# ---------------------------------------------------------------------------------------------
# Which files are specs. Only a spec's lines are ever shown in an error: a file that is not one
# (`jobspec validate /etc/passwd`, `extends: ../.env.yaml`, a symlink to /proc/self/environ) is
# refused with why, and nothing of it is shown.

_UNPARSED: Any = object()
# a top-level key as written at the start of a line (or of a top-level list item), for a file
# that does not parse or is not a mapping
_KEY_LINE = re.compile(r"^(?:-[ \t]+)?[\"']?([A-Za-z_][A-Za-z0-9_-]*)[\"']?[ \t]*:(?:[ \t]|$)",
                       re.M)
_VERSION_NUMBER = re.compile(r"^version[ \t]*:[ \t]*(?:[0-9]+|([\"'])1\1)[ \t]*(?:#.*)?$", re.M)


class _NotSpec(Exception):
    """Why a file is not a spec; the caller says where."""


def _real_name(path: Path) -> str:
    """The file's own name: a link's target's, so specs/x.yaml -> /proc/self/environ is no spec."""
    return os.path.realpath(path) if os.path.islink(path) else path.name


def _named(name: str, path: Path) -> str:
    return ("its name" if name == path.name else
            f"it is a link to {name}, and that name")


def not_a_spec(name: str, text: str, root: Any = _UNPARSED, named: str = "its name"
               ) -> str | None:
    """Why the file named ``name`` (its real name) holding ``text`` is not a spec, or None.

    A spec is a .yaml/.yml file whose top level has a whole-number ``version`` or only keys a
    spec has (a base file may leave ``version`` to the file that extends it): a
    docker-compose.yml (``version: "3.8"``, ``services:``) is not one. ``root`` is its tree when it
    parsed; otherwise its top-level keys are read from the text."""
    if not name.lower().endswith((".yaml", ".yml")):
        return f"{named} does not end in .yaml or .yml"
    if root is None:  # an empty document: nothing to show but comments
        return None
    if isinstance(root, LDict):
        version = root.get("version")
        keys = set(root)
        # a number (`version: 2` is a spec with a wrong version), not docker-compose's "3.8"
        versioned = type(version) is int or version == "1"
    else:
        keys = {m.group(1) for m in _KEY_LINE.finditer(text)}
        versioned = _VERSION_NUMBER.search(text) is not None
        if not keys:
            return "it is not a mapping of spec keys"
    if versioned or keys <= SPEC_KEYS:
        return None
    return "it has no `version: 1`, and it has top-level keys that a spec does not have"


def _parse_file(path: Path, file: str, texts: dict[Loc, str]) -> tuple[Any, str]:
    """(tree, text) of a spec file. _NotSpec when it is not one, whatever else is wrong with it:
    its own errors would show its lines."""
    data = _read_bytes(path, file)
    try:
        text = decode(data, file)
        root = build(text, file, texts)
    except SpecError as exc:
        shown = exc.sources.get(file)
        if shown is not None:
            real = _real_name(path)
            why = not_a_spec(real, shown, named=_named(real, path))
            if why is not None:
                raise _NotSpec(why) from None
        raise
    real = _real_name(path)
    why = not_a_spec(real, text, root, _named(real, path))
    if why is not None:
        raise _NotSpec(why)
    return root, text


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
        root, text = _parse_file(path, file, texts)
    except _NotSpec as exc:
        raise SpecError([Problem(Loc(file, 1, 1), "", f"not a spec file: {exc}; no line of it "
                                 "is shown")]) from None
    sources = {file: text}
    if not isinstance(root, LDict):
        raise SpecError([Problem(Loc(file, 1, 1), "", "expected a mapping of keys at the top "
                                 f"level, got {describe(plain(root))}")], sources)
    problems: list[Problem] = []
    if root.get("extends") is not None:  # resolve() walks the path: only pay it when needed
        root = _file_extends(root, path, sources, texts, (path.resolve(),),
                             _extends_roots(path, env))
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


def _extends_roots(path: Path, env: Mapping[str, str]) -> tuple[Path, ...]:
    """Where `extends` may read: the project of the spec named on the command line (the folder
    holding pyproject.toml or .git, else the spec's own folder), and the folders the user names
    in JOBSPEC_EXTENDS_ALLOW. Nothing in a spec or its project can widen this: a spec in a pull
    request must not be able to read the reviewer's files."""
    from jobspec.project import find_root

    folder = path.parent.resolve()
    extra = [Path(p).resolve() for p in env.get(ALLOW_VAR, "").split(os.pathsep) if p.strip()]
    return (find_root(folder) or folder, *extra)


def _file_extends(root: LDict, path: Path, sources: dict[str, str], texts: dict[Loc, str],
                  chain: tuple[Path, ...], allowed: tuple[Path, ...]) -> LDict:
    """`extends: ../base.yaml`: the base file loads first, then this file merges onto it
    (mappings deeply; lists and scalars replace). Values keep the file they came from.

    Every refusal points at the `extends` line and shows nothing of the base file: it may not
    be a spec at all."""
    parent = root.get("extends")
    if parent is None:
        return root
    where = root.val_locs["extends"]

    def fail(message: str) -> SpecError:
        return SpecError([Problem(where, "extends", message)], sources)

    if not isinstance(parent, str) or not parent:
        raise fail("expected the path of a base spec file")
    if "\x00" in parent:  # resolve() would raise on it
        raise fail(f"expected the path of a base spec file without NUL characters, got "
                   f"{describe(parent)}")
    if not parent.lower().endswith((".yaml", ".yml")):
        raise fail(f"expected the path of a base spec file ending in .yaml or .yml, got "
                   f"{parent!r}")
    if len(chain) >= MAX_EXTENDS:
        raise fail(f"more than {MAX_EXTENDS} files in the extends chain (from "
                   f"{display_path(str(chain[0]))}); merge some of the base files")
    base_path = Path(os.path.normpath(path.parent / parent))
    try:
        real = base_path.resolve()
    except (OSError, RuntimeError, ValueError) as exc:  # a symlink loop, a NUL
        raise fail(f"{parent}: cannot be resolved: {exc}") from None
    if real in chain:
        cycle = " -> ".join(display_path(str(p)) for p in (*chain, real))
        raise fail(f"extends forms a cycle: {cycle}")
    if not any(real == folder or folder in real.parents for folder in allowed):
        raise fail(f"{parent} is outside the project ({allowed[0]}): extends reads only files "
                   f"inside it; to allow another folder, name it in the environment variable "
                   f"{ALLOW_VAR} (folders separated by {os.pathsep!r})")
    base_file = display_path(str(base_path))
    try:
        base, text = _parse_file(base_path, base_file, texts)
    except UsageError as exc:
        raise fail(exc.message) from None
    except _NotSpec as exc:
        raise fail(f"{parent} is not a spec file: {exc}; no line of it is shown") from None
    except SpecError as exc:
        if base_file not in exc.sources:  # too large, UTF-16: said without the file's lines
            raise fail("; ".join(f"{parent}: {p.message}" for p in exc.problems)) from None
        raise SpecError(exc.problems, {**sources, **exc.sources}) from None
    sources[base_file] = text
    if not isinstance(base, LDict):
        raise SpecError([Problem(Loc(base_file, 1, 1), "", "expected a mapping of keys at the "
                                 "top level of a base spec")], sources)
    base = _file_extends(base, base_path, sources, texts, (*chain, real), allowed)
    rebase_package_path(base, base_path.parent, path.parent)
    child = LDict(root.loc)
    for key in root:
        if key != "extends":
            child.copy_entry(root, key)
    merged: LDict = deep_merge(base, child)
    return merged


# ---------------------------------------------------------------------------------------------
# Other YAML that jobspec reads or writes (`jobspec import`): same safe reader, one writer


def dump(data: Any) -> str:
    """Plain data as block-style YAML in the given key order; safe_dump quotes what needs it."""
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                               allow_unicode=True, width=1 << 16)
    return text
