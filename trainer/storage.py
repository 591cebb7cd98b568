"""Read and write small text files on a local path or a gs:// URL.

google-cloud-storage is imported only for gs:// paths, so local runs need nothing
but numpy. The client honours STORAGE_EMULATOR_HOST by itself; with an emulator
there are no real credentials to find, so anonymous ones are used.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

GS = "gs://"


class StorageError(Exception):
    """A file could not be read or written; the message names it."""


def is_gcs(path: str) -> bool:
    return path.startswith(GS)


def split_gcs(url: str) -> tuple[str, str]:
    bucket, _, name = url[len(GS) :].partition("/")
    if not bucket:
        raise StorageError(f"{url}: no bucket in gs:// URL")
    return bucket, name


def join(directory: str, name: str) -> str:
    if is_gcs(directory):
        return directory.rstrip("/") + "/" + name
    return str(Path(directory) / name)


def parent(directory: str) -> str:
    """The folder holding `directory`; a bucket root is its own parent."""
    if is_gcs(directory):
        bucket, name = split_gcs(directory)
        head = name.rstrip("/").rpartition("/")[0]
        return f"{GS}{bucket}/{head}".rstrip("/")
    return str(Path(directory).parent)


def _client() -> Any:
    from google.cloud import storage

    credentials = None
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        credentials = AnonymousCredentials()
    project = os.environ.get("GOOGLE_CLOUD_PROJECT", "test")
    return storage.Client(project=project, credentials=credentials)


def read_text(path: str) -> str:
    try:
        if is_gcs(path):
            bucket, name = split_gcs(path)
            text: str = _client().bucket(bucket).blob(name).download_as_text(encoding="utf-8")
            return text
        return Path(path).read_text(encoding="utf-8")
    except StorageError:
        raise
    except Exception as exc:  # OS and cloud errors alike become one readable message
        raise StorageError(f"cannot read {path}: {_reason(exc)}") from exc


def write_text(path: str, text: str) -> None:
    try:
        if is_gcs(path):
            bucket, name = split_gcs(path)
            blob = _client().bucket(bucket).blob(name)
            blob.upload_from_string(text, content_type="application/json")
            return
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except StorageError:
        raise
    except Exception as exc:  # as in read_text
        raise StorageError(f"cannot write {path}: {_reason(exc)}") from exc


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    # cloud errors append the raw response on further lines; the first line says enough
    first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first_line}"
