"""Local run records: .jobspec/runs/NAME/<utc-timestamp>/{plan.json, log, status.json}."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from jobspec.errors import UsageError
from jobspec.fileread import open_regular, read_regular
from jobspec.states import LOCAL_TERMINAL as TERMINAL  # noqa: F401 - records.TERMINAL

MAX_RECORD = 1 << 20  # a status.json or group file jobspec wrote is a few hundred bytes


def is_job_name(name: str) -> bool:
    from jobspec.spec import NAME_RE

    return NAME_RE.fullmatch(name) is not None


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


def _write_json(path: Path, data: dict[str, Any]) -> None:
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
        _write_json(self.folder / "status.json", {**self.status(), **fields})

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
        _write_json(folder / "plan.json", plan)
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

    def status_text(self, name: str, *, as_json: bool) -> str:
        run = self.latest(name)
        status = _liveness(run.status())
        if as_json:
            return json.dumps({**status, "record": str(run.folder)}, indent=2)
        code = status.get("exit_code")
        parts = [f"{name}: {status.get('state')}"]
        if code is not None:
            task = status.get("task")
            parts.append(f"exit code {code}" + (f" from {task}" if task else ""))
        parts.append(f"started {status.get('start')}")
        if status.get("end"):
            parts.append(f"ended {status['end']}")
        return ", ".join(parts) + f"\nrecord: {run.folder}"

    def list_text(self, *, as_json: bool) -> str:
        rows = []
        if self.root.is_dir():
            for folder in sorted(self.root.iterdir()):
                runs = self.runs(folder.name) if is_job_name(folder.name) else []
                if runs:
                    status = _liveness(runs[-1].status())
                    rows.append({"name": folder.name, "runs": len(runs), **status})
        if as_json:
            return json.dumps(rows, indent=2)
        if not rows:
            return f"no local runs under {self.root}"
        lines = [f"{'NAME':<32} {'STATE':<12} {'RUNS':>4}  STARTED"]
        for row in rows:
            lines.append(f"{row['name']:<32} {row['state']:<12} {row['runs']:>4}  {row['start']}")
        return "\n".join(lines)

    def print_log(self, name: str, *, follow: bool, poll: float = 0.2) -> int:
        run = self.latest(name)
        import sys

        try:  # a log replaced by a FIFO or /dev/zero would block or never end
            fd = open_regular(run.log_path)
        except OSError as exc:
            raise UsageError(f"{run.log_path}: cannot be read: {exc.strerror or exc}") from None
        with open(fd, encoding="utf-8", errors="replace") as fh:
            while True:
                # in pieces: a training log can be larger than memory
                while chunk := fh.read(1 << 16):
                    sys.stdout.write(chunk)
                sys.stdout.flush()
                if not follow or _liveness(run.status()).get("state") != "running":
                    while rest := fh.read(1 << 16):
                        sys.stdout.write(rest)
                    break
                time.sleep(poll)
        return 0


def _liveness(status: dict[str, Any]) -> dict[str, Any]:
    """A 'running' record whose jobspec process is gone was cut off (e.g. by SIGKILL)."""
    if status.get("state") == "running":
        pid = status.get("pid")
        try:
            if isinstance(pid, int):
                os.kill(pid, 0)
        except ProcessLookupError:
            return {**status, "state": "lost"}
        except PermissionError:
            pass
    return status


def _ensure_ignored(state_dir: Path) -> None:
    """.jobspec/ holds local state: keep it out of git without touching the user's .gitignore."""
    marker = state_dir / ".gitignore"
    if not marker.exists():
        state_dir.mkdir(parents=True, exist_ok=True)
        marker.write_text("*\n", encoding="utf-8")
