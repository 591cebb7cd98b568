"""Local runs for the page: every run record under .jobspec/runs/, the groups of
.jobspec/groups/ (matrix sweeps, and tuning studies: see `studies.py`), a run's plan, log and
metrics. Read through jobspec.records and jobspec.sweep's layout; nothing here writes."""

from __future__ import annotations

import os
import shlex
from datetime import datetime
from pathlib import Path
from typing import Any

from jobspec.fileread import open_regular
from jobspec.records import StateDir, is_job_name, liveness, read_record
from jobspec.ui import metrics

LOG_CHUNK = 256 << 10  # the most of a log one request returns; the page asks again for more


def _seconds(start: Any, end: Any) -> float | None:
    try:
        begun = datetime.fromisoformat(str(start).replace("Z", "+00:00"))
        ended = datetime.fromisoformat(str(end).replace("Z", "+00:00"))
    except ValueError:
        return None
    return max(0.0, (ended - begun).total_seconds())


def _owner(folder: Path) -> str | None:
    try:
        import pwd

        return pwd.getpwuid(folder.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return None


def _plan(folder: Path) -> dict[str, Any]:
    try:
        plan = read_record(folder / "plan.json")
    except (OSError, ValueError):
        return {}
    return plan if isinstance(plan, dict) else {}


def _shown_spec(spec: Any, root: Path) -> str | None:
    if not isinstance(spec, str):
        return None
    try:
        return str(Path(spec).relative_to(root))
    except ValueError:
        return spec


class LocalJobs:
    """The project's local records, read at each request (they change while runs go on)."""

    def __init__(self, project_root: Path) -> None:
        self.root = Path(project_root).resolve()
        self.state = StateDir(self.root)
        self.records = self.state.records()
        self.host = os.uname().nodename if hasattr(os, "uname") else None

    # --- the jobs table ------------------------------------------------------------------

    def groups(self) -> list[dict[str, Any]]:
        """Each group record: its name, kind ("matrix", or what the record says, e.g. "study")
        and members in order."""
        found = []
        folder = self.state.groups
        for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
            name = path.stem
            try:
                record = read_record(path)
                members = [m for m in record["members"] if isinstance(m, str) and is_job_name(m)]
            except (OSError, ValueError, TypeError, KeyError):
                continue
            if is_job_name(name):
                kind = record.get("kind") if isinstance(record.get("kind"), str) else "matrix"
                found.append({"name": name, "kind": kind, "members": members,
                              "created": record.get("created")})
        from jobspec.ui.studies import local_studies

        return found + local_studies(self.root)

    def rows(self) -> list[dict[str, Any]]:
        """Every run of every job, oldest first; the latest run of each job is marked."""
        rows: list[dict[str, Any]] = []
        folder = self.records.root
        if not folder.is_dir():
            return rows
        owners: dict[int, str | None] = {}
        for job in sorted(folder.iterdir()):
            if not is_job_name(job.name):
                continue
            runs = self.records.runs(job.name)
            for index, run in enumerate(runs):
                rows.append(self._row(job.name, run.folder, run.status(),
                                      latest=index == len(runs) - 1, owners=owners))
        return rows

    def _row(self, name: str, folder: Path, status: dict[str, Any], *, latest: bool,
             owners: dict[int, str | None]) -> dict[str, Any]:
        status = liveness(status)
        plan = _plan(folder)
        try:
            uid = folder.stat().st_uid
        except OSError:
            uid = -1
        if uid not in owners:
            owners[uid] = _owner(folder)
        end = status.get("end")
        return {
            "id": f"local/{name}/{folder.name}", "where": "local", "name": name,
            "run": folder.name, "latest": latest, "target": status.get("target"),
            "state": status.get("state"), "exit_code": status.get("exit_code"),
            "start": status.get("start"), "end": end,
            "seconds": _seconds(status.get("start"), end) if end else None,
            "user": owners[uid], "host": self.host,
            "spec": _shown_spec(plan.get("spec"), self.root),
            "commit": plan.get("commit") if isinstance(plan.get("commit"), str) else None,
            "cost": None,  # a local run has no price (jobspec/prices.py prices Vertex machines)
        }

    # --- one run ---------------------------------------------------------------------------

    def folder(self, name: str, run: str) -> Path | None:
        """The record folder of run RUN of job NAME, or None: both must name an existing run
        (never a path: a name is checked, a run is looked up among the runs that exist)."""
        if not is_job_name(name):
            return None
        for found in self.records.runs(name):
            if found.folder.name == run:
                return found.folder
        return None

    def detail(self, name: str, run: str) -> dict[str, Any] | None:
        folder = self.folder(name, run)
        if folder is None:
            return None
        runs = self.records.runs(name)
        status = liveness(runs[[r.folder for r in runs].index(folder)].status())
        plan = _plan(folder)
        row = self._row(name, folder, status, latest=folder == runs[-1].folder, owners={})
        history = [{"state": "running", "at": status.get("start")}]
        if status.get("end"):
            history.append({"state": status.get("state"), "at": status.get("end")})
        tasks = [str(p.get("task")) for p in plan.get("processes") or [] if isinstance(p, dict)]
        return {**row, "plan": plan, "status": status, "history": history, "tasks": tasks,
                "record": str(folder.relative_to(self.root)), "metrics": self.metrics(folder, plan),
                "cancel_command": shlex.join(["jobspec", "cancel", name, "--target", "local"]),
                "group": next((g["name"] for g in self.groups() if name in g["members"]), None)}

    def rerun_command(self, name: str, run: str) -> dict[str, str] | None:
        """The command that would run this job again, and what it does: a sweep's member is
        rerun with its sweep (`--name` names a matrix spec's group, not one member)."""
        folder = self.folder(name, run)
        if folder is None:
            return None
        plan = _plan(folder)
        spec = _shown_spec(plan.get("spec"), self.root) or "SPEC"
        target = str(plan.get("target") or "local")
        group = next((g for g in self.groups() if name in g["members"]), None)
        named = group["name"] if group is not None else name
        command = shlex.join(["jobspec", "run", spec, "--target", target, "--name", named])
        note = (f"reruns every member of {group['kind']} {named}" if group is not None else
                "overrides the first run had (--set, arguments after --) are not recorded: "
                "add them")
        return {"command": command, "note": note}

    def log(self, name: str, run: str, offset: int) -> dict[str, Any] | None:
        """The log from byte OFFSET on (at most LOG_CHUNK bytes, cut at a line's end when it
        can be), the offset to ask for next, and whether the run is still going."""
        folder = self.folder(name, run)
        if folder is None:
            return None
        running = liveness(self._status(folder)).get("state") == "running"
        try:
            fd = open_regular(folder / "log")
        except OSError:
            return {"text": "", "next": offset, "running": running, "size": 0}
        with open(fd, "rb") as fh:
            size = os.fstat(fh.fileno()).st_size
            offset = max(0, min(offset, size))
            fh.seek(offset)
            data = fh.read(LOG_CHUNK)
        if len(data) == LOG_CHUNK and b"\n" in data:
            data = data[:data.rindex(b"\n") + 1]
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as exc:  # half a character, the rest still to be written
            if exc.reason == "unexpected end of data" and running:
                data = data[:exc.start]
        return {"text": data.decode("utf-8", errors="replace"), "next": offset + len(data),
                "running": running, "size": size}

    @staticmethod
    def _status(folder: Path) -> dict[str, Any]:
        try:
            data = read_record(folder / "status.json")
        except (OSError, ValueError):
            return {"state": "unknown"}
        return data if isinstance(data, dict) else {"state": "unknown"}

    # --- metrics ---------------------------------------------------------------------------

    def _inside(self, path: Path) -> Path | None:
        """PATH when it is inside the project (symbolic links resolved), else None: the page
        shows nothing from outside the project."""
        try:
            resolved = path.resolve()
        except (OSError, RuntimeError):
            return None
        return resolved if resolved.is_relative_to(self.root) else None

    def metrics(self, folder: Path, plan: dict[str, Any]) -> list[dict[str, Any]]:
        """The run's metrics files that exist: JSON metrics in its job dir, and the
        cloudml-hypertune file its environment names (or one in its record folder)."""
        processes = [p for p in plan.get("processes") or [] if isinstance(p, dict)]
        cwd = Path(str(processes[0].get("cwd") or self.root)) if processes else self.root
        candidates: list[tuple[str, Path]] = []
        job_dir = plan.get("job_dir")
        if isinstance(job_dir, str) and job_dir and "://" not in job_dir:
            candidates.append(("metrics.json", cwd / job_dir / "metrics.json"))
        for process in processes[:1]:
            env = process.get("env") or {}
            hp_file = env.get("CLOUD_ML_HP_METRIC_FILE") if isinstance(env, dict) else None
            if isinstance(hp_file, str) and hp_file:
                candidates.append(("hypertune", cwd / hp_file))
        candidates += [("hypertune", p) for p in sorted(folder.glob("*.metrics"))]
        found: list[dict[str, Any]] = []
        seen: set[Path] = set()
        for source, path in candidates:
            inside = self._inside(path)
            if inside is None or inside in seen:
                continue
            seen.add(inside)
            parsed = metrics.read(inside)
            if parsed is not None and (parsed[0] or parsed[1]):
                found.append({"source": source, "file": str(inside.relative_to(self.root)),
                              "series": parsed[0], "values": parsed[1]})
        return found
