r"""A fault-injecting HTTP reverse proxy in front of the GCS emulator (fake-gcs-server cannot).

    proxy = GcsProxy(emulator.url).start()        # STORAGE_EMULATOR_HOST=proxy.url
    proxy.faults.add("POST", r"^/upload/", query_regex=r"ifGenerationMatch=0(&|$)",
                     object_regex=r"/\.jobspec/claim\.json$", drop="after")

Faults are those of the Vertex stand-in (`_http.Faults`): status, delay, drop="before" (the
request is read and the connection reset; the emulator never sees it), drop="after" (the
emulator acts, the answer is thrown away, the connection reset). As there, `path_regex` is
searched in the unquoted path. Two more filters: `query_regex` in the raw query string (so
`ifGenerationMatch=0` tells a create from a guarded rewrite) and `object_regex` in the
object's name, which the proxy reads from the path, the `name` query parameter, the head of a
multipart or resumable-initiation body, or (for a resumable session's PUTs) the session that
started it.

Bodies are streamed both ways (Content-Length or chunked). The client side is HTTP/1.1
keep-alive; each request gets its own upstream connection, so a request never goes upstream
on a connection the emulator may have closed, and nothing is ever re-sent. The emulator's own
URL in Location headers and JSON bodies is rewritten to the proxy's, so resumable sessions
and media links keep going through the proxy.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable

from ._http import Fault, Faults, RequestLog
from ._proxy_http import OBJECT_PATH, ProxyRecord, ProxyServer

__all__ = ["GcsFaults", "GcsProxy", "ProxyRecord", "route_of"]


class GcsFaults(Faults):
    """`Faults` plus two filters: `query_regex=` (searched in the raw query string) and
    `object_regex=` (searched in the object's name); a fault with either fires only when it
    matches too."""

    def add(self, method: str | None = None, path_regex: str | None = None, *,
            status: int | None = None, delay: float = 0.0, drop: str | None = None,
            times: int | None = 1, message: str | None = None,
            answer: bytes | Callable[[int], bytes] | None = None, trickle: float | None = None,
            silent: bool = False, trickle_head: bool = False, query_regex: str | None = None,
            object_regex: str | None = None) -> Fault:
        fault = super().add(method, path_regex, status=status, delay=delay, drop=drop,
                            times=times, message=message, answer=answer, trickle=trickle,
                            silent=silent, trickle_head=trickle_head)
        fault.query_pattern = re.compile(query_regex) if query_regex else None  # type: ignore[attr-defined]
        fault.object_pattern = re.compile(object_regex) if object_regex else None  # type: ignore[attr-defined]
        return fault

    def take(self, method: str, path: str, query: str = "", obj: str | None = None
             ) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.exhausted or not fault.matches(method, path):
                    continue
                query_pattern = getattr(fault, "query_pattern", None)
                if query_pattern is not None and not query_pattern.search(query):
                    continue
                object_pattern = getattr(fault, "object_pattern", None)
                if object_pattern is not None and (obj is None or not object_pattern.search(obj)):
                    continue
                fault.hits += 1
                return fault
        return None


def route_of(method: str, path: str, query: dict[str, list[str]]) -> str:
    """A short name for counters: objects.insert, objects.get, objects.download, ..."""
    if path.startswith("/upload/"):
        return "objects.insert"
    if path.startswith("/download/") or query.get("alt") == ["media"]:
        return "objects.download"
    if OBJECT_PATH.match(path):
        return {"GET": "objects.get", "DELETE": "objects.delete", "PATCH": "objects.patch",
                "PUT": "objects.update"}.get(method, "objects.other")
    if re.match(r"^/storage/v1/b/[^/]+/o$", path):
        return "objects.list"
    if re.match(r"^/storage/v1/b/[^/]+$", path):
        return "buckets.get" if method == "GET" else f"buckets.{method.lower()}"
    return "other"


class GcsProxy:
    """See the module docstring. Thread-safe; `reset()` between tests."""

    def __init__(self, upstream: str) -> None:
        parts = urllib.parse.urlsplit(upstream)
        if parts.scheme != "http" or not parts.hostname or not parts.port:
            raise ValueError(f"upstream must be http://HOST:PORT, not {upstream!r}")
        self.upstream = f"http://{parts.hostname}:{parts.port}"
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port
        self.faults = GcsFaults()
        self._log = RequestLog()
        self._lock = threading.Lock()
        self._sessions: dict[str, str] = {}  # resumable upload_id -> object name
        self._conns: set[socket.socket] = set()
        self.generation = 0
        self._server: ProxyServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> GcsProxy:
        if self._server is None:
            self._server = ProxyServer(self)
            self._thread = threading.Thread(target=self._server.serve_forever,
                                            kwargs={"poll_interval": 0.05}, name="gcs-proxy",
                                            daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                conns = list(self._conns)
            for conn in conns:  # keep-alive connections must not outlive the proxy
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> GcsProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("GcsProxy is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def reset(self) -> None:
        """Forget faults, requests and resumable sessions (the emulator is not touched)."""
        with self._lock:
            self.generation += 1
            self._sessions.clear()
        self.faults.clear()
        self._log.clear()

    # -- what tests look at ------------------------------------------------------------------
    @property
    def requests(self) -> list[ProxyRecord]:
        return self._log.snapshot()  # type: ignore[return-value]

    @property
    def counters(self) -> Counter[str]:
        return Counter(self._log.counters)

    def requests_for(self, object_regex: str) -> list[ProxyRecord]:
        pattern = re.compile(object_regex)
        return [r for r in self.requests if r.object is not None and pattern.search(r.object)]

    # -- used by the handler -----------------------------------------------------------------
    def record(self, record: ProxyRecord, generation: int) -> None:
        if generation == self.generation:  # a request from before reset() is not this test's
            self._log.add(record, route_of(record.method, record.path, record.query))  # type: ignore[arg-type]

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    def remember_session(self, upload_id: str, obj: str | None) -> None:
        if obj is not None:
            with self._lock:
                self._sessions[upload_id] = obj

    def session_object(self, upload_id: str) -> str | None:
        with self._lock:
            return self._sessions.get(upload_id)
