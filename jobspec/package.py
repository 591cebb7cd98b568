"""Deterministic source distribution of the trainer package, and its content hash.

In the cloud the trainer is pip-installed from an sdist built the way gcloud builds it
(DESIGN.md): with the parent folder's own setup.py if it has one, otherwise with a generated
`setup(name=<dir>, packages=find_packages())`. Building that sdist here, in memory and
byte-for-byte reproducibly, lets the planner name the staging path by content hash and lets the
local isolated mode install exactly what the cloud installs.

Determinism holds for the generated and own-pyproject builds (same tree, same bytes) and, after
re-packing, for own-setup.py builds as long as setup.py itself is deterministic. Running setup.py
writes `<name>.egg-info` and a transient release tree into the parent folder, as gcloud does.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import re
import stat
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pathspec

from jobspec.errors import UsageError

FIXED_MTIME = 315532800  # 1980-01-01, the earliest time a zip (hence a wheel) can hold
MAX_PACKAGE_BYTES = 500 * 1024 * 1024
GENERATED_VERSION = "0.0.0"
_COMPRESSLEVEL = 9
_SETUP_PY_TIMEOUT_S = 300
_KEY_PREFIXES = ("id_rsa", "id_dsa", "id_ecdsa", "id_ed25519")
_PROJECT_FILES = re.compile(r"pyproject\.toml|setup\.cfg|MANIFEST\.in|README.*|LICENSE.*")
_REQ_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?(\[[A-Za-z0-9._,\s-]*\])?")
_REQ_REST = re.compile(r"[A-Za-z0-9<>=!~.,*+_;:'\"()@/%#\s-]*")


_Member = tuple[str, bytes | None, bool]  # (archive name, content or None for a folder, executable)


class PackageError(UsageError):
    """The trainer package cannot be built (exit 2, like every spec or usage error)."""


@dataclass(frozen=True)
class Excluded:
    path: str  # relative to package_path's parent, posix
    reason: str


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
) -> Package:
    """Build the sdist pip installs in the cloud, in memory; raises PackageError."""
    package = Path(os.path.abspath(package_path))  # lexical: a symlinked package keeps its name
    parent, name = package.parent, package.name
    _check_package(package, name, allow_outside, repo_root)
    reqs = _validate_requirements(requirements)
    setup_py = parent / "setup.py"
    project = None if setup_py.is_file() else _own_pyproject(parent, name)
    own = setup_py if project is None else parent / "pyproject.toml"
    if reqs and own.is_file():
        raise PackageError(
            f"trainer.requirements cannot be combined with the package's own {own}: "
            "declare them there instead"
        )
    if setup_py.is_file():
        return _build_with_setup_py(parent)
    rules = _ignore_rules(package, repo_root if _inside(package, repo_root) else None)
    walker = _Walker(package, rules).run()
    if project is not None:
        return _build_from_pyproject(parent, project, walker)
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


def _check_package(package: Path, name: str, allow_outside: bool, repo_root: Path | None) -> None:
    where = f"trainer.package_path {package}"
    if not package.exists():
        raise PackageError(f"{where} does not exist")
    if not package.is_dir():
        raise PackageError(f"{where} is not a directory")
    if repo_root is not None and not allow_outside and not _inside(package, repo_root):
        raise PackageError(
            f"{where} is outside the repository {repo_root}; set "
            "`trainer.allow_outside_repo: true` in the spec to package it anyway"
        )
    if not (package / "__init__.py").is_file():
        raise PackageError(
            f"{where} is not a Python package: it has no __init__.py",
            hint="pip installs only folders that hold an __init__.py, as the cloud does",
        )
    if not name.isidentifier():
        raise PackageError(f"{where}: folder name {name!r} cannot be imported as a Python package")


def _inside(package: Path, repo_root: Path | None) -> bool:
    return repo_root is not None and package.resolve().is_relative_to(repo_root.resolve())


def _validate_requirements(requirements: Sequence[str]) -> tuple[str, ...]:
    for i, req in enumerate(requirements):
        head = _REQ_NAME.match(req.strip()) if isinstance(req, str) else None
        if head is None or not _REQ_REST.fullmatch(req.strip()[head.end() :]) or "\n" in req:
            raise PackageError(
                f"trainer.requirements[{i}]: {req!r} is not a pip requirement "
                "(expected e.g. 'numpy>=1.23')"
            )
    return tuple(req.strip() for req in requirements)


def _default_reason(name: str, is_dir: bool) -> str | None:
    if name == ".git":
        return "version control"
    if name == "__pycache__" or (not is_dir and name.endswith((".pyc", ".pyo"))):
        return "bytecode"
    if name == ".jobspec":
        return "jobspec state"
    if name.endswith(".egg-info"):
        return "build metadata"
    if name == ".DS_Store":
        return "Finder metadata"
    return _secret_reason(name)


def _secret_reason(name: str) -> str | None:
    if name.startswith(".env"):
        return "environment file, may hold secrets"
    if name.endswith(".pem") or name.startswith(_KEY_PREFIXES):
        return "private key"
    return None


def _content_reason(data: bytes) -> str | None:
    if b"private_key" not in data or b"service_account" not in data:
        return None  # cheap pre-check: every file is tested, almost none are JSON keys
    try:
        doc = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        return None
    if isinstance(doc, dict) and doc.get("type") == "service_account" and "private_key" in doc:
        return "service-account key (detected by content)"
    return None


@dataclass(frozen=True)
class _IgnoreFile:
    base: str  # folder holding the file, relative to the anchor, "/"-terminated ("" = anchor)
    label: str  # ".gitignore" or ".jobspecignore"
    spec: pathspec.GitIgnoreSpec

    @classmethod
    def load(cls, file: Path, base: str) -> _IgnoreFile | None:
        try:
            lines = file.read_text(encoding="utf-8").splitlines()
            return cls(base, file.name, pathspec.GitIgnoreSpec.from_lines(lines))
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:  # ValueError: undecodable text or a bad pattern
            raise PackageError(f"cannot use {file}: {err}") from err

    def verdict(self, path: str, is_dir: bool) -> tuple[bool, str] | None:
        """(ignored?, reason) from the last pattern that matches path, or None."""
        if not path.startswith(self.base):
            return None
        result = self.spec.check_file(path[len(self.base) :] + ("/" if is_dir else ""))
        if result.include is None or result.index is None:
            return None
        pattern = getattr(self.spec.patterns[result.index], "pattern", "?")
        return result.include, f"matched {self.label}: {pattern}"


@dataclass
class _Rules:
    prefix: str  # the package parent relative to the anchor (repo_root or the parent), "/"-ended
    git: list[_IgnoreFile] = field(default_factory=list)  # shallow to deep along any one path
    own: list[_IgnoreFile] = field(default_factory=list)  # .jobspecignore: parent, then package

    def add(self, group: list[_IgnoreFile], file: Path, base: str) -> None:
        rule = _IgnoreFile.load(file, base)
        if rule is not None:
            group.append(rule)

    def reason(self, rel: str, is_dir: bool) -> str | None:
        """Why rel (relative to the package parent) is ignored; None if it is not."""
        # The deepest file with a matching pattern decides (git); sibling folders' files never
        # match, so reverse insertion order is deepest-first. .jobspecignore is asked last, so
        # its `!pattern` can re-include a gitignored file.
        found: tuple[bool, str] | None = None
        for group in (self.git, self.own):
            verdicts = (rule.verdict(self.prefix + rel, is_dir) for rule in reversed(group))
            found = next((v for v in verdicts if v is not None), found)
        return found[1] if found is not None and found[0] else None


def _ignore_rules(package: Path, repo_root: Path | None) -> _Rules:
    """.gitignore from repo_root (or the parent) down to the parent, .jobspecignore of both."""
    chain = [package.parent.resolve()]
    top = repo_root.resolve() if repo_root is not None else chain[0]
    while chain[-1] != top and top in chain[-1].parents:
        chain.append(chain[-1].parent)
    bases = ["" if d == chain[-1] else f"{d.relative_to(chain[-1]).as_posix()}/" for d in chain]
    rules = _Rules(prefix=bases[0])
    for folder, base in reversed(list(zip(chain, bases, strict=True))):
        rules.add(rules.git, folder / ".gitignore", base)
    rules.add(rules.own, package.parent / ".jobspecignore", rules.prefix)
    rules.add(rules.own, package / ".jobspecignore", f"{rules.prefix}{package.name}/")
    return rules


class _Walker:
    """Collects the package's files, never following a symlink out of it."""

    def __init__(self, package: Path, rules: _Rules) -> None:
        self.root = package.resolve()
        self.name = package.name
        self.rules = rules
        self.files: list[tuple[str, bytes, bool]] = []  # (rel, data, executable)
        self.dirs: list[str] = []
        self.excluded: list[Excluded] = []
        self.total = 0
        self.links: list[tuple[Path, str, frozenset[Path]]] = []  # (link, rel, real ancestors)

    def run(self) -> _Walker:
        self.walk(self.root, self.name, frozenset())
        # Symlinks last: by then every .gitignore that could exclude their target is loaded.
        while self.links:
            link, rel, ancestors = self.links.pop(0)
            target, is_dir, why = self._follow(link, ancestors)
            self._visit(rel, target, is_dir, why, ancestors)
        if not any(rel == f"{self.name}/__init__.py" for rel, _, _ in self.files):
            init = f"{self.name}/__init__.py"
            why = next((e.reason for e in self.excluded if e.path == init), "excluded")
            raise PackageError(f"{init} would not be packaged ({why}), so nothing could import it")
        return self

    def walk(self, real_dir: Path, rel_dir: str, ancestors: frozenset[Path]) -> None:
        self.dirs.append(rel_dir)
        self.rules.add(self.rules.git, real_dir / ".gitignore", f"{self.rules.prefix}{rel_dir}/")
        ancestors = ancestors | {real_dir}
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as err:
            raise PackageError(f"cannot list {real_dir}: {err.strerror}") from err
        for entry in entries:
            rel = f"{rel_dir}/{entry.name}"
            if entry.is_symlink():
                self.links.append((Path(entry.path), rel, ancestors))
            else:
                self._visit(
                    rel, Path(entry.path), entry.is_dir(follow_symlinks=False), None, ancestors
                )

    def _visit(
        self, rel: str, path: Path, is_dir: bool, why: str | None, ancestors: frozenset[Path]
    ) -> None:
        name = rel.rsplit("/", 1)[-1]
        why = why or _default_reason(name, is_dir) or self.rules.reason(rel, is_dir)
        if why is None and is_dir:
            self.walk(path, rel, ancestors)
        elif why is None:
            why = self._add_file(path, rel)
        if why is not None:
            self.excluded.append(Excluded(rel, why))

    def _follow(self, link: Path, ancestors: frozenset[Path]) -> tuple[Path, bool, str | None]:
        try:
            target = link.resolve(strict=True)
        except (OSError, RuntimeError):  # missing target, or a loop of links
            return link, False, "broken symlink"
        if not target.is_relative_to(self.root):
            return target, False, "symlink leaves package_path"
        is_dir = target.is_dir()
        if is_dir and target in ancestors:
            return target, True, "symlink loop"
        # the target and every folder on its way must be packageable themselves
        parts = (self.name, *target.relative_to(self.root).parts)
        for depth in range(2, len(parts) + 1):
            sub, sub_is_dir = "/".join(parts[:depth]), depth < len(parts) or is_dir
            why = _default_reason(parts[depth - 1], sub_is_dir) or self.rules.reason(
                sub, sub_is_dir
            )
            if why is not None:
                return target, is_dir, f"symlink to {'/'.join(parts)}: {why}"
        return target, is_dir, None

    def _add_file(self, path: Path, rel: str) -> str | None:
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                return "not a regular file"
            self.total += info.st_size
            _check_size(self.total, path)
            data = path.read_bytes()
        except OSError as err:
            raise PackageError(f"cannot read {path}: {err.strerror}") from err
        why = _content_reason(data)
        if why is None:
            self.files.append((rel, data, bool(info.st_mode & 0o111)))
        return why


def _check_size(total: int, where: Path) -> None:
    if total > MAX_PACKAGE_BYTES:
        raise PackageError(
            f"the trainer package is over {MAX_PACKAGE_BYTES // 2**20} MiB (at {where}); "
            "keep data out of it (.jobspecignore) and read it from storage instead"
        )


def _prefixed(root: str, walker: _Walker) -> list[_Member]:
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


def _own_pyproject(parent: Path, name: str) -> dict[str, Any] | None:
    """[project] of the parent's pyproject.toml if it describes this package, else None."""
    path = parent / "pyproject.toml"
    if not path.is_file():
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: tomli is the same parser
        import tomli as tomllib
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise PackageError(f"{path}: {err}") from err
    project = doc.get("project")
    if not isinstance(project, dict) or _normalise(str(project.get("name"))) != _normalise(name):
        return None  # another project's file, e.g. a repo holding trainer/ beside its own tool
    if not isinstance(project.get("version"), str):
        raise PackageError(
            f"{path}: [project].version must be a fixed string for jobspec to build the sdist "
            "(dynamic versions are not supported); or add a setup.py"
        )
    return project


def _build_from_pyproject(parent: Path, project: dict[str, Any], walker: _Walker) -> Package:
    name, version = str(project["name"]), str(project["version"])
    root = f"{re.sub(r'[-_.]+', '_', name).lower()}-{version}"
    members: list[_Member] = [
        (root, None, False),
        (f"{root}/PKG-INFO", _pkg_info(name, version), False),
    ]
    for entry in sorted(os.scandir(parent), key=lambda e: e.name):
        if _PROJECT_FILES.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
            members.append((f"{root}/{entry.name}", Path(entry.path).read_bytes(), False))
    members += _prefixed(root, walker)
    return _package(f"{root}.tar.gz", members, walker.excluded, "own pyproject.toml")


def _build_with_setup_py(parent: Path) -> Package:
    with tempfile.TemporaryDirectory(prefix="jobspec-sdist-") as tmp:
        argv = [sys.executable, "setup.py", "sdist", "--dist-dir", tmp]
        try:
            proc = subprocess.run(
                argv, cwd=parent, stdin=subprocess.DEVNULL, capture_output=True,
                timeout=_SETUP_PY_TIMEOUT_S, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as err:
            raise PackageError(f"`python setup.py sdist` in {parent} could not run: {err}") from err
        if proc.returncode != 0:
            tail = proc.stderr.decode(errors="replace").strip().splitlines()[-15:]
            raise PackageError(
                f"`python setup.py sdist` in {parent} failed (exit {proc.returncode}):\n"
                + "\n".join(tail)
            )
        built = sorted(Path(tmp).glob("*.tar.gz"))
        if len(built) != 1:
            raise PackageError(f"`python setup.py sdist` in {parent} made no single .tar.gz")
        filename, raw = built[0].name, built[0].read_bytes()
    _check_size(len(raw), parent / "setup.py")
    members, excluded = _repack(raw, parent)
    return _package(filename, members, excluded, "own setup.py")


def _repack(raw: bytes, parent: Path) -> tuple[list[_Member], list[Excluded]]:
    """Members of setuptools' sdist without secrets, ready to be re-packed deterministically."""
    members: list[_Member] = []
    excluded: list[Excluded] = []
    try:
        with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
            for info in tar.getmembers():
                rel = info.name.partition("/")[2]  # drop the <name>-<version>/ root
                if info.isdir():
                    members.append((info.name.rstrip("/"), None, False))
                    continue
                extracted = tar.extractfile(info) if info.isfile() else None
                data = extracted.read() if extracted is not None else b""
                # setuptools chose these files (MANIFEST.in, package_data): only secrets go
                why = _secret_reason(info.name.rsplit("/", 1)[-1]) or _content_reason(data)
                why = why if extracted is not None else "not a regular file"
                if why is not None:
                    excluded.append(Excluded(rel, why))
                else:
                    members.append((info.name, data, bool(info.mode & 0o111)))
    except (tarfile.TarError, OSError, EOFError) as err:
        raise PackageError(f"the sdist made by {parent}/setup.py is unreadable: {err}") from err
    return members, excluded


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
