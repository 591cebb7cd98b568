"""The HTTP side of GcsProxy: a keep-alive server that streams each request to the emulator on
a fresh connection and the answer back, or injects the fault the proxy picked."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, NamedTuple

from ._http import ApiError, Fault, hold, trickle

if TYPE_CHECKING:
    from .gcsproxy import GcsProxy

HEAD_BYTES = 64 << 10  # enough for a multipart upload's metadata part
PIECE = 64 << 10
UPSTREAM_TIMEOUT = 60.0
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization",
                         "te", "trailer", "trailers", "transfer-encoding", "upgrade", "expect",
                         "host", "content-length"})
OBJECT_PATH = re.compile(r"^(?:/download)?/storage/v1/b/[^/]+/o/(?P<name>.+)$")
_XML_PATH = re.compile(r"^/(?P<bucket>[^/]+)/(?P<name>.+)$")


class ProxyRecord(NamedTuple):
    """One request as the proxy saw it. outcome: the status answered to the client, or
    "dropped-before" / "dropped-after", or "client-gone" when the client hung up first."""

    method: str
    path: str
    query: dict[str, list[str]]
    object: str | None
    size: int  # request body bytes
    outcome: int | str
    headers: Mapping[str, str] = {}  # the request's headers, names in lowercase



class ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, proxy: GcsProxy) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.proxy = proxy
        self.reset_on_close: set[socket.socket] = set()
        self.reset_lock = threading.Lock()

    def shutdown_request(self, request: Any) -> None:
        with self.reset_lock:
            reset = request in self.reset_on_close
            self.reset_on_close.discard(request)
        if reset:
            # SO_LINGER 0: close() sends RST, the client sees "connection reset by peer", not
            # an orderly end of stream (shutdown(SHUT_WR) would send a FIN first).
            with contextlib.suppress(OSError):
                request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_request(request)
            return
        super().shutdown_request(request)



class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "UploadServer"
    sys_version = ""
    server: ProxyServer

    def setup(self) -> None:
        super().setup()
        self.server.proxy.track(self.connection, True)

    def finish(self) -> None:
        self.server.proxy.track(self.connection, False)
        with contextlib.suppress(OSError):
            super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            self._handle()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            self.close_connection = True

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- request -----------------------------------------------------------------------------
    def _handle(self) -> None:
        proxy = self.server.proxy
        generation = proxy.generation
        parts = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parts.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        body = self._body_pieces()
        head = b""
        if self.command in ("POST", "PUT") and path.startswith("/upload/"):
            head = self._read_head(body)
        obj = self._object_name(path, query, head)
        fault = proxy.faults.take(self.command, path, parts.query, obj)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        size = len(head)

        def record(outcome: int | str) -> None:
            proxy.record(ProxyRecord(self.command, path, query, obj, size, outcome,
                                     {k.lower(): v for k, v in self.headers.items()}),
                         generation)

        if fault is not None and fault.silent:  # read it all, forward nothing, never answer
            size += sum(len(piece) for piece in body)
            record("silent")
            self.close_connection = True
            return hold(self.connection, lambda: generation == proxy.generation)
        if fault is not None and (fault.drop == "before" or fault.status is not None):
            size += sum(len(piece) for piece in body)  # read it all: the client sent it
            if fault.drop == "before":
                record("dropped-before")
                return self._reset()
            assert fault.status is not None
            record(fault.status)
            return self._answer_error(fault.status, fault.message)
        counted = _Counted(head, body)
        try:
            upstream, response = self._forward(counted)
        except (OSError, http.client.HTTPException) as exc:
            size = counted.size
            record(502)
            return self._answer_error(502, f"gcs proxy: upstream failed: {exc}")
        size = counted.size
        try:
            if fault is not None and fault.drop == "after":
                response.read()  # the emulator acted; its answer is thrown away
                record("dropped-after")
                return self._reset()
            if fault is not None and (fault.answer is not None or fault.trickle is not None):
                return self._misbehave(fault, response, record, generation)
            self._relay(response, obj, record)
        finally:
            upstream.close()

    def _body_pieces(self) -> Iterator[bytes]:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked_pieces()
        return self._length_pieces(int(self.headers.get("Content-Length") or 0))

    def _length_pieces(self, remaining: int) -> Iterator[bytes]:
        while remaining > 0:
            piece = self.rfile.read(min(PIECE, remaining))
            if not piece:
                raise ConnectionResetError("client closed the connection mid-body")
            remaining -= len(piece)
            yield piece

    def _chunked_pieces(self) -> Iterator[bytes]:
        while True:
            line = self.rfile.readline(1024)
            if not line:
                raise ConnectionResetError("client closed the connection mid-body")
            size = int(line.split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return
            yield from self._length_pieces(size)
            self.rfile.readline(1024)  # CRLF after the chunk

    @staticmethod
    def _read_head(body: Iterator[bytes]) -> bytes:
        head = b""
        for piece in body:
            head += piece
            if len(head) >= HEAD_BYTES:
                break
        return head

    def _object_name(self, path: str, query: dict[str, list[str]], head: bytes) -> str | None:
        match = OBJECT_PATH.match(path)
        if match:
            return match.group("name")
        if "name" in query:
            return query["name"][-1]
        if "upload_id" in query:
            return self.server.proxy.session_object(query["upload_id"][-1])
        if head:
            return _name_in_body(head, self.headers.get("Content-Type", ""))
        if not path.startswith(("/storage/", "/upload/", "/download/", "/_internal/")):
            xml = _XML_PATH.match(path)
            return xml.group("name") if xml else None
        return None

    # -- upstream ----------------------------------------------------------------------------
    def _forward(self, body: _Counted) -> tuple[http.client.HTTPConnection,
                                                http.client.HTTPResponse]:
        proxy = self.server.proxy
        upstream = http.client.HTTPConnection(proxy.upstream_host, proxy.upstream_port,
                                              timeout=UPSTREAM_TIMEOUT)
        try:
            upstream.putrequest(self.command, self.path, skip_host=True,
                                skip_accept_encoding=True)
            upstream.putheader("Host", f"{proxy.upstream_host}:{proxy.upstream_port}")
            for key, value in self.headers.items():
                if key.lower() not in _HOP_BY_HOP:
                    upstream.putheader(key, value)
            length = self.headers.get("Content-Length")
            chunked = length is None and "chunked" in self.headers.get(
                "Transfer-Encoding", "").lower()
            if length is not None:
                upstream.putheader("Content-Length", length)
            elif chunked:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            for piece in body:
                upstream.send(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
            if chunked:
                upstream.send(b"0\r\n\r\n")
            return upstream, upstream.getresponse()
        except BaseException:
            upstream.close()
            raise

    # -- answers -----------------------------------------------------------------------------
    def _relay(self, response: http.client.HTTPResponse, obj: str | None,
               record: Any) -> None:
        proxy = self.server.proxy
        headers = [(k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP]
        headers = [(k, self._rewrite(v) if k.lower() == "location" else v) for k, v in headers]
        for key, value in headers:
            if key.lower() == "location":
                upload_id = urllib.parse.parse_qs(urllib.parse.urlsplit(value).query).get(
                    "upload_id")
                if upload_id:
                    proxy.remember_session(upload_id[-1], obj)
        no_body = self.command == "HEAD" or response.status in (204, 304) or (
            100 <= response.status < 200)
        content_type = response.getheader("Content-Type", "")
        rewrite = ("json" in content_type and not response.getheader("Content-Encoding")
                   and not no_body)
        if rewrite:
            data = self._rewrite(response.read().decode("utf-8", "surrogateescape")).encode(
                "utf-8", "surrogateescape")
            headers.append(("Content-Length", str(len(data))))
            pieces: Iterator[bytes] = iter([data])
            chunked = False
        elif no_body:
            pieces, chunked = iter(()), False
            if response.length is not None:
                headers.append(("Content-Length", str(response.length)))
        elif response.length is not None:
            headers.append(("Content-Length", str(response.length)))
            pieces, chunked = _response_pieces(response), False
        else:
            headers.append(("Transfer-Encoding", "chunked"))
            pieces, chunked = _response_pieces(response), True
        # Recorded before the answer leaves: once the client has it, the log is complete.
        record(response.status)
        self.send_response_only(response.status, response.reason)
        for key, value in headers:
            self.send_header(key, value)
        self.end_headers()
        for piece in pieces:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    def _misbehave(self, fault: Fault, response: http.client.HTTPResponse, record: Any,
                   generation: int) -> None:
        """The emulator acted; answer 200 with the fault's body, or trickle the real answer."""
        proxy = self.server.proxy
        status, data = response.status, self._rewrite(response.read().decode(
            "utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        if fault.answer is not None:
            status, data = 200, fault.answer_body()
        content_type = response.getheader("Content-Type", "application/json")
        self.close_connection = True
        if fault.trickle is None:
            record(f"answered-{status}")
            self.send_response_only(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        record("trickled")
        head = (f"HTTP/1.1 {status} OK\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n").encode()
        trickle(self.connection, head, data, fault.trickle,
                lambda: generation == proxy.generation, from_head=fault.trickle_head)

    def _rewrite(self, text: str) -> str:
        proxy = self.server.proxy
        return text.replace(proxy.upstream, proxy.url)

    def _answer_error(self, status: int, message: str) -> None:
        error = ApiError(status, message).body()  # as the JSON API has it: no "status"
        error["error"].pop("status")
        error["error"]["errors"] = [{"message": message, "domain": "global",
                                     "reason": _REASONS.get(status, "backendError")}]
        data = json.dumps(error).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _reset(self) -> None:
        self.close_connection = True
        with self.server.reset_lock:
            self.server.reset_on_close.add(self.connection)


_REASONS = {403: "forbidden", 404: "notFound", 429: "rateLimitExceeded", 503: "backendError"}


class _Counted:
    """The request body: the head already read, then the rest, counting bytes as they go."""

    def __init__(self, head: bytes, rest: Iterator[bytes]) -> None:
        self.head = head
        self.rest = rest
        self.size = 0

    def __iter__(self) -> Iterator[bytes]:
        for piece in ([self.head] if self.head else []):
            self.size += len(piece)
            yield piece
        for piece in self.rest:
            self.size += len(piece)
            yield piece


def _response_pieces(response: http.client.HTTPResponse) -> Iterator[bytes]:
    while True:
        piece = response.read1(PIECE) if response.length is None else response.read(PIECE)
        if not piece:
            return
        yield piece


def _name_in_body(head: bytes, content_type: str) -> str | None:
    """The object name in a resumable initiation (JSON) or a multipart upload's first part."""
    text = head.decode("utf-8", "replace")
    if "multipart/" in content_type:
        match = re.search(r"\r?\n\r?\n(\{.*?\})\r?\n--", text, re.S)
        text = match.group(1) if match else ""
    try:
        data = json.loads(text) if text.strip() else None
    except ValueError:
        return None
    name = data.get("name") if isinstance(data, dict) else None
    return str(name) if name is not None else None
