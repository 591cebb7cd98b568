"""`jobspec clean`: remove what .jobspec/ keeps that nothing will use again.

- run records older than --older-than, except the latest --keep of each job and any run whose
  jobspec process is still alive;
- isolated venvs no run has used for --older-than (their `.jobspec-used` mtime), and none a
  living run holds (its shared flock: jobspec/isolated.py);
- staging folders of venv builds whose builder is gone (the flock jobspec/isolated.py uses);
- plan-cache entries that can never be used again (another day, another jobspec version);
- group records older than --older-than whose members all have no run record left.

Nothing outside .jobspec/ is touched: a symbolic link found in it is left where it is, and never
followed (shutil.rmtree removes a link inside a folder it removes, not what it points to).
A path that cannot be removed is a warning, and the command still exits 0: what it removed is
removed, what it left is as usable as before, and running it again retries.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from jobspec.errors import UsageError
from jobspec.records import Run, StateDir, is_job_name, read_record

try:
    import fcntl
except ImportError:  # Windows: whether a venv is in use cannot be known; venvs are kept
    fcntl = None  # type: ignore[assignment]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"(\d{1,9})([smhdw])")
_TMP_GRACE = 3600.0  # a plan-cache temporary file older than this was left by a killed write


def parse_duration(text: str) -> float:
    """Seconds in '30d', '12h', '90m', '45s', '2w'."""
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise UsageError(f"{text!r} is not a duration: a whole number and a unit, s, m, h, d or "
                         "w (e.g. 30d, 12h)")
    return int(match.group(1)) * _UNITS[match.group(2)]


def size_text(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError  # pragma: no cover


@dataclass
class Removal:
    kind: str  # run, venv, staging, plan, group
    path: Path
    size: int


@dataclass
class Report:
    dry_run: bool
    removed: list[Removal] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    kept_running: list[Path] = field(default_factory=list)
    skipped_links: list[Path] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(r.size for r in self.removed)

    def data(self, state: StateDir) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "state_dir": str(state.root),
                "removed": [{"kind": r.kind, "path": str(r.path), "bytes": r.size}
                            for r in self.removed],
                "bytes_freed": self.size,
                "failed": [{"path": str(p), "error": e} for p, e in self.failed],
                "kept_running": [str(p) for p in self.kept_running],
                "skipped_links": [str(p) for p in self.skipped_links]}


def _tree_size(path: Path) -> int:
    """Bytes of PATH and what is under it, links not followed."""
    try:
        info = path.lstat()
    except OSError:
        return 0
    total = info.st_size
    if stat.S_ISDIR(info.st_mode):
        for top, dirs, files in os.walk(path, followlinks=False):
            for name in (*dirs, *files):
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(top, name)).st_size
    return total


def _entries(folder: Path) -> list[os.DirEntry[str]]:
    """FOLDER's entries by name ([] when it cannot be read)."""
    try:
        with os.scandir(folder) as found:
            return sorted(found, key=lambda e: e.name)
    except OSError:
        return []


def _real_dirs(folder: Path, report: Report) -> list[Path]:
    """FOLDER's subfolders, sorted; symbolic links are noted and left alone."""
    found = []
    for entry in _entries(folder):
        if entry.is_symlink():
            report.skipped_links.append(Path(entry.path))
        elif entry.is_dir(follow_symlinks=False):
            found.append(Path(entry.path))
    return found


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except OSError:
        return 0.0


def _is_real_dir(path: Path, report: Report) -> bool:
    """PATH is a folder, not a link to one (a link is noted, never followed)."""
    if path.is_symlink():
        report.skipped_links.append(path)
        return False
    return path.is_dir()


class Cleaner:
    def __init__(self, state: StateDir, *, older_than: float, keep: int, dry_run: bool,
                 now: float | None = None) -> None:
        self.state = state
        self.cutoff = (time.time() if now is None else now) - older_than
        self.keep = keep
        self.report = Report(dry_run)

    def run(self) -> Report:
        if not self.state.root.is_dir():
            return self.report
        self._runs()
        self._groups()
        self._venvs()
        self._plans()
        return self.report

    def _remove(self, kind: str, path: Path, size: int | None = None) -> bool:
        """Remove PATH (a folder, or a file) unless this is a dry run; note it either way."""
        size = _tree_size(path) if size is None else size
        if not self.report.dry_run:
            try:
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)  # never follows a link inside (rmtree's own guarantee)
                else:
                    path.unlink()
            except OSError as exc:
                self.report.failed.append((path, exc.strerror or str(exc)))
                return False
        self.report.removed.append(Removal(kind, path, size))
        return True

    # run records ---------------------------------------------------------------------------

    def _runs(self) -> None:
        if not _is_real_dir(self.state.runs, self.report):
            return
        for job in _real_dirs(self.state.runs, self.report):
            if not is_job_name(job.name):
                continue  # not a folder jobspec made: not ours to remove
            runs = _real_dirs(job, self.report)
            kept = runs[-self.keep:] if self.keep else []
            left = len(runs)
            for folder in runs:
                if folder in kept:
                    continue
                if self._running(folder):
                    self.report.kept_running.append(folder)
                    continue
                last = max(_mtime(folder), _mtime(folder / "status.json"),
                           _mtime(folder / "log"))
                if last < self.cutoff and self._remove("run", folder):
                    left -= 1
            if left == 0 and not self.report.dry_run:
                with contextlib.suppress(OSError):  # something else is in it: leave it
                    job.rmdir()

    def _running(self, folder: Path) -> bool:
        from jobspec.whereis import _is_jobspec

        status = Run(folder).status()
        pid = status.get("pid")
        return (status.get("state") == "running" and isinstance(pid, int)
                and not isinstance(pid, bool) and 0 < pid < 1 << 31 and _is_jobspec(pid))

    def _gone(self, name: str) -> bool:
        """No run record of NAME is left (or, in a dry run, would be left)."""
        folder = self.state.runs / name
        removed = {r.path for r in self.report.removed if r.kind == "run"}
        return not any(Path(e.path) not in removed for e in _entries(folder))

    # groups ----------------------------------------------------------------------------------

    def _groups(self) -> None:
        if not _is_real_dir(self.state.groups, self.report):
            return
        for entry in _entries(self.state.groups):
            path = Path(entry.path)
            if entry.is_symlink():
                self.report.skipped_links.append(path)
                continue
            if not entry.name.endswith(".json") or not entry.is_file(follow_symlinks=False):
                continue
            if _mtime(path) >= self.cutoff:
                continue
            try:
                members = read_record(path)["members"]
            except (OSError, ValueError, TypeError, KeyError):
                continue  # not a group record jobspec wrote: leave it
            if not isinstance(members, list):
                continue
            names = [m for m in members if isinstance(m, str) and is_job_name(m)]
            if all(self._gone(m) for m in names):
                self._remove("group", path)

    # isolated venvs --------------------------------------------------------------------------

    def _venvs(self) -> None:
        from jobspec import isolated

        cache = self.state.venvs
        if not _is_real_dir(cache, self.report):
            return
        isolated.sweep(cache, lambda p: self._remove("staging", p))
        if fcntl is None:
            return  # no flock: whether a venv is in use cannot be known; keep them all
        for venv in _real_dirs(cache, self.report):
            if venv.name.startswith("."):
                continue  # a staging folder a builder holds
            last = max(_mtime(venv / isolated.USED), _mtime(venv / isolated.READY))
            if last >= self.cutoff:
                continue
            handle = self._lock_venv(venv)
            if handle is None:
                continue
            with handle:
                self._remove_venv(venv)

    def _lock_venv(self, venv: Path) -> IO[str] | None:
        """VENV's use lock held exclusively, or None while a run uses it."""
        from jobspec.isolated import USED

        used = venv / USED
        if used.is_symlink():
            self.report.skipped_links.append(used)
            return None
        try:
            handle = open(used, "a")  # noqa: SIM115 (held while the venv is removed)
        except OSError as exc:
            self.report.failed.append((venv, exc.strerror or str(exc)))
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return None  # a living run uses it
        return handle

    def _remove_venv(self, venv: Path) -> None:
        """Renamed first to a staging-style name (no run can start using it, and a removal cut
        short is swept as a stale staging folder), then removed."""
        size = _tree_size(venv)
        if self.report.dry_run:
            self.report.removed.append(Removal("venv", venv, size))
            return
        trash = venv.with_name(f".{venv.name}-removed-{os.getpid()}")
        try:
            os.replace(venv, trash)
        except OSError as exc:
            self.report.failed.append((venv, exc.strerror or str(exc)))
            return
        shutil.rmtree(trash, ignore_errors=True)
        if trash.exists():
            self.report.failed.append((trash, "could not remove all of it"))
        self.report.removed.append(Removal("venv", venv, size))

    # plan cache ------------------------------------------------------------------------------

    def _plans(self) -> None:
        from jobspec.fastpath import MAX_ENTRY, is_stale
        from jobspec.fileread import read_regular

        if not _is_real_dir(self.state.plans, self.report):
            return
        now = time.time()
        for entry in _entries(self.state.plans):
            path = Path(entry.path)
            if entry.is_symlink():
                self.report.skipped_links.append(path)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            if entry.name.endswith(".tmp"):
                if now - _mtime(path) > _TMP_GRACE:
                    self._remove("plan", path)
                continue
            if not entry.name.endswith(".json"):
                continue
            try:
                text = read_regular(path, MAX_ENTRY)
            except (OSError, ValueError):
                continue
            if is_stale(text):
                self._remove("plan", path)


def clean(state: StateDir, *, older_than: float, keep: int, dry_run: bool) -> Report:
    return Cleaner(state, older_than=older_than, keep=keep, dry_run=dry_run).run()
