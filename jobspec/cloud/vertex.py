"""Vertex AI CustomJobs through google-api-python-client (aiplatform v1, static discovery).

customJobs.create takes no request id, so a create whose outcome is unknown (a timeout, a reset
after sending, a 5xx) is never simply repeated: the submission's unique label is looked up
first, and only when no job carries it is the create sent again.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

from jobspec import gcp
from jobspec.errors import CloudError
from jobspec.plan import LABEL_SUBMISSION

TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED",
            "JOB_STATE_EXPIRED", "JOB_STATE_PARTIALLY_SUCCEEDED")
ATTEMPTS = 6


def short_state(state: str) -> str:
    return state.removeprefix("JOB_STATE_")


def job_id(resource: str) -> str:
    return resource.rsplit("/", 1)[-1]


def _backoff(attempt: int) -> float:
    base = float(os.environ.get("JOBSPEC_RETRY_BASE", "0.5"))
    return float(min(base * (2 ** attempt), 16.0) * (0.5 + random.random() / 2))


def call(request: Callable[[], Any], what: str, *, retry: bool = True) -> Any:
    """Run one API request; retry 429, 5xx and dropped connections with backoff (reads only,
    or writes that are safe to repeat)."""
    for attempt in range(ATTEMPTS):
        try:
            return request()
        except gcp.api_errors() as exc:
            failure = gcp.classify(exc)
            if failure is None:
                raise
            if not (retry and failure.retryable) or attempt == ATTEMPTS - 1:
                raise CloudError(f"{what}: {failure.message}") from None
            time.sleep(_backoff(attempt))
    raise AssertionError("unreachable")


class Vertex:
    def __init__(self, api: Any, parent: str) -> None:
        self.jobs = api.projects().locations().customJobs()
        self.parent = parent

    def find_by_label(self, key: str, value: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query = f'labels.{key}="{value}"'
        token: str | None = None
        while True:
            request = self.jobs.list(parent=self.parent, filter=query, pageSize=100,
                                     pageToken=token)
            page = call(request.execute, "cannot list custom jobs")
            found += page.get("customJobs", [])
            token = page.get("nextPageToken")
            if not token:
                return found

    def create(self, body: dict[str, Any], on_retry: Callable[[str], None] | None = None
               ) -> dict[str, Any]:
        """Exactly one job for this submission, however the network behaves."""
        submission = body["labels"][LABEL_SUBMISSION]
        for attempt in range(ATTEMPTS):
            try:
                job: dict[str, Any] = self.jobs.create(parent=self.parent, body=body).execute()
                break
            except gcp.api_errors() as exc:
                failure = gcp.classify(exc)
                if failure is None:
                    raise
                if failure.unknown_outcome:
                    existing = self.find_by_label(LABEL_SUBMISSION, submission)
                    if existing:
                        job = existing[0]
                        break
                if not failure.retryable or attempt == ATTEMPTS - 1:
                    raise CreateFailed(failure.message, definitive=not failure.unknown_outcome
                                       or not failure.retryable) from None
                if on_retry is not None:
                    on_retry(failure.message)
                time.sleep(_backoff(attempt))
        self._cancel_extras(job, submission)
        return job

    def _cancel_extras(self, job: dict[str, Any], submission: str) -> None:
        """Belt and braces: should any layer have re-sent the create, keep only our job."""
        for other in self.find_by_label(LABEL_SUBMISSION, submission):
            if other["name"] != job["name"]:
                self.cancel(other["name"])

    def get(self, name: str) -> dict[str, Any]:
        result: dict[str, Any] = call(lambda: self.jobs.get(name=name).execute(),
                                      "cannot read the job's state")
        return result

    def cancel(self, name: str) -> None:
        call(lambda: self.jobs.cancel(name=name, body={}).execute(), "cannot cancel the job")


class CreateFailed(CloudError):
    def __init__(self, message: str, *, definitive: bool) -> None:
        super().__init__(message)
        self.definitive = definitive
