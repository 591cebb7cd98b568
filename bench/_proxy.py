"""A counting HTTP proxy in front of the GCS emulator: which requests, and how many bytes each
sent, so bench/submission.py can show what a re-submission uploads.

fake-gcs-server keeps no request log of its own. Only the bytes pass; nothing is changed except
the emulator's own address in answers (Location headers, JSON bodies), so resumable sessions
and media links keep coming back through the proxy. Used for the byte count only: the timed
runs talk to the emulator directly, so the proxy's own latency never enters a figure.
"""

from __future__ import annotations

import http.client
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host",
        "proxy-connection", "te", "trailer", "upgrade"}
_NAME = re.compile(rb'"name"\s*:\s*"([^"]+)"')


@dataclass(frozen=True)
class Sent:
    method: str
    path: str  # path and query, as sent
    body_bytes: int
    object_name: str | None  # for uploads: the object written (from the query or metadata)

    @property
    def is_upload(self) -> bool:
        return self.path.startswith("/upload/")


class CountingProxy:
    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream = upstream.rstrip("/")
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.sent: list[Sent] = []
        self.lock = threading.Lock()
        self.server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> CountingProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy.forward(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _any  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def clear(self) -> None:
        with self.lock:
            self.sent.clear()

    def forward(self, handler: BaseHTTPRequestHandler) -> None:
        body = _read_body(handler)
        name = None
        query = dict(p.split("=", 1) for p in urlsplit(handler.path).query.split("&") if "=" in p)
        if "name" in query:
            name = unquote(query["name"])
        elif handler.path.startswith("/upload/"):
            found = _NAME.search(body[:65536])
            name = found.group(1).decode() if found else None
        with self.lock:
            self.sent.append(Sent(handler.command, handler.path, len(body), name))
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in _HOP}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        try:
            conn.request(handler.command, handler.path, body=body or None, headers=headers)
            answer = conn.getresponse()
            data = answer.read().replace(self.upstream.encode(), self.url.encode())
            handler.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in _HOP:
                    handler.send_header(key, value.replace(self.upstream, self.url))
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(data)
        finally:
            conn.close()


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                handler.rfile.readline()
                return b"".join(chunks)
            chunks.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""
