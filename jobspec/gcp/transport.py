"""HTTP under the google clients: timeouts from the environment, a requests session that
never re-sends a request, and a watchdog that bounds every whole answer.

google.* and the HTTP libraries are imported lazily, inside the functions that use them.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

HTTP_TIMEOUT = 30.0  # s: connect, each read, and the whole answer of one HTTP request
STORAGE_DEADLINE = 60.0  # s: google-cloud-storage's retries of one call stop after this
MAX_PAGES = 1000  # a listing that goes on longer than this is the service misbehaving


def _seconds(variable: str, default: float) -> float:
    """A duration from the environment (tests shorten them), else the default."""
    try:
        value = float(os.environ.get(variable, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def http_timeout() -> float:
    return _seconds("JOBSPEC_HTTP_TIMEOUT", HTTP_TIMEOUT)


def operation_deadline() -> float:
    """A REST call with its retries starts no new attempt after this (90 s by default)."""
    return 3 * http_timeout()


def storage_deadline() -> float:
    return _seconds("JOBSPEC_STORAGE_DEADLINE", STORAGE_DEADLINE)


def max_pages() -> int:
    return int(_seconds("JOBSPEC_MAX_PAGES", MAX_PAGES))


class DeadlineExceeded(TimeoutError):
    """An answer that did not complete in time: a silent server, or one trickling bytes."""


class BadAnswer(ValueError):
    """A 2xx answer that is not what the API promises (not JSON, the wrong shape)."""


def user_agent() -> str:
    from jobspec import __version__

    return f"jobspec/{__version__}"


_watch = threading.local()  # the deadline of the request this thread is making


def _deadline_session(credentials: Any) -> Any:
    """An AuthorizedSession whose every request ends within http_timeout(), answer included.

    requests' timeout bounds the connect and each read, not the whole answer: a server that
    sends a byte every few seconds (of its head or of its body) keeps a read going forever. So
    when a connection starts waiting for the answer, a watchdog is armed on its socket and
    shuts it down once the request's time is up; the body is read here, under it. Every answer
    is therefore read in full before the caller sees it (jobspec only downloads small records).
    """
    from google.auth.transport.requests import AuthorizedSession

    class DeadlineSession(AuthorizedSession):
        def __init__(self, credentials: Any) -> None:
            super().__init__(credentials)  # type: ignore[no-untyped-call]
            for adapter in self.adapters.values():
                pools = getattr(adapter, "poolmanager", None)
                if pools is not None:
                    pools.pool_classes_by_scheme = _watched_pools()

        def request(  # type: ignore[override]
                self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
            limit = http_timeout()
            kwargs["timeout"] = (limit, limit)
            kwargs["stream"] = True
            outer = getattr(_watch, "state", None)  # a nested request (a 401's retry)
            state = _watch.state = _Watchdog(time.monotonic() + limit)
            try:
                answer = super().request(  # type: ignore[no-untyped-call]
                    method, url, *args, **kwargs)
                answer.content  # noqa: B018 - read the whole body now, under the watchdog
            except Exception:
                if state.expired.is_set():
                    raise DeadlineExceeded(_too_slow(method, url, limit)) from None
                raise
            finally:
                state.disarm()
                _watch.state = outer
            if state.expired.is_set():
                answer.close()
                raise DeadlineExceeded(_too_slow(method, url, limit))
            return answer

    return DeadlineSession(credentials)


class _Watchdog:
    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.expired = threading.Event()
        self.timers: list[threading.Timer] = []

    def arm(self, sock: Any) -> None:
        def expire() -> None:
            self.expired.set()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

        timer = threading.Timer(max(0.0, self.deadline - time.monotonic()), expire)
        timer.daemon = True
        self.timers.append(timer)
        timer.start()

    def disarm(self) -> None:
        for timer in self.timers:
            timer.cancel()


@functools.cache
def _watched_pools() -> dict[str, Any]:
    """urllib3's pools, whose connections arm the thread's watchdog when they start waiting
    for an answer (the head, then the body, are read from then on)."""
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def getresponse(connection: Any, base: Any) -> Any:
        state = getattr(_watch, "state", None)
        if state is not None and connection.sock is not None:
            state.arm(connection.sock)
        return base.getresponse(connection)

    class Watched(HTTPConnection):
        def getresponse(self) -> Any:
            return getresponse(self, HTTPConnection)

    class WatchedTls(HTTPSConnection):
        def getresponse(self) -> Any:
            return getresponse(self, HTTPSConnection)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Watched

    class TlsPool(HTTPSConnectionPool):
        ConnectionCls = WatchedTls

    return {"http": Pool, "https": TlsPool}


def _too_slow(method: str, url: str, limit: float) -> str:
    path = urlparse(url).path
    return f"{method} {path}: no complete answer within {limit:g} s"


class _SessionHttp:
    """The httplib2 interface googleapiclient expects, over a requests session.

    httplib2 re-sends a request by itself when a connection closes without an answer (for a
    stale keep-alive connection it does so whatever RETRIES says), and the caller never learns
    of it: for customJobs.create, which takes no request id, that can make a second job.
    requests (urllib3) never re-sends after a request went out, so jobspec alone decides, after
    looking the submission up. Each request ends within http_timeout() (_deadline_session).
    """

    def __init__(self, credentials: Any) -> None:
        self.session = _deadline_session(credentials)

    def request(self, uri: str, method: str = "GET", body: Any = None,
                headers: Mapping[str, str] | None = None, redirections: int = 5,
                connection_type: Any = None) -> tuple[Any, bytes]:
        import httplib2

        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "user-agent"}
        theirs = next((v for k, v in (headers or {}).items() if k.lower() == "user-agent"), "")
        sent["user-agent"] = f"{user_agent()} {theirs}".strip()
        answer = self.session.request(method, uri, data=body, headers=sent,
                                      allow_redirects=redirections > 0)
        info = {k.lower(): v for k, v in answer.headers.items()}
        info["status"] = str(answer.status_code)
        response = httplib2.Response(info)
        response.reason = answer.reason
        return response, answer.content

    def close(self) -> None:
        self.session.close()
