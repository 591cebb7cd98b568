"""The filter languages of customJobs.list (AIP-160) and entries.list (Logging query language).

Only conjunctions are supported: terms joined by AND (or by whitespace, as Logging allows).
OR, NOT and parentheses are refused with a loud 400 so a client never silently gets
wrong results from the stand-in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._http import invalid_argument
from ._schema import parse_time

_IDENT = r'(?:[A-Za-z_][\w/-]*|"(?:[^"\\]|\\.)*")'
_PATH = re.compile(rf"{_IDENT}(?:\.{_IDENT})*")
_OP = re.compile(r">=|<=|!=|=|>|<|:")
_VALUE = re.compile(r'"(?:[^"\\]|\\.)*"|[^\s()"]+')
_SEGMENT = re.compile(_IDENT)
SEVERITY = {"DEFAULT": 0, "DEBUG": 100, "INFO": 200, "NOTICE": 300, "WARNING": 400,
            "ERROR": 500, "CRITICAL": 600, "ALERT": 700, "EMERGENCY": 800}


@dataclass(frozen=True)
class Term:
    path: tuple[str, ...]
    op: str
    value: str

    @property
    def field(self) -> str:
        return ".".join(self.path)


def _unquote(text: str) -> str:
    if text.startswith('"'):
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    return text


def parse(text: str) -> list[Term]:
    terms: list[Term] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n:
            return terms
        word = re.match(r"(AND|OR|NOT)\b", text[pos:])
        if word and word.group(1) == "AND" and terms:
            pos += 3
            continue
        if word or text[pos] in "()-":
            raise invalid_argument(
                f"Unsupported filter syntax at offset {pos} in '{text}': the jobspec test "
                "stand-in supports only terms joined by AND (no OR, NOT, '-' or parentheses).")
        path = _PATH.match(text, pos)
        if not path:
            raise invalid_argument(f"Invalid filter: expected a field name at offset {pos} in "
                                   f"'{text}'.")
        pos = path.end()
        while pos < n and text[pos].isspace():
            pos += 1
        op = _OP.match(text, pos)
        if not op:
            raise invalid_argument(f"Invalid filter: expected a comparison after "
                                   f"'{path.group()}' in '{text}'.")
        pos = op.end()
        while pos < n and text[pos].isspace():
            pos += 1
        value = _VALUE.match(text, pos)
        if not value:
            raise invalid_argument(f"Invalid filter: expected a value after '{op.group()}' in "
                                   f"'{text}'.")
        pos = value.end()
        segments = tuple(_unquote(s) for s in _SEGMENT.findall(path.group()))
        terms.append(Term(segments, op.group(), _unquote(value.group())))


def compare(actual: Any, term: Term, kind: str = "string") -> bool:
    """Does `actual` (None when the field is absent) satisfy the term?"""
    op, want = term.op, term.value
    if op == ":" and want == "*":
        return actual is not None and actual != ""
    if actual is None:
        return op == "!="
    if kind == "time":
        left, right = parse_time(str(actual)), parse_time(want)
        if right is None:
            raise invalid_argument(f"Invalid timestamp in filter: '{want}' (RFC 3339 expected).")
        return _ordered(left or 0, op, right)
    if kind == "severity":
        rank = SEVERITY.get(want.upper(), int(want) if want.isdigit() else None)
        if rank is None:
            raise invalid_argument(f"Invalid severity in filter: '{want}'.")
        return _ordered(SEVERITY.get(str(actual), 0), op, rank)
    text = str(actual)
    if op == ":":
        return want.lower() in text.lower()
    return _ordered(text, op, want)


def _ordered(left: Any, op: str, right: Any) -> bool:
    result: bool = {
        "=": left == right, "!=": left != right, ">": left > right, ">=": left >= right,
        "<": left < right, "<=": left <= right, ":": left == right,
    }[op]
    return result


def lookup(obj: Any, path: tuple[str, ...]) -> Any:
    for seg in path:
        if not isinstance(obj, dict) or seg not in obj:
            return None
        obj = obj[seg]
    return obj


def job_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    """customJobs.list filter: display_name, state, labels.KEY, create_time, update_time."""
    terms = parse(text)
    fields: dict[str, tuple[str, str]] = {
        "display_name": ("displayName", "string"), "state": ("state", "string"),
        "create_time": ("createTime", "time"), "update_time": ("updateTime", "time"),
        "start_time": ("startTime", "time"), "end_time": ("endTime", "time"),
    }
    for term in terms:
        if term.path[0] == "labels" and len(term.path) == 2:
            continue
        if term.field not in fields:
            raise invalid_argument(f"Unsupported field in filter: '{term.field}'. Supported: "
                                   "display_name, state, labels.KEY, create_time, update_time.")

    def match(job: dict[str, Any]) -> bool:
        for term in terms:
            if term.path[0] == "labels":
                actual = job.get("labels", {}).get(term.path[1])
                kind = "string"
            else:
                key, kind = fields[term.field]
                actual = job.get(key, "JOB_STATE_UNSPECIFIED" if key == "state" else None)
            if not compare(actual, term, kind):
                return False
        return True

    return match


def entry_matcher(text: str) -> Callable[[dict[str, Any]], bool]:
    """entries.list filter over LogEntry JSON (any field path; times and severity ordered)."""
    terms = parse(text)

    def match(entry: dict[str, Any]) -> bool:
        for term in terms:
            kind = {"timestamp": "time", "receiveTimestamp": "time",
                    "severity": "severity"}.get(term.field, "string")
            if not compare(lookup(entry, term.path), term, kind):
                return False
        return True

    return match
