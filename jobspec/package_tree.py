"""The trainer package's tree: which files go in (ignore files, default exclusions, symlinks kept
inside), read and scanned for credential material, and the copy of a project's folder that its
own build backend runs in.

Nothing the user did not mean goes in: every file that would be packaged is scanned for credential
material (credentials.py) and collected, so the build can refuse naming each one; the package root
(the parent) is inside the project unless allowed; the home folder and gcloud's configuration are
never read.
"""

from __future__ import annotations

import os
import shutil
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from jobspec import credentials
from jobspec.credentials import Finding
from jobspec.errors import UsageError
from jobspec.fileread import read_regular
from jobspec.records import STATE_NAME

MAX_PACKAGE_BYTES = 500 * 1024 * 1024


class PackageError(UsageError):
    """The trainer package cannot be built (exit 2, like every spec or usage error)."""


class CredentialsFound(PackageError):
    """Files that would go into the package hold credential material (exit 2)."""

    def __init__(self, message: str, *, hint: str, findings: Sequence[Finding]) -> None:
        super().__init__(message, hint=hint)
        self.findings = tuple(findings)


@dataclass(frozen=True)
class Excluded:
    path: str  # relative to package_path's parent, posix
    reason: str


def check_package(package: Path, name: str, allow_outside: bool, repo_root: Path | None) -> None:
    where = f"trainer.package_path {package}"
    if not package.exists():
        raise PackageError(f"{where} does not exist")
    if not package.is_dir():
        raise PackageError(f"{where} is not a directory")
    if repo_root is not None and not allow_outside and not inside(package, repo_root):
        raise PackageError(
            f"{where} is outside the repository {repo_root}; set "
            "`trainer.allow_outside_repo: true` in the spec to package it anyway"
        )
    if repo_root is not None and not allow_outside and package.resolve() == repo_root.resolve():
        # its parent would be the sdist root and the trainer's folder: setup.py, pyproject.toml,
        # README and .gitignore would be read from above the project
        raise PackageError(
            f"{where} is the project root itself, so the package root (its parent "
            f"{package.parent}) would be above the project",
            hint="move the package into a folder of its own inside the project, or set "
            "`trainer.allow_outside_repo: true` in the spec to package it anyway",
        )
    never_packaged(package, where, contents=False)
    if not (package / "__init__.py").is_file():
        raise PackageError(
            f"{where} is not a Python package: it has no __init__.py",
            hint="pip installs only folders that hold an __init__.py, as the cloud does",
        )
    if not name.isidentifier():
        raise PackageError(f"{where}: folder name {name!r} cannot be imported as a Python package")


def never_packaged(folder: Path, where: str, *, contents: bool) -> None:
    refusal = credentials.never_packaged(folder, where, contents=contents)
    if refusal is not None:
        raise PackageError(refusal[0], hint=refusal[1])


def inside(package: Path, repo_root: Path | None) -> bool:
    return repo_root is not None and package.resolve().is_relative_to(repo_root.resolve())


def default_reason(name: str, is_dir: bool) -> str | None:
    if name == ".git":
        return "version control"
    if name == "__pycache__" or (not is_dir and name.endswith((".pyc", ".pyo"))):
        return "bytecode"
    if name == STATE_NAME:
        return "jobspec state"
    if name.endswith(".egg-info"):
        return "build metadata"
    if name == ".DS_Store":
        return "Finder metadata"
    return env_reason(name)


def env_reason(name: str) -> str | None:
    # Left out rather than refused: see credentials.py on why .env is not credential material
    return "environment file, may hold secrets" if name.startswith(".env") else None


@dataclass(frozen=True)
class _IgnoreFile:
    base: str  # folder holding the file, relative to the anchor, "/"-terminated ("" = anchor)
    label: str  # ".gitignore" or ".jobspecignore"
    spec: pathspec.GitIgnoreSpec

    @classmethod
    def load(cls, file: Path, base: str) -> _IgnoreFile | None:
        try:
            lines = read_regular(file, 1 << 20).decode("utf-8").splitlines()
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
class Rules:
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


def ignore_rules(package: Path, repo_root: Path | None) -> Rules:
    """.gitignore from repo_root (or the parent) down to the parent, .jobspecignore of both."""
    chain = [package.parent.resolve()]
    top = repo_root.resolve() if repo_root is not None else chain[0]
    while chain[-1] != top and top in chain[-1].parents:
        chain.append(chain[-1].parent)
    bases = ["" if d == chain[-1] else f"{d.relative_to(chain[-1]).as_posix()}/" for d in chain]
    rules = Rules(prefix=bases[0])
    for folder, base in reversed(list(zip(chain, bases, strict=True))):
        rules.add(rules.git, folder / ".gitignore", base)
    rules.add(rules.own, package.parent / ".jobspecignore", rules.prefix)
    rules.add(rules.own, package / ".jobspecignore", f"{rules.prefix}{package.name}/")
    return rules


class Walker:
    """Collects the package's files, never following a symlink out of it.

    Credential material is not left out but collected in `found`: the build then refuses."""

    def __init__(self, package: Path, rules: Rules, allowed: frozenset[str]) -> None:
        self.root = package.resolve()
        self.name = package.name
        self.rules = rules
        self.allowed = allowed
        self.gcloud = credentials.gcloud_config_dirs()
        self.files: list[tuple[str, bytes, bool]] = []  # (rel, data, executable)
        self.dirs: list[str] = []
        self.excluded: list[Excluded] = []
        self.found: list[Finding] = []
        self.total = 0
        self.links: list[tuple[Path, str, frozenset[Path]]] = []  # (link, rel, real ancestors)

    def run(self) -> Walker:
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
        why = why or default_reason(name, is_dir) or self.rules.reason(rel, is_dir)
        if why is None and is_dir and path in self.gcloud:  # walked paths are real
            self.found.append(
                Finding(rel, "gcloud's configuration folder", allowable=False, is_dir=True)
            )
        elif why is None and is_dir:
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
            why = default_reason(parts[depth - 1], sub_is_dir) or self.rules.reason(
                sub, sub_is_dir
            )
            if why is not None:
                return target, is_dir, f"symlink to {'/'.join(parts)}: {why}"
        return target, is_dir, None

    def _add_file(self, path: Path, rel: str) -> str | None:
        allowed = rel in self.allowed
        try:
            info = path.stat()
            if not stat.S_ISREG(info.st_mode):
                return "not a regular file"
            check_size(self.total + info.st_size, path)
            why = None if allowed else self._name_reason(path, rel)
            if why is not None:
                self.found.append(Finding(rel, why))
                return None
            with path.open("rb") as stream:  # in chunks, never more than the size limit allows
                chunks, size, why = credentials.scan_stream(
                    stream.read, MAX_PACKAGE_BYTES - self.total, scan=not allowed
                )
        except OSError as err:
            raise PackageError(f"cannot read {path}: {err.strerror}") from err
        self.total += size
        check_size(self.total, path)  # it grew since stat()
        if why is not None:
            self.found.append(Finding(rel, why))
        else:
            self.files.append((rel, b"".join(chunks), bool(info.st_mode & 0o111)))
        return None

    def _name_reason(self, path: Path, rel: str) -> str | None:
        """By the name in the archive, or by the real name a symlink points to."""
        # walked paths are real: the root is resolved and a symlink's target too
        real = "/".join((self.name, *path.relative_to(self.root).parts))
        return credentials.name_reason(rel) or (
            credentials.name_reason(real) if real != rel else None
        )


def check_size(total: int, where: Path) -> None:
    if total > MAX_PACKAGE_BYTES:
        raise PackageError(
            f"the trainer package is over {MAX_PACKAGE_BYTES // 2**20} MiB (at {where}); "
            "keep data out of it (.jobspecignore) and read it from storage instead"
        )




def copy_project(package: Path, repo_root: Path | None, dest: Path) -> None:
    """Copy the package root (the package's parent) to dest, for the project's own build backend
    to run in: whatever the backend writes (setuptools' <name>.egg-info) lands there, never in
    the project.

    Left out as by the walk: version control, bytecode, jobspec state, old build metadata and
    what the ignore files exclude; a symlink is kept only if it points inside the package root.
    Credential material and .env files are copied: the backend decides what goes into the sdist,
    and what it put there is what gets scanned."""
    parent = package.parent
    rules = ignore_rules(package, repo_root if inside(package, repo_root) else None)
    root = parent.resolve()
    total = 0

    def walk(real_dir: Path, rel_dir: str, out: Path) -> None:
        nonlocal total
        out.mkdir(exist_ok=True)
        if rel_dir:  # the root's own .gitignore is in the rules already
            rules.add(rules.git, real_dir / ".gitignore", f"{rules.prefix}{rel_dir}")
        try:
            entries = sorted(os.scandir(real_dir), key=lambda e: e.name)
        except OSError as err:
            raise PackageError(f"cannot list {real_dir}: {err.strerror}") from err
        for entry in entries:
            rel, link = f"{rel_dir}{entry.name}", entry.is_symlink()
            is_dir = entry.is_dir(follow_symlinks=not link)
            reason = None if env_reason(entry.name) else default_reason(entry.name, is_dir)
            if reason is not None or rules.reason(rel, is_dir) is not None:
                continue
            if link and Path(entry.path) == package:  # a symlinked package is packaged as such
                walk(package.resolve(), f"{rel}/", out / entry.name)
            elif link:
                _copy_link(Path(entry.path), root, out / entry.name)
            elif is_dir:
                walk(Path(entry.path), f"{rel}/", out / entry.name)
            elif entry.is_file(follow_symlinks=False):
                try:
                    total += entry.stat(follow_symlinks=False).st_size
                    if total > MAX_PACKAGE_BYTES:
                        raise PackageError(
                            f"the package root {parent} holds over {MAX_PACKAGE_BYTES // 2**20} "
                            f"MiB that no ignore file leaves out (at {entry.path}), and its own "
                            "build runs in a copy of it; keep data out (.jobspecignore) and read "
                            "it from storage instead"
                        )
                    shutil.copy2(entry.path, out / entry.name, follow_symlinks=False)
                except OSError as err:
                    raise PackageError(f"cannot copy {entry.path}: {err.strerror}") from err

    walk(root, "", dest)


def _copy_link(link: Path, root: Path, out: Path) -> None:
    try:
        target = link.resolve(strict=True)
    except (OSError, RuntimeError):  # missing target, or a loop of links
        return
    if target.is_relative_to(root):  # the same place inside the copy
        relative = os.path.relpath(target, link.parent.resolve())
        out.symlink_to(relative, target_is_directory=target.is_dir())
