"""`jobspec clean`: remove what .jobspec/ keeps that nothing will use again.

- run records older than --older-than, except the latest --keep of each job and any run whose
  jobspec process is still alive;
- isolated venvs no run has used for --older-than (their `.jobspec-used` mtime), and none a
  living run holds (its shared flock: jobspec/isolated.py);
- staging folders of venv builds whose builder is gone (the flock jobspec/isolated.py uses);
- plan-cache entries that can never be used again (another day, another jobspec version);
- group records older than --older-than whose members all have no run record left;
- study records older than --older-than, with their trials' run records, when --keep is 0 (a
  study has one record per name: its latest, which --keep 1 keeps, as a job's latest run); a
  study kept, or still running, keeps its trials' records, whatever their age, so that it never
  points at records that are gone;
- staged sdists (.jobspec/gcs/.../packages/SHA256/, one per package hash) unused for
  --older-than (their mtime: each staging touches it), except the latest --keep of each
  package and any a running run, or a running study's trial, was planned with (its plan.json's
  `staged_sdist`); the folders left empty above them go too.

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
from collections.abc import Iterator
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
_STAMP = re.compile(r"\d{8}T\d{6}\.\d{6}Z")  # a run folder's name (records.Records.start)
_SHA256 = re.compile(r"[0-9a-f]{64}")  # a staged sdist's folder (container.staged_path)


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
    kind: str  # run, venv, staging, plan, group, study, sdist
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
        self.trials: set[Path] = set()  # run records of studies kept: never removed here
        self.study_sdists: set[str] = set()  # sdists a running study's trials were planned with

    def run(self) -> Report:
        if not self.state.root.is_dir():
            return self.report
        self._studies()  # first: a study kept keeps its trials' records
        self._runs()
        self._groups()
        self._venvs()
        self._sdists()
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
            gone = {r.path for r in self.report.removed if r.kind == "run"}  # with a study
            left = len(runs) - len(gone.intersection(runs))
            for folder in runs:
                if folder in kept or folder in self.trials or folder in gone:
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
        return _alive(Run(folder).status())

    def _gone(self, name: str) -> bool:
        """No run record of NAME is left (or, in a dry run, would be left)."""
        folder = self.state.runs / name
        removed = {r.path for r in self.report.removed if r.kind == "run"}
        return not any(Path(e.path) not in removed for e in _entries(folder))

    # groups ----------------------------------------------------------------------------------

    def _json_records(self, folder: Path) -> Iterator[Path]:
        """The .json files right in FOLDER (a real folder), never through a link (a link is
        reported as skipped)."""
        if not _is_real_dir(folder, self.report):
            return
        for entry in _entries(folder):
            path = Path(entry.path)
            if entry.is_symlink():
                self.report.skipped_links.append(path)
            elif entry.name.endswith(".json") and entry.is_file(follow_symlinks=False):
                yield path

    def _groups(self) -> None:
        for path in self._json_records(self.state.groups):
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

    # studies -----------------------------------------------------------------------------

    def _studies(self) -> None:
        for path in self._json_records(self.state.studies):
            if not is_job_name(path.name.removesuffix(".json")):
                continue
            try:
                data = read_record(path)
                trials = data["trials"]
                if not isinstance(trials, list):
                    raise TypeError(trials)
            except (OSError, ValueError, TypeError, KeyError):
                continue  # not a study record jobspec wrote: leave it
            records = self._trial_records(trials)
            running = _alive(data) or any(self._running(r) for r in records)
            if running or self.keep or _mtime(path) >= self.cutoff:
                self.trials.update(records)
                if running:
                    self.report.kept_running.append(path)
                    self.study_sdists.update(_staged(r) for r in records)
                continue
            # the study goes with its trials' records; if one of them stays, so does the
            # study (running again retries)
            if all([self._remove("run", r) for r in records]):  # noqa: C419 (every one tried)
                self._remove("study", path)

    def _trial_records(self, trials: list[Any]) -> list[Path]:
        """The run folders under runs/ that a study record's trials name (by their last two
        parts: the record holds absolute paths, and the project may have moved)."""
        found = []
        for trial in trials:
            record = trial.get("record") if isinstance(trial, dict) else None
            if not isinstance(record, str):
                continue
            where = Path(record)
            if not is_job_name(where.parent.name) or not _STAMP.fullmatch(where.name):
                continue
            folder = self.state.runs / where.parent.name / where.name
            if folder.is_symlink():
                self.report.skipped_links.append(folder)
            elif folder.is_dir():
                found.append(folder)
        return found

    # staged sdists ---------------------------------------------------------------------------

    def _sdists(self) -> None:
        gcs = self.state.gcs
        if not _is_real_dir(gcs, self.report):
            return
        used = self._used_hashes()
        packages: dict[tuple[Path, tuple[str, ...]], list[tuple[float, Path]]] = {}
        for top, dirs, _ in os.walk(gcs, followlinks=False):  # os.walk never enters a link
            if Path(top).name != "packages":
                continue
            hashes = [n for n in sorted(dirs) if _SHA256.fullmatch(n)]
            dirs[:] = [n for n in dirs if n not in hashes]  # a bucket may be named packages
            for name in hashes:
                folder = Path(top, name)
                if folder.is_symlink():
                    self.report.skipped_links.append(folder)
                    continue
                files = [e for e in _entries(folder) if not e.name.startswith(".")]
                key = (Path(top), tuple(e.name for e in files))  # one package's versions
                last = max([_mtime(folder), *(_mtime(Path(e.path)) for e in files)])
                packages.setdefault(key, []).append((last, folder))
        emptied = set()
        for versions in packages.values():
            versions.sort()
            kept = versions[-self.keep:] if self.keep else []
            for last, folder in versions:
                if ((last, folder) in kept or folder.name in used or last >= self.cutoff):
                    continue
                if self._remove("sdist", folder):
                    emptied.add(folder.parent)
        if not self.report.dry_run:
            for folder in emptied:
                while folder != gcs and gcs in folder.parents:
                    try:
                        folder.rmdir()  # only if empty: what else is there stays
                    except OSError:
                        break
                    folder = folder.parent

    def _used_hashes(self) -> set[str]:
        """The package hashes (sdist folder names) the plans of running runs stage, and those
        of running studies' trials (the next trial stages the same sdist)."""
        staged = set(self.study_sdists)
        if not self.state.runs.is_symlink():  # links were noted by the runs' pass
            for job in _entries(self.state.runs):
                if is_job_name(job.name) and job.is_dir(follow_symlinks=False):
                    staged.update(_staged(Path(f.path)) for f in _entries(Path(job.path))
                                  if f.is_dir(follow_symlinks=False)
                                  and self._running(Path(f.path)))
        return {Path(s).parent.name for s in staged if s}

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


def _alive(status: Any) -> bool:
    """A record (a run's status, a study) says running, and its jobspec process lives."""
    from jobspec.whereis import _is_jobspec

    if not isinstance(status, dict):
        return False
    pid = status.get("pid")
    return (status.get("state") == "running" and isinstance(pid, int)
            and not isinstance(pid, bool) and 0 < pid < 1 << 31 and _is_jobspec(pid))


def _staged(folder: Path) -> str:
    """The staged sdist a run's plan names ("" when none, or no plan.json is readable)."""
    try:
        staged = read_record(folder / "plan.json").get("staged_sdist")
    except (OSError, ValueError, AttributeError):
        return ""
    return staged if isinstance(staged, str) else ""


def clean(state: StateDir, *, older_than: float, keep: int, dry_run: bool) -> Report:
    return Cleaner(state, older_than=older_than, keep=keep, dry_run=dry_run).run()
