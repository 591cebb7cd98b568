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
from typing import Any

from jobspec import gcp
from jobspec.errors import CloudError
from jobspec.package import Package

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


@contextmanager
def cloud_errors(what: str) -> Iterator[None]:
    """Storage failures become one clear CloudError (exit 4), never a traceback."""
    try:
        yield
    except gcp.storage_errors() as exc:
        failure = gcp.classify(exc)
        detail = failure.message if failure else str(exc)
        raise CloudError(f"{what}: {detail}") from None


class Bucket:
    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.bucket = client.bucket(name)

    def check(self) -> None:
        with cloud_errors(f"cannot reach bucket gs://{self.name}"):
            try:
                self.client.get_bucket(self.name)
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
            for blob in self.client.list_blobs(self.name, prefix=prefix, max_results=1):
                updated = blob.updated.isoformat() if blob.updated else "at an unknown time"
                return blob.name, updated
        return None

    def next_free(self, name: str) -> str:
        """NAME_N with N one past the highest used, from one delimiter listing (not a scan)."""
        pattern = re.compile(rf"{re.escape(name)}_(\d+)/")
        highest = 0
        with cloud_errors(f"cannot list gs://{self.name}/{name}_*"):
            iterator = self.client.list_blobs(self.name, prefix=f"{name}_", delimiter="/")
            for page in iterator.pages:
                for prefix in page.prefixes:
                    match = pattern.fullmatch(prefix)
                    if match:
                        highest = max(highest, int(match.group(1)))
        return f"{name}_{highest + 1}"

    def read_json(self, path: str) -> Claim | None:
        """A JSON record (a claim, a group) with its generation; None when there is none."""
        blob = self.bucket.blob(path)
        with cloud_errors(f"cannot read gs://{self.name}/{path}"):
            try:
                data = blob.download_as_bytes()
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) == 404:
                    return None
                raise
        try:
            record = json.loads(data.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            record = {"state": "unreadable"}
        return Claim(record if isinstance(record, dict) else {"state": "unreadable"},
                     int(blob.generation or 0))

    def read_claim(self, name: str) -> Claim | None:
        return self.read_json(claim_path(name))

    def create_claim(self, name: str, record: dict[str, Any]) -> Claim | None:
        """Our claim, or None when somebody else holds the name."""
        blob = self.bucket.blob(claim_path(name))
        payload = json.dumps(record, indent=2, sort_keys=True)
        with cloud_errors(f"cannot claim gs://{self.name}/{name}/"):
            try:
                blob.upload_from_string(payload, content_type="application/json",
                                        if_generation_match=0)
                return Claim(record, int(blob.generation or 0))
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
                                        if_generation_match=claim.generation)
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) != 412:
                    raise
                current = self.read_claim(name)
                if current is not None and current.data == record:
                    return current  # our own retried write had landed
                raise CloudError(f"the claim on {name!r} changed under us; another jobspec "
                                 "took it over") from None
        return Claim(record, int(blob.generation or 0))

    def staged(self, path: str, md5_b64: str) -> bool:
        blob = self.bucket.blob(path)
        with cloud_errors(f"cannot check gs://{self.name}/{path}"):
            try:
                blob.reload()
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
                                      if_generation_match=0, checksum="md5")
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) != 412 or not self.staged(path, package.md5_b64):
                    raise


class _Counting(io.BytesIO):
    def __init__(self, data: bytes, progress: Callable[[int], None] | None) -> None:
        super().__init__(data)
        self.progress = progress

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if self.progress is not None and chunk:
            self.progress(len(chunk))
        return chunk
