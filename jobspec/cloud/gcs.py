"""The bucket side of a submission: name checks, the claim, package staging.

A name is taken when any object exists under gs://BUCKET/NAME/. The claim object
NAME/.jobspec/claim.json is created with if_generation_match=0: of N racing submitters exactly
one wins. Every later change to the claim is guarded by the generation it was read at.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jobspec import gcp
from jobspec.errors import CloudError
from jobspec.package import Package
from jobspec.records import is_job_name

CLAIM = ".jobspec/claim.json"
RESUMABLE_ABOVE = 8 << 20  # bytes; smaller packages go up in one request
CHUNK = 8 << 20


def claim_path(name: str) -> str:
    return f"{name}/{CLAIM}"


@dataclass(frozen=True)
class Claim:
    data: dict[str, Any]
    generation: int

    @property
    def state(self) -> str:
        return str(self.data.get("state", "claimed"))


MALFORMED = (AttributeError, KeyError, TypeError, ValueError)


@contextmanager
def cloud_errors(what: str) -> Iterator[None]:
    """Storage failures become one clear CloudError (exit 4), never a traceback."""
    try:
        yield
    except gcp.storage_errors() as exc:
        failure = gcp.classify(exc)
        detail = failure.message if failure else str(exc)
        raise CloudError(f"{what}: {detail}") from None
    except MALFORMED as exc:
        # google-cloud-storage reads a 2xx answer without checking its shape: an empty or
        # malformed one surfaces as one of these, deep inside the library
        raise CloudError(f"{what}: Cloud Storage's answer is malformed "
                         f"({type(exc).__name__}: {str(exc)[:200]})") from None


class BadRecord(CloudError):
    """A claim or group record that is not what jobspec wrote: edited, or damaged."""


STATES = ("claimed", "submitted", "failed", "unknown")
MAX_RECORD = 1 << 20  # bytes; a record is a few hundred, a 10,000-member group ~1 MB
_CLAIM_FIELDS: dict[str, type | tuple[type, ...]] = {
    "version": int, "name": str, "owner": str, "state": str, "submission": str,
    "created": str, "project": str, "region": str, "bucket": str, "job": (str, type(None))}


def _problem_in_claim(record: Any, name: str) -> str | None:
    from jobspec.cloud.vertex import JOB_NAME

    if not isinstance(record, dict):
        return f"it holds {type(record).__name__}, not an object"
    for key, kind in _CLAIM_FIELDS.items():
        if key not in record:
            return f"it has no {key!r}"
        if isinstance(record[key], bool) or not isinstance(record[key], kind):
            return f"{key!r} is {_short(record[key])}"
    if record["name"] != name:
        return f"'name' is {record['name']!r}, not {name!r}"
    if record["state"] not in STATES:
        return f"'state' is {_short(record['state'])}, not one of {', '.join(STATES)}"
    if not re.fullmatch(r"[a-z0-9_-]{1,63}", record["submission"]):
        return f"'submission' is {_short(record['submission'])}, not a submission label"
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,62}", record["region"]):
        return f"'region' is {_short(record['region'])}, not a region"
    if not re.fullmatch(r"[a-z0-9][a-z0-9.:-]{2,62}", record["project"]):
        return f"'project' is {_short(record['project'])}, not a project id"
    if record["job"] is not None and not JOB_NAME.fullmatch(record["job"]):
        return f"'job' is {_short(record['job'])}, not a custom job's resource name"
    try:
        created = datetime.fromisoformat(record["created"])
    except ValueError:
        return f"'created' is {_short(record['created'])}, not a time"
    if created.tzinfo is None:
        return f"'created' is {_short(record['created'])}, a time without its zone"
    return None


def problem_in_group(record: Any, name: str) -> str | None:
    if not isinstance(record, dict):
        return f"it holds {type(record).__name__}, not an object"
    members = record.get("members")
    if not isinstance(members, list):
        return "'members' is missing" if members is None else f"'members' is {_short(members)}"
    for member in members:
        if not isinstance(member, str) or not is_job_name(member):
            return f"'members' holds {_short(member)}, not a job name"
    if record.get("group") != name:
        return f"'group' is {_short(record.get('group'))}, not {name!r}"
    return None


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Bucket:
    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.bucket = client.bucket(name)

    def check(self) -> None:
        with cloud_errors(f"cannot reach bucket gs://{self.name}"):
            try:
                self.client.get_bucket(self.name,
                                       retry=gcp.storage_retry(f"reading gs://{self.name}"))
            except gcp.storage_errors() as exc:
                status = gcp.status_of(exc)
                if status == 404:
                    raise CloudError(f"bucket gs://{self.name} does not exist",
                                     hint="create it, or set `bucket:` in the target") from None
                if status == 403:
                    raise CloudError(f"no access to bucket gs://{self.name}",
                                     hint="check the account's storage permissions") from None
                raise

    def first_object(self, prefix: str) -> tuple[str, str] | None:
        with cloud_errors(f"cannot list gs://{self.name}/{prefix}"):
            for blob in self.client.list_blobs(self.name, prefix=prefix, max_results=1,
                                               retry=gcp.storage_retry("listing the bucket")):
                updated = blob.updated.isoformat() if blob.updated else "at an unknown time"
                return blob.name, updated
        return None

    def next_free(self, name: str) -> str:
        """NAME_N with N one past the highest used, from one delimiter listing (not a scan)."""
        pattern = re.compile(rf"{re.escape(name)}_(\d+)/")
        highest = 0
        with cloud_errors(f"cannot list gs://{self.name}/{name}_*"):
            iterator = self.client.list_blobs(self.name, prefix=f"{name}_", delimiter="/",
                                              retry=gcp.storage_retry("listing the bucket"))
            for page in bounded_pages(iterator, f"cannot list gs://{self.name}/{name}_*"):
                for prefix in page.prefixes:
                    match = pattern.fullmatch(prefix)
                    if match:
                        highest = max(highest, int(match.group(1)))
        return f"{name}_{highest + 1}"

    def read_json(self, path: str, kind: str = "record",
                  problem: Callable[[Any], str | None] | None = None) -> Claim | None:
        """A JSON record (a claim, a group) with its generation; None when there is none.
        One that is not JSON, too big, or fails `problem` is a BadRecord naming the object."""
        blob = self.bucket.blob(path)
        where = f"gs://{self.name}/{path}"
        with cloud_errors(f"cannot read {where}"):
            try:
                data = blob.download_as_bytes(start=0, end=MAX_RECORD,
                                              retry=gcp.storage_retry(f"reading {where}"))
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) == 404:
                    return None
                if gcp.status_of(exc) != 416:  # 416: the range asked of an empty object
                    raise
                data = b""
        why: str | None
        if len(data) > MAX_RECORD:
            why = f"it is larger than {MAX_RECORD:,} bytes"
        else:
            try:
                record = json.loads(data.decode("utf-8"))
                why = problem(record) if problem is not None else None
            except (ValueError, UnicodeDecodeError) as exc:  # RecursionError is not a ValueError
                why = "it is empty" if not data.strip() else f"it is not JSON ({exc})"
            except RecursionError:
                why = "it is not JSON (nested too deeply)"
        if why is not None:
            raise BadRecord(f"{where} is not a valid jobspec {kind}: {why}",
                            hint=f"it was edited or damaged. Put back what jobspec wrote, or, "
                            f"once no job needs it, delete it (`gcloud storage rm {where}`)")
        return Claim(record, _generation(blob, where))

    def read_claim(self, name: str) -> Claim | None:
        return self.read_json(claim_path(name), "claim", lambda r: _problem_in_claim(r, name))

    def create_claim(self, name: str, record: dict[str, Any]) -> Claim | None:
        """Our claim, or None when somebody else holds the name."""
        blob = self.bucket.blob(claim_path(name))
        payload = json.dumps(record, indent=2, sort_keys=True)
        with cloud_errors(f"cannot claim gs://{self.name}/{name}/"):
            try:
                blob.upload_from_string(payload, content_type="application/json",
                                        if_generation_match=0,
                                        retry=gcp.storage_retry(f"claiming {name!r}"))
                return Claim(record, int(blob.generation or 0))
            except MALFORMED:  # a 2xx answer we cannot read: the create landed, or not
                landed = self.read_claim(name)
                if landed is not None and landed.data.get("owner") == record["owner"]:
                    return landed
                raise
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) != 412:
                    failure = gcp.classify(exc)
                    if failure is None or not failure.unknown_outcome:
                        raise
                    # the create may have landed before the connection broke: if the claim
                    # there is ours, we hold the name; otherwise report the failure
                    landed = self.read_claim(name)
                    if landed is not None and landed.data.get("owner") == record["owner"]:
                        return landed
                    raise
        # 412: a retried create whose first try landed looks exactly like a lost race; the
        # owner token tells them apart.
        existing = self.read_claim(name)
        if existing is not None and existing.data.get("owner") == record["owner"]:
            return existing
        return None

    def update_claim(self, name: str, claim: Claim, /, **fields: Any) -> Claim:
        """Rewrite the claim only if it is still the version we read."""
        record = {**claim.data, **fields}
        blob = self.bucket.blob(claim_path(name))
        payload = json.dumps(record, indent=2, sort_keys=True)
        with cloud_errors(f"cannot update gs://{self.name}/{claim_path(name)}"):
            try:
                blob.upload_from_string(payload, content_type="application/json",
                                        if_generation_match=claim.generation,
                                        retry=gcp.storage_retry(f"updating the claim on {name!r}"))
                return Claim(record, int(blob.generation or 0))
            except MALFORMED:  # a 2xx answer we cannot read: did our rewrite land?
                current = self.read_claim(name)
                if current is not None and current.data == record:
                    return current
                raise
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) != 412:
                    raise
                current = self.read_claim(name)
                if current is not None and current.data == record:
                    return current  # our own retried write had landed
                raise CloudError(f"the claim on {name!r} changed under us; another jobspec "
                                 "took it over") from None

    def staged(self, path: str, md5_b64: str) -> bool:
        blob = self.bucket.blob(path)
        with cloud_errors(f"cannot check gs://{self.name}/{path}"):
            try:
                blob.reload(retry=gcp.storage_retry(f"checking gs://{self.name}/{path}"))
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) == 404:
                    return False
                raise
        return bool(blob.md5_hash == md5_b64)

    def upload(self, path: str, package: Package,
               progress: Callable[[int], None] | None = None) -> None:
        """Content-addressed: a concurrent upload of the same bytes is as good as ours."""
        blob = self.bucket.blob(path, chunk_size=CHUNK if package.size > RESUMABLE_ABOVE else None)
        stream: io.BufferedIOBase = _Counting(package.data, progress)
        with cloud_errors(f"cannot upload gs://{self.name}/{path}"):
            try:
                blob.upload_from_file(stream, size=package.size, content_type="application/gzip",
                                      if_generation_match=0, checksum="md5",
                                      retry=gcp.storage_retry(f"uploading {package.filename}"))
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) != 412 or not self.staged(path, package.md5_b64):
                    raise


def _generation(blob: Any, where: str) -> int:
    with cloud_errors(f"cannot read the generation of {where}"):
        return int(blob.generation or 0)


def bounded_pages(iterator: Any, what: str) -> Iterator[Any]:
    """The pages of a google-cloud-storage listing, refusing one whose nextPageToken repeats
    or never ends (the library follows it forever)."""
    seen: set[str] = set()
    for count, page in enumerate(iterator.pages, start=1):
        yield page
        token = iterator.next_page_token
        if token is None:
            return
        if token in seen:
            raise CloudError(f"{what}: Cloud Storage sent the same page token twice: the "
                             "listing would never end")
        seen.add(token)
        if count >= gcp.max_pages():
            raise CloudError(f"{what}: the listing did not end after {gcp.max_pages()} pages; "
                             "stopped reading it")


class _Counting(io.BytesIO):
    def __init__(self, data: bytes, progress: Callable[[int], None] | None) -> None:
        super().__init__(data)
        self.progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self.progress is not None and chunk:
            self.progress(len(chunk))
        return chunk
