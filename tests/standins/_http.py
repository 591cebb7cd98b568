"""Google-style API errors, per-request fault injection and the request log of a stand-in."""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "NOT_IMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}


class ApiError(Exception):
    """An error answered in Google's JSON shape: {"error": {"code", "message", "status"}}."""

    def __init__(self, code: int, message: str, status: str | None = None,
                 details: list[dict[str, Any]] | None = None) -> None:
        super().__init__(f"{code} {message}")
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.details = details or []

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message, "status": self.status}
        if self.details:
            error["details"] = self.details
        return {"error": error}


def invalid_argument(message: str, violations: list[tuple[str, str]] | None = None) -> ApiError:
    details = []
    if violations:
        details.append({
            "@type": "type.googleapis.com/google.rpc.BadRequest",
            "fieldViolations": [{"field": f, "description": d} for f, d in violations],
        })
    return ApiError(400, message, "INVALID_ARGUMENT", details)


def strict_query(query: dict[str, list[str]], params: frozenset[str],
                 system: frozenset[str]) -> dict[str, str]:
    """A request's query as Google's APIs take it: a parameter neither the method's (PARAMS)
    nor one of the API's system parameters (SYSTEM) is refused, and only alt=json answers."""
    args = {}
    for key, values in query.items():
        if key not in params and key not in system:
            raise invalid_argument(f"Invalid JSON payload received. Unknown name \"{key}\": "
                                   f"Cannot bind query parameter. Field '{key}' could not be "
                                   "found in request message.")
        args[key] = values[-1]
    if args.get("alt", "json") != "json":
        raise invalid_argument(f"Unsupported alt={args['alt']!r}.")
    return args


def json_body(method: str, raw: bytes) -> dict[str, Any]:
    """A request's JSON body, refused as Google's APIs refuse it when it is not an object."""
    if method not in ("POST", "PATCH", "PUT") or not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise invalid_argument("Invalid JSON payload received. Unexpected token.") from None
    if not isinstance(body, dict):
        raise invalid_argument("Invalid JSON payload received. Unknown name \"\": Root element "
                               "must be a message.")
    return body


@dataclass
class Fault:
    """One injected fault; `hits` counts how often it fired."""

    method: str | None
    path_regex: str | None
    status: int | None
    delay: float
    drop: str | None
    times: int | None
    message: str
    hits: int = 0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False)
    # misbehaving services (see Faults.add)
    answer: bytes | Callable[[int], bytes] | None = None
    trickle: float | None = None
    silent: bool = False
    trickle_head: bool = False

    def answer_body(self) -> bytes:
        """The 200 body to send instead of the real answer (`answer` may use the hit count)."""
        assert self.answer is not None
        return self.answer(self.hits) if callable(self.answer) else self.answer

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self._pattern is None or self._pattern.search(path) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times


class Faults:
    """Faults applied to matching requests, first match wins, each `times` times (None: always).

    status=503 answers that error without processing; delay=s sleeps first;
    drop="before" closes the connection without processing the request;
    drop="after" processes the request fully, then closes without answering.
    Misbehaving services: answer=b"..." (or a function of the hit count, for page tokens that
    never repeat) processes the request, then answers 200 with that body instead;
    trickle=s processes it, then sends the answer one byte every s seconds, padded so that it
    never finishes in a test's time (with trickle_head=True from its status line on);
    silent=True reads the request and never answers (nor processes it). Both hold the
    connection until the client gives up (at most HOLD_MAX s).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, method: str | None = None, path_regex: str | None = None, *,
            status: int | None = None, delay: float = 0.0, drop: str | None = None,
            times: int | None = 1, message: str | None = None,
            answer: bytes | Callable[[int], bytes] | None = None, trickle: float | None = None,
            silent: bool = False, trickle_head: bool = False) -> Fault:
        if drop not in (None, "before", "after"):
            raise ValueError(f"drop must be 'before' or 'after', not {drop!r}")
        kinds = [k for k, v in (("status", status), ("drop", drop), ("answer", answer),
                                ("trickle", trickle), ("silent", silent or None))
                 if v is not None]
        if not kinds and not delay:
            raise ValueError("a fault needs status=, drop=, answer=, trickle=, silent= or "
                             "delay=")
        if len(kinds) > 1 and set(kinds) != {"answer", "trickle"}:
            raise ValueError(f"{'= and '.join(kinds)}= exclude each other")
        fault = Fault(method, path_regex, status, float(delay), drop, times,
                      message or f"injected fault: HTTP {status}",
                      _pattern=re.compile(path_regex) if path_regex else None,
                      answer=answer, trickle=trickle, silent=silent,
                      trickle_head=trickle_head)
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(method, path):
                    fault.hits += 1
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

    def __len__(self) -> int:
        return len(self.pending)


class RequestRecord(NamedTuple):
    """One request as the server saw it. outcome: the HTTP status answered, or
    "dropped-before" / "dropped-after" when the connection was closed without an answer."""

    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    outcome: int | str
    headers: Mapping[str, str] = {}  # the request's headers, names in lowercase


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self.counters: Counter[str] = Counter()

    def add(self, record: RequestRecord, route: str) -> None:
        with self._lock:
            self._records.append(record)
            self.counters[route] += 1
            self.counters[f"outcome:{record.outcome}"] += 1

    def snapshot(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
            self.counters.clear()


HOLD_MAX = 120.0  # s: a silent or trickling answer ends by itself after this at the latest
TRICKLE_PAD = 1 << 16  # bytes of leading JSON whitespace: a trickle never finishes in a test


def client_gone(conn: socket.socket) -> bool:
    """The client closed its side (or reset it): the read end is at EOF."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def hold(conn: socket.socket, alive: Callable[[], bool]) -> None:
    """Say nothing until the client gives up (or the test is over)."""
    deadline = time.monotonic() + HOLD_MAX
    while time.monotonic() < deadline and alive() and not client_gone(conn):
        time.sleep(0.05)


def trickle(conn: socket.socket, head: bytes, body: bytes, every: float,
            alive: Callable[[], bool], *, from_head: bool = False) -> None:
    """Send the head, then the body one byte at a time, until the client gives up. With
    from_head the head trickles too (behind a long padding header)."""
    if from_head:
        status_line, rest = head.split(b"\r\n", 1)
        slow = status_line + b"\r\nX-Pad: " + b"p" * (TRICKLE_PAD - 1024) + b"\r\n" + rest + body
        head = b""
    else:
        padded = b" " * TRICKLE_PAD + body
        head = head.replace(b"Content-Length: %d" % len(body),
                            b"Content-Length: %d" % len(padded))
        slow = padded
    try:
        conn.sendall(head)
        deadline = time.monotonic() + HOLD_MAX
        for i in range(len(slow)):
            if time.monotonic() > deadline or not alive() or client_gone(conn):
                return
            conn.sendall(slow[i:i + 1])
            time.sleep(every)
    except OSError:
        return
