"""Local state under the project root's .jobspec/ (its layout: `StateDir`), and the run records
in it: .jobspec/runs/NAME/<utc-timestamp>/{plan.json, log, status.json}."""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.errors import UsageError
from jobspec.fileread import open_regular, read_regular
from jobspec.states import JOB_NAME_PATTERN
from jobspec.states import LOCAL_TERMINAL as TERMINAL  # noqa: F401 - records.TERMINAL

if TYPE_CHECKING:
    from jobspec.output import Output

MAX_RECORD = 1 << 20  # a status.json or group file jobspec wrote is a few hundred bytes


# the spec's pattern (jobspec.states), without loading the spec: a run from a cached plan loads
# no pydantic (jobspec/fastpath.py)
_NAME_RE = re.compile(JOB_NAME_PATTERN)


def is_job_name(name: str) -> bool:
    return _NAME_RE.fullmatch(name) is not None


def job_name(name: str) -> str:
    """``name`` when it is a job name; a path made from anything else could leave the records
    folder (`../x`, `a/b`) or name a file that no run wrote (`x\\n`)."""
    if not is_job_name(name):
        raise UsageError(f"{name!r} is not a job name: a letter, then letters, digits or "
                         "underscores, at most 128 characters")
    return name


def read_record(path: Path) -> Any:
    """A JSON file jobspec wrote, read back: a regular file, bounded, or OSError/ValueError."""
    return json.loads(read_regular(path, MAX_RECORD))


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write a record jobspec reads back (`read_record`), whole or not at all."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)  # readers never see half a file


@dataclass
class Run:
    """One run's folder; jobspec updates status.json as the run moves on."""

    folder: Path

    @property
    def log_path(self) -> Path:
        return self.folder / "log"

    def status(self) -> dict[str, Any]:
        try:
            data = read_record(self.folder / "status.json")
        except (OSError, ValueError):
            return {"state": "unknown"}
        return data if isinstance(data, dict) else {"state": "unknown"}

    def set_status(self, **fields: Any) -> None:
        write_json(self.folder / "status.json", {**self.status(), **fields})

    def open_log(self) -> TextIO:
        return self.log_path.open("a", encoding="utf-8", buffering=1)


class Records:
    def __init__(self, root: Path) -> None:
        self.root = root

    def start(self, name: str, plan: dict[str, Any]) -> Run:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = self.root / job_name(name) / stamp
        folder.mkdir(parents=True, exist_ok=False)
        _ensure_ignored(self.root.parent)  # .jobspec/
        if "commit" not in plan:  # the code the run came from, when the project is in git
            from jobspec.gitinfo import head_commit

            plan = {**plan, "commit": head_commit(str(plan.get("project_root") or self.root))}
        write_json(folder / "plan.json", plan)
        run = Run(folder)
        run.set_status(name=name, target=plan.get("target"), state="running", exit_code=None,
                       start=utc_now(), end=None, pid=os.getpid())
        run.log_path.touch()
        return run

    def runs(self, name: str) -> list[Run]:
        folder = self.root / job_name(name)
        if not folder.is_dir():
            return []
        return [Run(p) for p in sorted(folder.iterdir()) if (p / "status.json").is_file()]

    def latest(self, name: str) -> Run:
        runs = self.runs(name)
        if not runs:
            known = sorted(p.name for p in self.root.iterdir()) if self.root.is_dir() else []
            hint = f"; known: {', '.join(known)}" if known else ""
            raise UsageError(f"no local runs of {name!r} under {self.root}{hint}")
        return runs[-1]

    def status_data(self, name: str) -> dict[str, Any]:
        """The latest run's status.json, its liveness checked, and where its record is."""
        run = self.latest(name)
        return {**liveness(run.status()), "record": str(run.folder)}

    def status_text(self, name: str) -> str:
        status = self.status_data(name)
        code = status.get("exit_code")
        parts = [f"{name}: {status.get('state')}"]
        if code is not None:
            task = status.get("task")
            parts.append(f"exit code {code}" + (f" from {task}" if task else ""))
        parts.append(f"started {status.get('start')}")
        if status.get("end"):
            parts.append(f"ended {status['end']}")
        return ", ".join(parts) + f"\nrecord: {status['record']}"

    def list_rows(self) -> list[dict[str, Any]]:
        """Each job's latest run: name, number of runs, and its status."""
        rows = []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                runs = self.runs(folder.name) if is_job_name(folder.name) else []
                if runs:
                    status = liveness(runs[-1].status())
                    rows.append({"name": folder.name, "runs": len(runs), **status})
        return rows

    def print_list(self, out: Output) -> None:
        """The list as a table fitting the terminal (`jobspec list`)."""
        rows = self.list_rows()
        if not rows:
            out.print(f"no local runs under {self.root}")
        for line in out.table(_list_cells(rows), _LIST_COLUMNS) if rows else ():
            out.print(line)

    def print_log(self, name: str, *, follow: bool, poll: float = 0.2) -> int:
        """The latest run's log on stdout; under --json, one JSON object per line:
        {"task", "text"}."""
        from jobspec.output import current

        run = self.latest(name)
        out = current()
        lines = _LogLines(run, out) if out.as_json else None
        emit = lines.feed if lines is not None else out.write
        try:  # a log replaced by a FIFO or /dev/zero would block or never end
            fd = open_regular(run.log_path)
        except OSError as exc:
            raise UsageError(f"{run.log_path}: cannot be read: {exc.strerror or exc}") from None
        with open(fd, encoding="utf-8", errors="replace") as fh:
            while True:
                # in pieces: a training log can be larger than memory
                while chunk := fh.read(1 << 16):
                    emit(chunk)
                if not follow or liveness(run.status()).get("state") != "running":
                    while rest := fh.read(1 << 16):
                        emit(rest)
                    break
                time.sleep(poll)
        if lines is not None:
            lines.end()
        return 0


_LIST_COLUMNS = ("NAME", "STATE", "RUNS", "STARTED")


def _list_cells(rows: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    # a damaged status.json may lack a field or hold any JSON value
    return [(str(r["name"]), _field(r, "state"), str(r["runs"]), _field(r, "start"))
            for r in rows]


def _field(row: dict[str, Any], key: str) -> str:
    value = row.get(key)
    return "unknown" if value is None else str(value)[:64]


class _LogLines:
    """A run's log text, in pieces, out as JSON lines: a line's task is its `TASK | ` prefix
    when the run had several processes (the prefixes the runner wrote)."""

    def __init__(self, run: Run, out: Output) -> None:
        self.out = out
        self.held = ""
        self.tasks: tuple[str, ...] = ()
        try:
            plan = read_record(run.folder / "plan.json")
            self.tasks = tuple(str(p["task"]) for p in plan.get("processes", []))
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            pass

    def feed(self, text: str) -> None:
        *lines, self.held = (self.held + text).split("\n")
        for line in lines:
            self._emit(line)
        if len(self.held) > 1 << 16:  # one endless line: in pieces, as the runner wrote it
            self._emit(self.held)
            self.held = ""

    def end(self) -> None:
        if self.held:
            self._emit(self.held)
        self.held = ""

    def _emit(self, line: str) -> None:
        task = self.tasks[0] if len(self.tasks) == 1 else ""
        head, bar, rest = line.partition(" | ")
        if bar and len(self.tasks) > 1 and head.rstrip().rpartition("/")[2] in self.tasks:
            task, line = head.rstrip(), rest
        self.out.json_line({"task": task, "text": line})


def liveness(status: dict[str, Any]) -> dict[str, Any]:
    """A 'running' record whose jobspec process is gone was cut off (e.g. by SIGKILL)."""
    if status.get("state") == "running":
        pid = status.get("pid")
        # only a process id: 0 and negative numbers name process groups, and a damaged record
        # may hold a number too large for kill()
        if not isinstance(pid, int) or isinstance(pid, bool) or not 0 < pid < 1 << 31:
            return status
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return {**status, "state": "lost"}
        except OSError:  # PermissionError: alive, another user's
            pass
    return status


STATE_NAME = ".jobspec"


class StateDir:
    """The one place that knows the layout of a project's .jobspec/ folder:

    - runs/NAME/<utc-timestamp>/   one run's record (`Records`, `Run`), with cwd/ when isolated
    - groups/GROUP.json            a local sweep's members (jobspec/sweep.py)
    - studies/STUDY.json           a local study and its trials (jobspec/studyrecord.py); each
                                   trial is a run, runs/STUDY_trial_ID/<utc-timestamp>/
    - plans/KEY.json               the plan cache, one entry per command line (fastpath.py)
    - venvs/KEY/                   isolated venvs, and their staging folders .KEY-XXXX
                                   (jobspec/isolated.py)
    - gcs/BUCKET/PREFIX/packages/SHA256/FILE
                                   the sdist --isolated and --container runs install, one
                                   folder per package hash, laid out as the cloud job reads it
                                   from /gcs/ (jobspec/container.py)
    - locks/                       one local run at a time (jobspec/runlock.py)
    - .gitignore                   `*`: the folder stays out of git

    Standard library only: the fast path (jobspec/fastpath.py) uses it."""

    def __init__(self, project_root: Path) -> None:
        self.project_root = Path(project_root)
        self.root = self.project_root / STATE_NAME

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def groups(self) -> Path:
        return self.root / "groups"

    @property
    def studies(self) -> Path:
        return self.root / "studies"

    @property
    def plans(self) -> Path:
        return self.root / "plans"

    @property
    def venvs(self) -> Path:
        return self.root / "venvs"

    @property
    def gcs(self) -> Path:
        return self.root / "gcs"

    @property
    def locks(self) -> Path:
        return self.root / "locks"

    @property
    def gitignore(self) -> Path:
        return self.root / ".gitignore"

    def group_file(self, group: str) -> Path:
        return self.groups / f"{job_name(group)}.json"

    def study_file(self, study: str) -> Path:
        return self.studies / f"{job_name(study)}.json"

    def records(self) -> Records:
        return Records(self.runs)

    def ensure_ignored(self) -> None:
        """.jobspec/ holds local state: keep it out of git without touching the user's
        .gitignore."""
        _ensure_ignored(self.root)


def plans_dir(project_root: Path) -> Path:
    """The plan cache (jobspec/fastpath.py): one file per command line, .jobspec/plans/KEY.json
    """
    return StateDir(project_root).plans


def write_private(path: Path, text: str) -> None:
    """Write a file of .jobspec/ readable by its owner only, whole or not at all."""
    _ensure_ignored(path.parent.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _ensure_ignored(state_dir: Path) -> None:
    """STATE_DIR (a project's .jobspec/) kept out of git: a `*` .gitignore in it."""
    marker = state_dir / ".gitignore"
    if not marker.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text("*\n", encoding="utf-8")
