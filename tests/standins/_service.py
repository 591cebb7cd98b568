"""What the image-build stand-ins share: a threaded HTTP/1.1 server, routes per stand-in, answers
and errors in Google's JSON shape, strict query parameters, faults and the request log (_http.py).

Routes match the raw (still percent-encoded) path, so an escaped '/' in a resource name segment
(Artifact Registry's package names) stays inside its segment; the captured groups are unquoted.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import traceback
import urllib.parse
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ._http import ApiError, Faults, RequestLog, RequestRecord, json_body, strict_query
from ._schema import discovery

Answer = tuple[int, dict[str, Any]]
Route = tuple[str, "re.Pattern[str]", str, frozenset[str], Callable[..., Answer]]


class Service:
    """A stand-in: subclasses set `api` ("cloudbuild.v1") and `routes()`."""

    api = ""
    name = "service"

    def __init__(self) -> None:
        self.faults = Faults()
        self.internal_errors: list[str] = []
        self._log = RequestLog()
        self.lock = threading.RLock()
        self.generation = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes: list[Route] = self.routes()
        self._system = frozenset(discovery(self.api)["parameters"])

    def routes(self) -> list[Route]:
        raise NotImplementedError

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> Service:
        if self._server is None:
            server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
            server.daemon_threads = True
            server.standin = self  # type: ignore[attr-defined]
            self._server = server
            self._thread = threading.Thread(target=server.serve_forever, daemon=True,
                                            kwargs={"poll_interval": 0.05}, name=self.name)
            self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Service:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{self.name} is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def reset(self) -> None:
        with self.lock:
            self.generation += 1
            self.internal_errors.clear()
        self.faults.clear()
        self._log.clear()

    # -- what tests look at ------------------------------------------------------------------
    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    @property
    def counters(self) -> Counter[str]:
        return Counter(self._log.counters)

    def record(self, record: RequestRecord, route: str, generation: int) -> None:
        with self.lock:
            if generation == self.generation:
                self._log.add(record, route)

    # -- dispatch ----------------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, query: dict[str, list[str]],
                 raw: bytes) -> tuple[str, int, dict[str, Any]]:
        route = "unknown"
        try:
            for route_method, pattern, name, params, handler in self._routes:
                match = pattern.match(raw_path)
                if match and route_method == method:
                    route = name
                    groups = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()}
                    status, payload = handler(groups, strict_query(query, params, self._system),
                                              json_body(method, raw))
                    return route, status, payload
            raise ApiError(404, f"Method not found: {method} {raw_path} (not a route of the "
                           f"jobspec {self.name} stand-in).", "NOT_FOUND")
        except ApiError as err:
            return route, err.code, err.body()
        except Exception:  # a stand-in bug: 500, and the traceback kept for the test
            text = traceback.format_exc()
            with self.lock:
                self.internal_errors.append(text)
            return route, 500, ApiError(500, f"stand-in internal error:\n{text}").body()



class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ESF"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle()

    do_POST = do_DELETE = do_PATCH = do_PUT = do_GET

    def _handle(self) -> None:
        standin: Service = self.server.standin  # type: ignore[attr-defined]
        parts = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        heads = {k.lower(): v for k, v in self.headers.items()}
        generation = standin.generation
        path = urllib.parse.unquote(parts.path)
        fault = standin.faults.take(self.command, path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "before":
            self.close_connection = True
            standin.record(RequestRecord(self.command, path, query, body, "dropped-before",
                                         heads), "fault", generation)
            return
        if fault is not None and fault.status is not None:
            route, status, payload = "fault", fault.status, ApiError(fault.status,
                                                                     fault.message).body()
        else:
            route, status, payload = standin.dispatch(self.command, parts.path, query, raw)
        if fault is not None and fault.drop == "after":
            self.close_connection = True
            standin.record(RequestRecord(self.command, path, query, body, "dropped-after",
                                         heads), route, generation)
            return
        data = json.dumps(payload, indent=2).encode()
        if fault is not None and fault.answer is not None:
            status, data = 200, fault.answer_body()
        standin.record(RequestRecord(self.command, path, query, body, status, heads), route,
                       generation)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
