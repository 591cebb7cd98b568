"""A package index stand-in: a PEP 503 "simple" index served over loopback.

Isolated runs pip-install the trainer's sdist and its requirements from the package index, as
the cloud does. Tests point pip at this index (PIP_INDEX_URL) so nothing leaves the machine.
The wheels are made here: `make_wheel` writes a small one from a dict of files, and
`repack_installed` turns a pure-Python distribution installed in this interpreter (setuptools,
wheel: what pip needs to build an sdist) into a wheel, so no download is ever needed.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import threading
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import metadata
from pathlib import Path
from typing import Any

# What pip needs to build a setup.py-only sdist with build isolation (pip < 24 asks for wheel).
BUILD_TOOLS = ("setuptools", "wheel")


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _record_line(path: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{path},sha256={digest},{len(data)}"


def _write_wheel(folder: Path, name: str, version: str, files: Mapping[str, bytes],
                 metadata_text: str, wheel_text: str,
                 info_files: Mapping[str, bytes] | None = None) -> Path:
    stem = f"{re.sub(r'[-_.]+', '_', name)}-{version}"
    info = f"{stem}.dist-info"
    members = dict(files)
    for base, data in (info_files or {}).items():
        members[f"{info}/{base}"] = data
    members[f"{info}/METADATA"] = metadata_text.encode()
    members[f"{info}/WHEEL"] = wheel_text.encode()
    record = [_record_line(path, data) for path, data in members.items()]
    record.append(f"{info}/RECORD,,")
    members[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    path = folder / f"{stem}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


_WHEEL = "Wheel-Version: 1.0\nGenerator: jobspec-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"


def make_wheel(folder: Path, name: str, version: str, files: Mapping[str, str],
               requires: Sequence[str] = ()) -> Path:
    """A pure-Python wheel holding `files` (path inside site-packages -> text)."""
    meta = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    meta += "".join(f"Requires-Dist: {req}\n" for req in requires)
    return _write_wheel(folder, name, version, {k: v.encode() for k, v in files.items()},
                        meta, _WHEEL)


# What an installer writes into an installed dist-info, and what _write_wheel writes itself.
_INSTALL_ONLY = frozenset({"RECORD", "INSTALLER", "REQUESTED", "direct_url.json", "METADATA",
                           "WHEEL"})


def repack_installed(folder: Path, name: str) -> Path:
    """A wheel of the pure-Python distribution `name` as installed here."""
    dist = metadata.distribution(name)
    files: dict[str, bytes] = {}
    info: dict[str, bytes] = {}  # entry_points.txt and the like: setuptools needs its own
    for item in dist.files or ():
        path = str(item)
        if path.startswith("..") or "__pycache__" in path:
            continue
        data = Path(dist.locate_file(item)).read_bytes()
        if ".dist-info/" not in path:
            files[path] = data
        elif item.name not in _INSTALL_ONLY:
            info[item.name] = data
    meta = dist.read_text("METADATA") or ""
    wheel = dist.read_text("WHEEL") or _WHEEL
    return _write_wheel(folder, dist.metadata["Name"], dist.version, files, meta, wheel, info)


def build_tools(folder: Path) -> list[Path]:
    """Wheels of the build tools and what they require, from this interpreter."""
    made: list[Path] = []
    todo, seen = list(BUILD_TOOLS), set()
    while todo:
        name = normalize(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        made.append(repack_installed(folder, name))
        for req in metadata.requires(name) or ():
            if "extra ==" not in req:
                todo.append(re.split(r"[\s<>=!~;\[(]", req, maxsplit=1)[0])
    return made


class PackageIndex:
    """Serves `root/simple/<project>/` pages linking to wheels in `root/files/`.

    `slow` holds paths (or file names) whose download waits until the matching event is set;
    `requests` records every path asked for.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "files").mkdir(parents=True, exist_ok=True)
        self.slow: dict[str, threading.Event] = {}
        self.requests: list[str] = []
        self._server: ThreadingHTTPServer | None = None

    def add(self, wheel: Path) -> None:
        target = self.root / "files" / wheel.name
        if wheel != target:
            target.write_bytes(wheel.read_bytes())
        self._write_pages()

    def _write_pages(self) -> None:
        projects: dict[str, list[Path]] = {}
        for wheel in sorted((self.root / "files").glob("*.whl")):
            projects.setdefault(normalize(wheel.name.split("-", 1)[0]), []).append(wheel)
        simple = self.root / "simple"
        for project, wheels in projects.items():
            (simple / project).mkdir(parents=True, exist_ok=True)
            links = "".join(
                f'<a href="../../files/{html.escape(w.name)}#sha256='
                f'{hashlib.sha256(w.read_bytes()).hexdigest()}">{html.escape(w.name)}</a>\n'
                for w in wheels)
            (simple / project / "index.html").write_text(
                f"<!DOCTYPE html>\n<html><body>\n{links}</body></html>\n", encoding="utf-8")
        (simple / "index.html").write_text(
            "<!DOCTYPE html>\n<html><body>\n" + "".join(
                f'<a href="{p}/">{p}</a>\n' for p in sorted(projects)) + "</body></html>\n",
            encoding="utf-8")

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}/simple/"

    def env(self, cache: Path) -> dict[str, str]:
        """pip settings that make this index the only source, whatever the machine's pip.conf,
        with no retries (a mistake fails at once instead of waiting on the network)."""
        return {"PIP_INDEX_URL": self.url, "PIP_EXTRA_INDEX_URL": "", "PIP_FIND_LINKS": "",
                "PIP_CONFIG_FILE": os.devnull, "PIP_RETRIES": "0",
                "PIP_TIMEOUT": "15", "PIP_CACHE_DIR": str(cache),
                "PIP_DISABLE_PIP_VERSION_CHECK": "1"}

    def start(self) -> PackageIndex:
        index = self

        class Handler(SimpleHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                index.requests.append(self.path)
                event = index.slow.get(self.path) or index.slow.get(
                    self.path.rsplit("/", 1)[-1])
                if event is not None:
                    event.wait(60)
                super().do_GET()

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0),
                                           partial(Handler, directory=str(self.root)))
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        for event in self.slow.values():
            event.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def serve(root: Path) -> Iterator[PackageIndex]:
    """A started index with the build tools in it; for a fixture's `yield from`."""
    index = PackageIndex(root)
    for wheel in build_tools(root / "files"):
        index.add(wheel)
    index.start()
    try:
        yield index
    finally:
        index.stop()
