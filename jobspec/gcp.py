"""The only module that imports google.*; every import is lazy, so local commands never pay.

Endpoints (jobspec.context) follow Google's own tools: STORAGE_EMULATOR_HOST for Cloud Storage
and CLOUDSDK_API_ENDPOINT_OVERRIDES_{AIPLATFORM,LOGGING} for the REST APIs. Every request says
`jobspec/<version>` in its User-Agent. Credentials come from
google.auth.default(); anonymous credentials only when every endpoint in use is on loopback.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from jobspec.errors import CloudError

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


def logging_endpoint(env: Mapping[str, str]) -> str:
    from jobspec.context import logging_for_env

    return logging_for_env(env)


def user_agent() -> str:
    from jobspec import __version__

    return f"jobspec/{__version__}"


def adc_project(env: Mapping[str, str], aiplatform: str) -> tuple[str | None, str]:
    """The project Application Default Credentials report, and why there is none.

    A credentials file (GOOGLE_APPLICATION_CREDENTIALS, else gcloud's ADC file) is only read as
    JSON: a service-account key names its project_id; a user login names none (google-auth
    would then run gcloud for the configuration's project, which jobspec has already read).
    Without a file, google.auth.default() may find one on a metadata server (Compute Engine).
    """
    if all_loopback(aiplatform, env):
        return None, "not asked: every endpoint is on loopback"
    import json

    from jobspec.context import gcloud_folder

    key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    folder = gcloud_folder(env)
    path = key_file or (str(folder / "application_default_credentials.json") if folder else "")
    if key_file or (path and os.path.isfile(path)):
        try:
            with open(path, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return None, f"cannot read {path}: {reason}"
        project = info.get("project_id") if isinstance(info, dict) else None
        if isinstance(project, str) and project:
            return project, ""
        return None, f"no project in {path}"
    import google.auth
    from google.auth.exceptions import GoogleAuthError

    try:
        _, project = google.auth.default()
    except GoogleAuthError as exc:
        return None, f"no credentials: {_auth_reason(exc).splitlines()[0]}"
    return (str(project) if project else None), "no project"


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url if "://" in url else f"http://{url}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def all_loopback(aiplatform: str, env: Mapping[str, str]) -> bool:
    from jobspec.context import logging_for_env, storage_for_env

    return (_is_loopback(storage_for_env(env)) and _is_loopback(aiplatform)
            and _is_loopback(logging_for_env(env)))


@dataclass
class Clients:
    """The three clients a cloud run needs, sharing one set of credentials."""

    project: str | None  # None: the claims say (storage needs none to read a bucket)
    credentials: Any
    aiplatform_endpoint: str
    env: Mapping[str, str]
    _storage: Any = None
    _vertex: Any = None
    _logging: Any = None

    def close(self) -> None:
        """Close every connection, so nothing lingers after a command (or a test) ends."""
        for client in (self._vertex, self._logging, self._storage):
            if client is not None:
                client.close()
        self._vertex = self._logging = self._storage = None

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from google.api_core.client_info import ClientInfo
            from google.cloud import storage

            self._storage = storage.Client(project=self.project, credentials=self.credentials,
                                           _http=_deadline_session(self.credentials),
                                           client_info=ClientInfo(  # type: ignore[no-untyped-call]
                                               user_agent=user_agent()))
        return self._storage

    @property
    def vertex(self) -> Any:
        if self._vertex is None:
            self._vertex = _discovery("aiplatform", "v1", self.aiplatform_endpoint,
                                      self.credentials)
        return self._vertex

    @property
    def logging(self) -> Any:
        if self._logging is None:
            self._logging = _discovery("logging", "v2", logging_endpoint(self.env),
                                       self.credentials)
        return self._logging


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


# The resources jobspec calls. Building a client makes a method object for every method of
# every resource on the way down (aiplatform v1 has ~100 beside customJobs): keeping only these
# paths in the shipped document saves ~20 ms a client (bench/README.md). Same requests.
_USED = {("aiplatform", "v1"): ("projects", "locations", "customJobs"),
         ("logging", "v2"): ("entries",)}


def _only(resources: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    name, rest = path[0], path[1:]
    if not rest:
        return {name: resources[name]}
    node = {k: v for k, v in resources[name].items() if k not in ("methods", "resources")}
    node["resources"] = _only(resources[name].get("resources", {}), rest)
    return {name: node}


def _discovery(api: str, version: str, endpoint: str, credentials: Any) -> Any:
    import json

    from googleapiclient.discovery import UnknownApiNameOrVersion, build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    content = get_static_doc(api, version)  # what build(static_discovery=True) reads
    if content is None:
        raise UnknownApiNameOrVersion(f"name: {api}  version: {version}")
    doc = json.loads(content)
    doc["resources"] = _only(doc["resources"], _USED[(api, version)])
    return build_from_document(doc, http=_SessionHttp(credentials),
                               client_options={"api_endpoint": endpoint})


def connect(project: str | None, aiplatform_endpoint: str,
            env: Mapping[str, str] | None = None) -> Clients:
    env = os.environ if env is None else env
    os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "1")
    if all_loopback(aiplatform_endpoint, env):
        from google.auth.credentials import AnonymousCredentials

        return Clients(project, AnonymousCredentials(), aiplatform_endpoint, env)  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        credentials, found = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as exc:
        raise _credentials_error(key_file, _auth_reason(exc)) from None
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        if not key_file:  # not a file the user named: a bug keeps its traceback
            raise
        # google-auth lets these through for a folder, an unreadable file, or JSON that is not
        # an object (`[1]` gives "'list' object has no attribute 'get'")
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else (
            f"its content is not a JSON object ({exc})")
        raise _credentials_error(key_file, reason) from None
    # no project named anywhere else: the one Application Default Credentials report
    return Clients(project or (str(found) if found else None), credentials, aiplatform_endpoint,
                   env)


def _auth_reason(exc: BaseException) -> str:
    """google-auth's own words: its errors carry (message, cause) as their arguments."""
    parts = [str(a) if not isinstance(a, BaseException) else f"{type(a).__name__}: {a}"
             for a in exc.args]
    parts = [p.rstrip(".") if i < len(parts) - 1 else p for i, p in enumerate(parts) if p]
    return ": ".join(parts) or type(exc).__name__


def _credentials_error(key_file: str | None, reason: str) -> CloudError:
    if key_file:
        return CloudError(f"cannot use GOOGLE_APPLICATION_CREDENTIALS={key_file}: {reason}",
                          hint="point it at a service-account key file (JSON), or unset it "
                          "to use `gcloud auth application-default login` credentials")
    return CloudError(f"no Google Cloud credentials found: {reason}",
                      hint="run `gcloud auth application-default login`, or set "
                      "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file")


# ---------------------------------------------------------------------------------------------
# Errors: google's exception types, classified without importing them at module level


@dataclass(frozen=True)
class Failure:
    status: int | None  # HTTP status, or None when no answer came back
    message: str
    unknown_outcome: bool  # the server may have acted on the request
    retryable: bool


def classify(exc: BaseException) -> Failure | None:
    """What an exception from a google client means for the caller; None if it is not ours."""
    from google.api_core import exceptions as core
    from googleapiclient.errors import HttpError

    if isinstance(exc, HttpError):
        status = int(exc.resp.status)
        return Failure(status, _http_error_message(exc), status >= 500,
                       status == 429 or status >= 500)
    if isinstance(exc, core.GoogleAPICallError):
        code = exc.code if isinstance(exc.code, int) else None
        retry = code is not None and (code == 429 or code >= 500)
        message = _storage_message(exc.code, getattr(exc, "response", None),
                                   str(exc.message or exc))
        return Failure(code, message, bool(code and code >= 500), retry)
    if isinstance(exc, core.RetryError):  # google-cloud-storage retried until storage_deadline
        return _gave_up(exc.cause)
    if isinstance(exc, DeadlineExceeded):
        return Failure(None, str(exc), True, True)
    if isinstance(exc, BadAnswer):  # a 2xx answer: the request may well have been acted on
        return Failure(None, str(exc), True, False)
    if isinstance(exc, (ConnectionError, socket.timeout, TimeoutError)):
        return Failure(None, f"connection failed: {exc}", True, True)
    import httplib2
    import requests

    if isinstance(exc, requests.exceptions.JSONDecodeError):  # google-cloud-storage's .json()
        return Failure(None, f"the answer is not JSON ({exc})", True, False)
    if isinstance(exc, requests.exceptions.Timeout):
        return Failure(None, f"no answer within {http_timeout():g} s ({exc})", True, True)
    if isinstance(exc, (httplib2.HttpLib2Error, requests.exceptions.RequestException)):
        return Failure(None, f"connection failed: {exc}", True, True)
    if isinstance(exc, OSError) and exc.errno is not None:
        return Failure(None, f"connection failed: {exc}", True, True)
    return None


def _http_error_message(exc: Any) -> str:
    import json

    try:
        data = json.loads(exc.content.decode("utf-8"))
        return f"{data['error'].get('status', exc.resp.status)}: {data['error']['message']}"
    except (ValueError, KeyError, TypeError, AttributeError):
        return f"HTTP {exc.resp.status}: {exc.reason if hasattr(exc, 'reason') else exc}"


def _storage_message(code: Any, response: Any, fallback: str) -> str:
    """'403 forbidden: <the service's message>'. google-cloud-storage's own text for a failed
    upload is the method, the URL, the raw JSON body and a tuple repr."""
    try:
        error = response.json()["error"]
        reasons = [e["reason"] for e in error.get("errors", []) if e.get("reason")]
        return f"{code} {reasons[0] if reasons else ''}".rstrip() + f": {error['message']}"
    except (ValueError, KeyError, TypeError, AttributeError, IndexError):
        return fallback


def _gave_up(cause: BaseException | None) -> Failure:
    status, detail = _storage_failure(cause)
    return Failure(status, f"gave up after retrying for {storage_deadline():g} s: {detail}",
                   True, False)


def _storage_failure(cause: BaseException | None) -> tuple[int | None, str]:
    inner = classify(cause) if cause is not None else None
    response = getattr(cause, "response", None)
    status = inner.status if inner else getattr(response, "status_code", None)
    if inner is not None:
        detail = inner.message
    elif isinstance(status, int):  # the upload's raw InvalidResponse
        detail = _storage_message(status, response, f"HTTP {status}")
    else:
        detail = str(cause)
    return (status if isinstance(status, int) else None), detail


def storage_retry(what: str) -> Any:
    """google-cloud-storage's own retry policy (429, 5xx, resets, timeouts), stopped after
    storage_deadline() instead of 120 s, and saying so on the first retry rather than waiting
    in silence."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    from jobspec.output import info

    told: list[bool] = []

    def on_error(exc: BaseException) -> None:
        if not told:
            told.append(True)
            detail = _storage_failure(exc)[1]
            info(f"{what}: {detail}; retrying for up to {storage_deadline():g} s")

    from google.cloud.storage.retry import _should_retry

    policy = DEFAULT_RETRY.with_timeout(storage_deadline()).with_predicate(
        lambda exc: isinstance(exc, DeadlineExceeded) or _should_retry(exc))
    policy._on_error = on_error  # Retry has no with_on_error()
    return policy


def status_of(exc: BaseException) -> int | None:
    """The HTTP status of a google-cloud-storage error (412, 404, ...), else None."""
    from google.api_core import exceptions as core

    if isinstance(exc, core.GoogleAPICallError) and isinstance(exc.code, int):
        return exc.code
    status = getattr(getattr(exc, "response", None), "status_code", None)  # a media download
    return status if isinstance(status, int) else None


def storage_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a storage call may raise for reasons outside jobspec."""
    import requests
    from google.api_core import exceptions as core
    from google.auth import exceptions as auth

    return (core.GoogleAPICallError, core.RetryError, auth.GoogleAuthError,
            requests.exceptions.RequestException, ConnectionError, TimeoutError, BadAnswer)


def api_errors() -> tuple[type[BaseException], ...]:
    """Exceptions a discovery (REST) call may raise for reasons outside jobspec."""
    import httplib2
    import requests
    from google.auth import exceptions as auth
    from googleapiclient.errors import HttpError

    return (HttpError, httplib2.HttpLib2Error, auth.GoogleAuthError, ConnectionError,
            TimeoutError, OSError, requests.exceptions.RequestException, BadAnswer)
