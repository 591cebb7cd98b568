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

TERMINAL = ("succeeded", "failed", "interrupted")


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
            data: dict[str, Any] = json.loads((self.folder / "status.json").read_text("utf-8"))
            return data
        except (OSError, ValueError):
            return {"state": "unknown"}

    def set_status(self, **fields: Any) -> None:
        _write_json(self.folder / "status.json", {**self.status(), **fields})

    def open_log(self) -> TextIO:
        return self.log_path.open("a", encoding="utf-8", buffering=1)


class Records:
    def __init__(self, root: Path) -> None:
        self.root = root

    def start(self, name: str, plan: dict[str, Any]) -> Run:
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
        folder = self.root / name / stamp
        folder.mkdir(parents=True, exist_ok=False)
        _ensure_ignored(self.root.parent)  # .jobspec/
        _write_json(folder / "plan.json", plan)
        run = Run(folder)
        run.set_status(name=name, target=plan.get("target"), state="running", exit_code=None,
                       start=utc_now(), end=None, pid=os.getpid())
        run.log_path.touch()
        return run

    def runs(self, name: str) -> list[Run]:
        folder = self.root / name
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
                runs = self.runs(folder.name)
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

        with run.log_path.open("r", encoding="utf-8", errors="replace") as fh:
            while True:
                chunk = fh.read()
                if chunk:
                    sys.stdout.write(chunk)
                    sys.stdout.flush()
                if not follow or _liveness(run.status()).get("state") != "running":
                    rest = fh.read()
                    if rest:
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
