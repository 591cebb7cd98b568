"""A local study's record, .jobspec/studies/STUDY.json, as jobspec/study.py writes it while
its trials run: the trials it holds, the table of them with the best marked, and `status`,
`list` and `cancel` of a study, which read it. Nothing here runs a trial.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.errors import UsageError
from jobspec.output import current
from jobspec.records import StateDir, is_job_name, liveness, read_record, write_json
from jobspec.search import Values, flag_value


def trial_name(study: str, trial_id: int) -> str:
    return f"{study}_trial_{trial_id}"


def study_file(root: Path, study: str) -> Path:
    return StateDir(root).study_file(study)


@dataclass
class Trial:
    id: int
    values: Values
    state: str = "pending"  # running, succeeded, failed, stopped
    metric: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    record: str | None = None
    start: str | None = None
    end: str | None = None

    def data(self, study: str) -> dict[str, Any]:
        return {"id": self.id, "name": trial_name(study, self.id),
                "parameters": {k: flag_value(v) for k, v in self.values.items()},
                "state": self.state, "metric": self.metric, "exit_code": self.exit_code,
                "reason": self.reason, "record": self.record, "start": self.start,
                "end": self.end}


def write_study(path: Path, data: dict[str, Any]) -> None:
    """Write the study record DATA to PATH (`study_file`), its folder made; OSError when that
    cannot be done."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, data)


def best_trial(trials: list[Trial], goal: str) -> Trial | None:
    done = [t for t in trials if t.state == "succeeded" and t.metric is not None]
    if not done:
        return None
    pick = max if goal == "MAXIMIZE" else min
    return pick(done, key=lambda t: (t.metric if goal == "MAXIMIZE" else t.metric,
                                     -t.id if goal == "MAXIMIZE" else t.id))


def metric_text(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def trial_table(data: dict[str, Any]) -> list[str]:
    """The study's trials as a table, the best marked; then one line of outcome."""
    out = current()
    metric = data["metric"]["metric_id"]
    params = [str(p) for p in data["parameters"]]
    rows = []
    for trial in data["trials"]:
        mark = "*" if trial["id"] == data.get("best") else ""
        values = trial.get("parameters") or {}
        rows.append((f"{trial['id']}{mark}", *(str(values.get(p, "-")) for p in params),
                     metric_text(trial.get("metric")), str(trial.get("state")),
                     str(trial.get("reason") or "")))
    columns = ("TRIAL", *(p.upper() for p in params), metric.upper(), "STATE", "REASON")
    counts: dict[str, int] = {}
    for trial in data["trials"]:
        counts[str(trial["state"])] = counts.get(str(trial["state"]), 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    lines = [f"study {data['study']}: {data['state']} ({summary or 'no trials'})"
             + (f": {data['reason']}" if data.get("reason") and data["state"] != "succeeded"
                else "")]
    lines += out.table(rows, columns, indent="  ")
    best = next((t for t in data["trials"] if t["id"] == data.get("best")), None)
    if best is not None:
        shown = " ".join(f"--{k}={v}" for k, v in best["parameters"].items())
        lines.append(f"best: trial {best['id']} ({best['name']}), {metric} "
                     f"{metric_text(best['metric'])}: {shown}")
    return lines


def say(message: str) -> None:
    with contextlib.suppress(OSError):  # a terminal that has gone away must not stop the stop
        current().info(message)


# --- status, list, cancel ------------------------------------------------------------------

def read_study(root: Path, name: str) -> dict[str, Any] | None:
    """The study record of NAME, its liveness checked; None when NAME is no local study."""
    path = study_file(root, name)
    if not path.is_file():
        return None
    try:
        data = read_record(path)
        if not isinstance(data, dict) or not isinstance(data.get("trials"), list):
            raise ValueError("no trials")
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: not a study record jobspec wrote: "
                         f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    live = liveness({"state": data.get("state"), "pid": data.get("pid")})
    if live["state"] == "lost":
        data["state"] = "lost"
    return data


def study_status(root: Path, name: str, *, as_json: bool) -> str | None:
    data = read_study(root, name)
    if data is None:
        return None
    if as_json:
        return json.dumps(data, indent=2)
    return "\n".join(trial_table(data))


def study_rows(root: Path) -> list[dict[str, Any]]:
    """One row per local study (`list`): name, state, trials, started."""
    folder = StateDir(root).studies
    rows = []
    if folder.is_dir():
        for path in sorted(folder.glob("*.json")):
            if not is_job_name(path.stem):
                continue
            try:
                data = read_study(root, path.stem)
            except UsageError:
                continue
            if data is not None:
                rows.append({"name": path.stem, "kind": "study", "state": data.get("state"),
                             "runs": len(data["trials"]), "start": data.get("created")})
    return rows


def cancel_study(root: Path, name: str, outcomes: list[dict[str, Any]]) -> int | None:
    """Stop a running local study as Ctrl-C would (SIGTERM to its jobspec process, which stops
    its trials and records them); None when NAME is no local study."""
    import signal

    from jobspec.whereis import _is_jobspec

    data = read_study(root, name)
    if data is None:
        return None
    pid = data.get("pid")
    if data.get("state") != "running" or not isinstance(pid, int) or not _is_jobspec(pid):
        say(f"study {name} is not running ({data.get('state')}); nothing to cancel")
        outcomes.append({"name": name, "result": "not running", "state": data.get("state")})
        return 0
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        say(f"study {name} ended meanwhile; nothing to cancel")
        outcomes.append({"name": name, "result": "ended meanwhile"})
        return 0
    say(f"cancel requested for study {name} (local, jobspec process {pid})")
    outcomes.append({"name": name, "result": "cancel requested", "pid": pid})
    return 0


__all__ = ["Trial", "best_trial", "cancel_study", "metric_text", "read_study", "say",
           "study_file", "study_rows", "study_status", "trial_name", "trial_table",
           "write_study"]
