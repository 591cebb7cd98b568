"""Deterministic source distribution of the trainer package, and its content hash.

In the cloud the trainer is pip-installed from an sdist built the way gcloud builds it: with
the package root's (the parent folder's) own setup.py or pyproject.toml if it has one,
otherwise with a generated `setup(name=<dir>, packages=find_packages())`. Building that
sdist here, in memory and byte-for-byte reproducibly, lets the planner name the staging path by
content hash and lets the local isolated mode install exactly what the cloud installs.

The generated sdist is assembled here from the tree walk (package_tree.py), without running
anything. A project's own build runs its build backend in a copy of the package root
(package_backend.py), so the project is left as it was; the result is re-packed, which makes it
deterministic as long as the backend is. What goes in is scanned for credential material either
way, and the build refuses naming each file found.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import re
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec import credentials
from jobspec.credentials import Finding
from jobspec.fileread import read_regular
from jobspec.package_tree import (
    MAX_PACKAGE_BYTES,
    CredentialsFound,
    Excluded,
    PackageError,
    Walker,
    check_package,
    check_size,
    env_reason,
    ignore_rules,
    inside,
    never_packaged,
)

FIXED_MTIME = 315532800  # 1980-01-01, the earliest time a zip (hence a wheel) can hold
GENERATED_VERSION = "0.0.0"
_COMPRESSLEVEL = 9
_PROJECT_FILES = re.compile(r"pyproject\.toml|setup\.cfg|MANIFEST\.in|README.*|LICENSE.*")
_REQ_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,\s-]*\])?")
_REQ_REST = re.compile(r"[A-Za-z0-9<>=!~.,*+_;:'\"()@/%#\s-]*")


_Member = tuple[str, bytes | None, bool]  # (archive name, content or None for a folder, executable)


@dataclass(frozen=True)
class Package:
    filename: str
    data: bytes
    sha256: str
    md5_b64: str  # base64 of the md5 digest: what GCS reports as md5Hash
    size: int
    files: tuple[str, ...]  # the archive's regular files, e.g. "trainer-0.0.0/trainer/task.py"
    excluded: tuple[Excluded, ...]
    build: str  # "generated setup.py" | "own setup.py" | "own pyproject.toml"


def build_sdist(
    package_path: Path,
    *,
    requirements: Sequence[str] = (),
    allow_outside: bool = False,
    repo_root: Path | None = None,
    allow_credentials: Sequence[str] = (),
) -> Package:
    """Build the sdist pip installs in the cloud, in memory; raises PackageError.

    Every file that would go into it is scanned for credential material first (credentials.py):
    any found, and not allowed by its exact path in allow_credentials, raises CredentialsFound
    naming all of them."""
    package = Path(os.path.abspath(package_path))  # lexical: a symlinked package keeps its name
    parent, name = package.parent, package.name
    check_package(package, name, allow_outside, repo_root)
    reqs = _validate_requirements(requirements)
    allowed = frozenset(allow_credentials)
    setup_py = parent / "setup.py"
    doc = _read_pyproject(parent / "pyproject.toml")
    own_pyproject = not setup_py.is_file() and _describes(doc, name)
    own = setup_py if not own_pyproject else parent / "pyproject.toml"
    if reqs and own.is_file():
        raise PackageError(
            f"trainer.requirements cannot be combined with the package's own {own}: "
            "declare them there instead"
        )
    if setup_py.is_file() or own_pyproject:
        return _build_own(package, repo_root, doc, allowed)
    rules = ignore_rules(package, repo_root if inside(package, repo_root) else None)
    walker = Walker(package, rules, allowed).run()
    _refuse(walker.found, parent)
    root = f"{name}-{GENERATED_VERSION}"
    members = [
        (root, None, False),
        (f"{root}/PKG-INFO", _pkg_info(name, GENERATED_VERSION, reqs), False),
        (f"{root}/setup.py", _generated_setup_py(name, reqs), False),
        *_prefixed(root, walker),
    ]
    return _package(f"{root}.tar.gz", members, walker.excluded, "generated setup.py")


def write(package: Package, directory: Path) -> Path:
    """Write the sdist into directory atomically; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / package.filename
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{package.filename}.", suffix=".part")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(package.data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target



def _validate_requirements(requirements: Sequence[str]) -> tuple[str, ...]:
    for i, req in enumerate(requirements):
        head = _REQ_NAME.match(req.strip()) if isinstance(req, str) else None
        if head is None or not _REQ_REST.fullmatch(req.strip()[head.end() :]) or "\n" in req:
            raise PackageError(
                f"trainer.requirements[{i}]: {req!r} is not a pip requirement "
                "(expected e.g. 'numpy>=1.23')"
            )
    return tuple(req.strip() for req in requirements)



def _prefixed(root: str, walker: Walker) -> list[_Member]:
    dirs: list[_Member] = [(f"{root}/{d}", None, False) for d in walker.dirs]
    return dirs + [(f"{root}/{rel}", data, ex) for rel, data, ex in walker.files]


def _pkg_info(name: str, version: str, requirements: Iterable[str] = ()) -> bytes:
    lines = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    lines += [f"Requires-Dist: {req}" for req in requirements]
    return ("\n".join(lines) + "\n").encode()


def _generated_setup_py(name: str, requirements: Sequence[str]) -> bytes:
    # gcloud's generated setup.py: find_packages() and no package_data, so a data file beside a
    # module is in the sdist but not installed, exactly as in the cloud.
    return (
        "from setuptools import find_packages, setup\n\n"
        "setup(\n"
        f"    name={name!r},\n"
        f"    version={GENERATED_VERSION!r},\n"
        "    packages=find_packages(),\n"
        "    include_package_data=True,\n"
        f"    install_requires={list(requirements)!r},\n"
        ")\n"
    ).encode()


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()  # PEP 503


def _read_pyproject(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli is the same parser
        import tomli as tomllib
    try:
        doc: dict[str, Any] = tomllib.loads(read_regular(path, 1 << 20).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise PackageError(f"{path}: {err}") from err
    return doc


def _describes(doc: dict[str, Any] | None, name: str) -> bool:
    """Whether pyproject.toml's [project] is this package's, not e.g. the repo's own tool's."""
    project = (doc or {}).get("project")
    return isinstance(project, dict) and _normalise(str(project.get("name"))) == _normalise(name)


def _build_own(
    package: Path, repo_root: Path | None, doc: dict[str, Any] | None, allowed: frozenset[str]
) -> Package:
    from jobspec import package_backend  # only here: it imports subprocess and pyproject_hooks

    parent = package.parent
    setup_py = (parent / "setup.py").is_file()
    never_packaged(parent, f"the package root {parent} (it has a "
                   f"{'setup.py' if setup_py else 'pyproject.toml'})", contents=True)  # fmt: skip
    backend = package_backend.backend_of(parent / "pyproject.toml", doc)
    what = (f"`python setup.py sdist` in {parent}" if setup_py and backend.setuptools
            else f"the build backend {backend.name} (build_sdist) of {parent}")  # fmt: skip
    try:
        filename, raw = package_backend.build(package, repo_root, backend, what)
    except PackageError:
        _refuse(_scan_project_files(parent, allowed), parent)  # the graver news first
        raise
    check_size(len(raw), parent / ("setup.py" if setup_py else "pyproject.toml"))
    root = None
    if not setup_py:  # PEP 625's name, as pip and pypa `build` give it
        name, _, version = filename.removesuffix(".tar.gz").rpartition("-")
        root = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
        filename = f"{root}.tar.gz"
    members, excluded, found = _repack(raw, parent, allowed, root=root,
                                       manifest=backend.setuptools)  # fmt: skip
    _refuse(found, parent)
    return _package(filename, members, excluded, "own setup.py" if setup_py else
                    "own pyproject.toml")  # fmt: skip


def _scan_project_files(parent: Path, allowed: frozenset[str]) -> list[Finding]:
    """Credential material in the package root's project files (pyproject.toml, README...)."""
    found = []
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        if _PROJECT_FILES.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            try:
                with open(entry.path, "rb") as stream:
                    _, _, why = credentials.scan_stream(
                        stream.read, MAX_PACKAGE_BYTES, scan=entry.name not in allowed
                    )
            except OSError as err:
                raise PackageError(f"cannot read {entry.path}: {err.strerror}") from err
            if why is not None:
                found.append(Finding(entry.name, why, remedy="edit"))
    return found


def _repack(
    raw: bytes, parent: Path, allowed: frozenset[str], *, root: str | None, manifest: bool
) -> tuple[list[_Member], list[Excluded], list[Finding]]:
    """Members of the backend's sdist, ready to be re-packed deterministically (under ROOT if
    given), and the credential material among them: what the backend put in the tarball is what
    is scanned. MANIFEST: the backend is setuptools, which MANIFEST.in steers."""
    members: list[_Member] = []
    excluded: list[Excluded] = []
    found: list[Finding] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for info in tar.getmembers():
                top, _, rel = info.name.partition("/")  # drop the <name>-<version>/ root
                name = f"{root or top}/{rel}".rstrip("/")
                if info.isdir():
                    members.append((name, None, False))
                    continue
                extracted = tar.extractfile(info) if info.isfile() else None
                # the backend chose these files (MANIFEST.in, package_data): only .env goes
                why = "not a regular file" if extracted is None else env_reason(rel.rsplit("/")[-1])
                if why is not None:
                    excluded.append(Excluded(rel, why))
                    continue
                assert extracted is not None
                secret = None if rel in allowed else credentials.name_reason(rel)
                if secret is None:
                    chunks, size, secret = credentials.scan_stream(
                        extracted.read, MAX_PACKAGE_BYTES - total, scan=rel not in allowed
                    )
                    total += size
                    check_size(total, parent)
                if secret is not None:
                    remedy = ("edit" if _PROJECT_FILES.fullmatch(rel)
                              else "manifest" if manifest else "ignore")  # fmt: skip
                    found.append(Finding(rel, secret, remedy=remedy))
                else:
                    members.append((name, b"".join(chunks), bool(info.mode & 0o111)))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise PackageError(f"the sdist built from {parent} is unreadable: {err}") from err
    return members, excluded, found


def _refuse(found: Sequence[Finding], parent: Path) -> None:
    if found:
        message, hint = credentials.explain(found, parent)
        raise CredentialsFound(message, hint=hint, findings=found)


def _package(name: str, members: list[_Member], excluded: list[Excluded], build: str) -> Package:
    data = _tar_gz(members)
    return Package(
        filename=name,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
        md5_b64=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii"),
        size=len(data),
        files=tuple(sorted(name for name, content, _ in members if content is not None)),
        excluded=tuple(sorted(excluded, key=lambda e: e.path)),
        build=build,
    )


def _tar_gz(members: Sequence[_Member]) -> bytes:
    """Same members -> same bytes: sorted, fixed times, owners and modes, bare gzip header."""
    out = io.BytesIO()
    with (
        gzip.GzipFile(
            fileobj=out, mode="wb", mtime=0, filename="", compresslevel=_COMPRESSLEVEL
        ) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, data, executable in sorted(members, key=lambda m: m[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = FIXED_MTIME, 0, 0, "", ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            else:
                info.size, info.mode = len(data), 0o755 if executable else 0o644
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()
