"""Vertex AI CustomJobs and HyperparameterTuningJobs through google-api-python-client
(aiplatform v1, static discovery). Both collections take the same calls (create, get, list
with a label filter, cancel); a job's resource name says which collection it is in.

customJobs.create takes no request id, so a create whose outcome is unknown (a timeout, a reset
after sending, a 5xx) is never simply repeated: the submission's unique label is looked up
first, and only when no job carries it is the create sent again.
"""

from __future__ import annotations

import os
import random
import re
import time
from collections.abc import Callable
from typing import Any

from jobspec import gcp
from jobspec.errors import CloudError
from jobspec.plan import LABEL_SUBMISSION
from jobspec.states import TERMINAL as TERMINAL
from jobspec.states import short_state as short_state

ATTEMPTS = 6


def job_id(resource: str) -> str:
    return resource.rsplit("/", 1)[-1]


def _backoff(attempt: int) -> float:
    base = float(os.environ.get("JOBSPEC_RETRY_BASE", "0.5"))
    return float(min(base * (2 ** attempt), 16.0) * (0.5 + random.random() / 2))


JOB_NAME = re.compile(
    r"^projects/[^/]+/locations/[a-z0-9-]+/(customJobs|hyperparameterTuningJobs)/\d+$")
COLLECTIONS = ("customJobs", "hyperparameterTuningJobs")


def collection_of(name: str) -> str:
    """customJobs or hyperparameterTuningJobs, from a job's resource name."""
    return "hyperparameterTuningJobs" if "/hyperparameterTuningJobs/" in name else "customJobs"


def collection_in(record: dict[str, Any]) -> str:
    """Where a claim's job was created: its job's name says, else the claim's "collection"
    (written since tuning jobs; a claim without it, or with nonsense, is a custom job's)."""
    job = record.get("job")
    if isinstance(job, str) and JOB_NAME.fullmatch(job):
        return collection_of(job)
    kind = record.get("collection")
    return kind if isinstance(kind, str) and kind in COLLECTIONS else "customJobs"

Check = Callable[[Any], Any]


def _preview(answer: Any) -> str:
    text = repr(answer)
    return text if len(text) <= 60 else text[:57] + "..."


def an_object(answer: Any) -> dict[str, Any]:
    if not isinstance(answer, dict):
        what = "empty" if answer in ("", b"", None) else f"not a JSON object: {_preview(answer)}"
        raise gcp.BadAnswer(f"the answer is {what}")
    return answer


def a_job(answer: Any) -> dict[str, Any]:
    """A CustomJob as jobspec reads it: a resource name, a state, an error object if any."""
    job = an_object(answer)
    if not isinstance(job.get("name"), str) or not JOB_NAME.fullmatch(job["name"]):
        raise gcp.BadAnswer(f"the answer is not a job: its name is "
                            f"{_preview(job.get('name'))}")
    if not isinstance(job.get("state"), str):
        raise gcp.BadAnswer(f"the answer for {job['name']} has no state")
    if not isinstance(job.get("error", {}), dict):
        raise gcp.BadAnswer(f"the answer for {job['name']} has an error that is not an object")
    return job


def a_log_entry(answer: Any) -> dict[str, Any]:
    """A LogEntry as jobspec reads it: its labels and resource, where present, are objects."""
    entry = an_object(answer)
    resource = entry.get("resource", {})
    if not isinstance(entry.get("labels", {}), dict) or not isinstance(resource, dict) or (
            not isinstance(resource.get("labels", {}), dict)):
        raise gcp.BadAnswer(f"a log entry is malformed: {_preview(entry)}")
    if not isinstance(entry.get("jsonPayload", {}), dict):
        raise gcp.BadAnswer(f"a log entry's jsonPayload is not an object: {_preview(entry)}")
    return entry


def a_page(key: str, item: Check) -> Check:
    """A list answer: {key: [items], nextPageToken: str}, each item checked."""

    def check(answer: Any) -> dict[str, Any]:
        page = an_object(answer)
        items = page.get(key, [])
        if not isinstance(items, list):
            raise gcp.BadAnswer(f"the answer's {key} is not a list: {_preview(items)}")
        for one in items:
            item(one)
        token = page.get("nextPageToken")
        if token is not None and not isinstance(token, str):
            raise gcp.BadAnswer(f"the answer's nextPageToken is not a string: {_preview(token)}")
        return page

    return check


class Pages:
    """Follows nextPageToken, refusing a token that repeats or a listing that never ends."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen: set[str] = set()

    def next(self, page: dict[str, Any]) -> str | None:
        token = page.get("nextPageToken")
        if not token:
            return None
        if token in self.seen:
            raise CloudError(f"{self.what}: the service sent the same page token twice "
                             f"({_preview(token)}): the listing would never end")
        self.seen.add(str(token))
        if len(self.seen) >= gcp.max_pages():
            raise CloudError(f"{self.what}: the listing did not end after {gcp.max_pages()} "
                             "pages; stopped reading it")
        return str(token)


def call(request: Callable[[], Any], what: str, *, retry: bool = True,
         check: Check = an_object) -> Any:
    """Run one API request; retry 429, 5xx and dropped connections with backoff (reads only,
    or writes that are safe to repeat). The answer must pass `check`: a malformed one is a
    CloudError naming the call, not a KeyError later."""
    give_up = time.monotonic() + gcp.operation_deadline()
    for attempt in range(ATTEMPTS):
        try:
            try:
                return check(request())
            except ValueError as exc:  # googleapiclient decodes the body as UTF-8 first
                if isinstance(exc, gcp.BadAnswer):
                    raise
                raise gcp.BadAnswer(f"the answer is not readable: {exc}") from None
        except gcp.api_errors() as exc:
            failure = gcp.classify(exc)
            if failure is None:
                raise
            pause = _backoff(attempt)
            if not (retry and failure.retryable) or attempt == ATTEMPTS - 1 or (
                    time.monotonic() + pause > give_up):
                raise CloudError(f"{what}: {failure.message}") from None
            time.sleep(pause)
    raise AssertionError("unreachable")


class Vertex:
    """Jobs of one collection in one location; get and cancel follow the name's collection."""

    def __init__(self, api: Any, parent: str, collection: str = "customJobs") -> None:
        if collection not in COLLECTIONS:
            raise ValueError(f"not a job collection: {collection!r}")
        self.api = api
        self.collection = collection
        self.jobs = getattr(api.projects().locations(), collection)()
        self.parent = parent

    def _of(self, name: str) -> Any:
        if collection_of(name) == self.collection:
            return self.jobs
        return getattr(self.api.projects().locations(), collection_of(name))()

    def find_by_label(self, key: str, value: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        query = f'labels.{key}="{value}"'
        token: str | None = None
        kind = "custom jobs" if self.collection == "customJobs" else "tuning jobs"
        what = f"cannot list {kind} in {self.parent}"
        pages = Pages(what)
        while True:
            request = self.jobs.list(parent=self.parent, filter=query, pageSize=100,
                                     pageToken=token)
            page = call(request.execute, what, check=a_page(self.collection, a_job))
            found += page.get(self.collection, [])
            token = pages.next(page)
            if not token:
                return found

    def create(self, body: dict[str, Any], on_retry: Callable[[str], None] | None = None
               ) -> dict[str, Any]:
        """Exactly one job for this submission, however the network behaves.

        CreateFailed(definitive=False) means the job may exist: only a look-up by the
        submission label can tell, later."""
        submission = body["labels"][LABEL_SUBMISSION]
        give_up = time.monotonic() + gcp.operation_deadline()
        for attempt in range(ATTEMPTS):
            try:
                try:
                    job = a_job(self.jobs.create(parent=self.parent, body=body).execute())
                except ValueError as exc:
                    if isinstance(exc, gcp.BadAnswer):
                        raise
                    raise gcp.BadAnswer(f"the answer is not readable: {exc}") from None
                break
            except gcp.api_errors() as exc:
                failure = gcp.classify(exc)
                if failure is None:
                    raise
                if failure.unknown_outcome:
                    try:
                        existing = self.find_by_label(LABEL_SUBMISSION, submission)
                    except CloudError as lookup:
                        raise CreateFailed(f"{failure.message}; and looking the job up by its "
                                           f"submission label failed too ({lookup.message})",
                                           definitive=False) from None
                    if existing:
                        job = existing[0]
                        break
                pause = _backoff(attempt)
                if not failure.retryable or attempt == ATTEMPTS - 1 or (
                        time.monotonic() + pause > give_up):
                    # nothing carries the label now; a create still in flight could, later
                    raise CreateFailed(failure.message, definitive=not failure.unknown_outcome
                                       ) from None
                if on_retry is not None:
                    on_retry(failure.message)
                time.sleep(pause)
        self._cancel_extras(job, submission)
        return job

    def _cancel_extras(self, job: dict[str, Any], submission: str) -> None:
        """Belt and braces: should any layer have re-sent the create, keep only our job."""
        for other in self.find_by_label(LABEL_SUBMISSION, submission):
            if other["name"] != job["name"]:
                self.cancel(other["name"])

    def get(self, name: str) -> dict[str, Any]:
        def the_job(answer: Any) -> dict[str, Any]:
            job = a_job(answer)
            if job_id(job["name"]) != job_id(name):
                raise gcp.BadAnswer(f"the answer is about another job: {job['name']}")
            return job

        result: dict[str, Any] = call(lambda: self._of(name).get(name=name).execute(),
                                      f"cannot read the state of {name}", check=the_job)
        return result

    def cancel(self, name: str) -> None:
        call(lambda: self._of(name).cancel(name=name, body={}).execute(),
             f"cannot cancel {name}")


class CreateFailed(CloudError):
    def __init__(self, message: str, *, definitive: bool) -> None:
        super().__init__(message)
        self.definitive = definitive
