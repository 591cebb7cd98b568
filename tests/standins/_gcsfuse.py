"""Cloud Storage FUSE for a container job, emulated from the GCS emulator's objects.

A Vertex training job sees every bucket it may read under /gcs/BUCKET/. Here a job gets a
private root R instead: each `/gcs/BUCKET/PATH` named in its command, args or env values is
served from R/gcs/BUCKET/PATH, and those strings are rewritten to point there (the one
deviation: the trainer sees R/gcs/... where the cloud shows /gcs/...). What is served:
- every folder any object of a named bucket implies (gcsfuse's implicit directories), so a
  trainer can create files next to existing objects as it can in the cloud;
- the content of each named object, or of every object under a named folder.
After the process ends, each file created or changed under R/gcs/ is uploaded, and each
served file the job deleted is deleted (what FUSE writes would have done, only all at once
at the end rather than at each close). A bucket that does not exist is not mounted.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

MOUNT = "/gcs/"
# /gcs/BUCKET[/PATH] wherever it starts a path: after the start, `=`, `:`, `,`, a quote or a
# space, never inside another path (/a/gcs/b is not the mount). The path ends at a space,
# a quote or a shell metacharacter.
_REF = re.compile(r"(?<![\w./~-])/gcs/(?P<bucket>[a-z0-9][a-z0-9._-]*)"
                  r"(?P<path>/[^\s'\"`;&|<>()$\\*?]*)?")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Mount:
    """The per-job FUSE root and what was served into it (relative path -> sha256)."""

    root: Path
    gcs_url: str
    served: dict[str, str] = field(default_factory=dict)
    buckets: set[str] = field(default_factory=set)

    @property
    def gcs(self) -> Path:
        return self.root / "gcs"

    def rewrite(self, text: str) -> str:
        """`text` with each /gcs/ mount path pointing into this root instead."""
        return _REF.sub(lambda m: str(self.gcs) + m.group(0)[len(MOUNT) - 1:], text)

    def serve(self, strings: list[str]) -> None:
        """Mount the buckets `strings` name and download the objects they name."""
        wanted: dict[str, set[str]] = {}
        for text in strings:
            for match in _REF.finditer(text):
                wanted.setdefault(match["bucket"], set()).add((match["path"] or "/")[1:])
        self.gcs.mkdir(parents=True, exist_ok=True)
        for bucket, paths in sorted(wanted.items()):
            names = self._list(bucket)
            if names is None:
                continue  # no such bucket: /gcs/BUCKET does not exist in the cloud either
            self.buckets.add(bucket)
            top = self.gcs / bucket
            top.mkdir(exist_ok=True)
            for name in names:
                local = self._local(bucket, name)
                if local is None:
                    continue
                (local if name.endswith("/") else local.parent).mkdir(parents=True,
                                                                      exist_ok=True)
                if not name.endswith("/") and any(_under(name, p) for p in paths):
                    data = self._read(bucket, name)
                    local.write_bytes(data)
                    self.served[f"{bucket}/{name}"] = hashlib.sha256(data).hexdigest()

    def sync(self) -> list[str]:
        """Upload what the job created or changed, delete what it removed; returns gs:// URIs."""
        changed = []
        seen = set()
        for bucket in sorted(self.buckets):
            top = self.gcs / bucket
            for dirpath, _, files in os.walk(top):
                for file in sorted(files):
                    path = Path(dirpath) / file
                    if path.is_symlink() or not path.is_file():
                        continue
                    rel = path.relative_to(self.gcs).as_posix()
                    seen.add(rel)
                    data = path.read_bytes()
                    if self.served.get(rel) != hashlib.sha256(data).hexdigest():
                        self._write(bucket, rel.split("/", 1)[1], data)
                        changed.append(f"gs://{rel}")
        for rel in sorted(set(self.served) - seen):
            bucket, name = rel.split("/", 1)
            self._delete(bucket, name)
            changed.append(f"gs://{rel}")
        return changed

    # -- the emulator, over plain HTTP ------------------------------------------------------
    def _local(self, bucket: str, name: str) -> Path | None:
        """Where object NAME lives under the root; None for a name no file system can hold."""
        parts = name.rstrip("/").split("/")
        if not name or any(p in ("", ".", "..") for p in parts):
            return None
        return self.gcs.joinpath(bucket, *parts)

    def _call(self, method: str, path: str, data: bytes | None = None) -> bytes:
        request = urllib.request.Request(self.gcs_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/octet-stream")
        with _OPENER.open(request, timeout=30) as resp:
            body: bytes = resp.read()
            return body

    def _list(self, bucket: str) -> list[str] | None:
        names: list[str] = []
        token = ""
        while True:
            query = {"maxResults": "1000", **({"pageToken": token} if token else {})}
            try:
                page = json.loads(self._call("GET", f"/storage/v1/b/{_q(bucket)}/o?"
                                             + urllib.parse.urlencode(query)))
            except urllib.error.HTTPError as err:
                if err.code == 404:
                    return None
                raise
            names += [item["name"] for item in page.get("items", [])]
            token = page.get("nextPageToken", "")
            if not token:
                return names

    def _read(self, bucket: str, name: str) -> bytes:
        return self._call("GET", f"/storage/v1/b/{_q(bucket)}/o/{_q(name)}?alt=media")

    def _write(self, bucket: str, name: str, data: bytes) -> None:
        query = urllib.parse.urlencode({"uploadType": "media", "name": name})
        self._call("POST", f"/upload/storage/v1/b/{_q(bucket)}/o?{query}", data)

    def _delete(self, bucket: str, name: str) -> None:
        try:
            self._call("DELETE", f"/storage/v1/b/{_q(bucket)}/o/{_q(name)}")
        except urllib.error.HTTPError as err:
            if err.code != 404:
                raise


def _under(name: str, path: str) -> bool:
    """Object NAME is the object PATH names, or lies in the folder PATH names."""
    folder = path.rstrip("/")
    return not folder or name == path or name.startswith(folder + "/")


def _q(part: str) -> str:
    return urllib.parse.quote(part, safe="")
