"""Errors: google's exception types, classified without importing them at module level."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from jobspec.gcp.transport import BadAnswer, DeadlineExceeded, http_timeout, storage_deadline


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
