"""YAML text → located tree: safe YAML with positions, within limits. The only module that
imports yaml.

PyYAML's composer is recursive and expands aliases on use, so a hostile file can exhaust the
stack or memory. Building the tree from the event stream here keeps every limit in one loop:
size, depth, aliases, expanded node count, tags and duplicate keys.
"""

from __future__ import annotations

from typing import Any

import yaml

from jobspec.diagnostics import Problem, SpecError, yaml_syntax_problem
from jobspec.located import LDict, LList, Loc, count_values

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_ALIASES = 64
MAX_NODES = 20_000

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
# Other YAML that jobspec reads or writes (`jobspec import`): same safe reader, one writer


def dump(data: Any) -> str:
    """Plain data as block-style YAML in the given key order; safe_dump quotes what needs it."""
    text: str = yaml.safe_dump(data, sort_keys=False, default_flow_style=False,
                               allow_unicode=True, width=1 << 16)
    return text
