"""Where a job is, when `status`, `logs` or `cancel` get a NAME and no --target: this project's
local records first, then the buckets of the cloud targets of the project's spec(s). Every
place looked in is named when the job is in none of them. Also `cancel` of a local run. The
places themselves, and the follow-up commands, are jobspec.places (below the cloud modules)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.errors import CloudError, JobspecError, UsageError
from jobspec.places import Place, cloud_places, has_local, project_root, shown


@dataclass(frozen=True)
class Found:
    kind: str  # "local" or "cloud"
    place: Place | None = None


def _look_in_cloud(name: str, place: Place) -> bool:
    """True when the bucket holds a claim (or a group record) named NAME."""
    from jobspec.cloud.group import read_group
    from jobspec.cloud.manage import Jobs, _where

    with Jobs(_where(place.target, str(place.spec), place.bucket)) as jobs:
        return (jobs.bucket.read_claim(name) is not None
                or read_group(jobs.bucket, name) is not None)


def find(name: str, spec: str | None) -> Found:
    """The one place holding job NAME: local first (no network, no credentials needed for a
    local run), then each cloud bucket of the project's spec(s). Found in two buckets, or not
    found: an error that names every place looked in."""
    root = project_root(spec)
    if has_local(name, root):
        return Found("local")
    from jobspec.records import StateDir

    state = StateDir(root)
    looked = [f"{shown(state.runs)}/ (no run named {name})",
              f"{shown(state.groups)}/ (no group named {name})"]
    places, notes = cloud_places(spec)
    hits: list[Place] = []
    failed = False
    for place in places:
        where = f"gs://{place.bucket}/{name}/ (target {place.target} of {shown(place.spec)})"
        try:
            if _look_in_cloud(name, place):
                hits.append(place)
                continue
            looked.append(f"{where}: no claim")
        except JobspecError as exc:
            failed = True
            looked.append(f"{where}: could not look: {exc.message}")
    if len(hits) == 1:
        return Found("cloud", hits[0])
    if hits:
        both = " and ".join(f"gs://{p.bucket}/{name}/ (target {p.target})" for p in hits)
        choices = " or ".join(f"--target {p.target}" for p in hits)
        raise UsageError(f"{name!r} is in {both}", hint=f"say which: {choices}")
    text = f"no job named {name!r}: looked in " + ", ".join(looked + notes)
    hint = "a cloud job elsewhere: pass --target T (with --spec FILE), or --bucket BUCKET"
    raise (CloudError if failed else UsageError)(text, hint=hint)


def cancel_local(name: str, root: Path, outcomes: list[dict[str, Any]] | None = None) -> int:
    """Stop a local run (or every running member of a local sweep) as Ctrl-C would: SIGTERM to
    the jobspec process that runs it, which stops its trainer processes and records the end.
    OUTCOMES receives what became of each member (`cancel --json`)."""
    import json

    from jobspec.output import current
    from jobspec.records import StateDir

    info = current().info

    layout = StateDir(root)
    records = layout.records()
    group = layout.group_file(name)
    members = [name]
    if not records.runs(name):
        if not group.is_file():
            records.latest(name)  # raises: no local runs of NAME, and the names there are
        members = [str(m) for m in json.loads(group.read_text(encoding="utf-8"))["members"]]
    signalled: set[int] = set()
    for member in members:
        runs = records.runs(member)
        status: dict[str, Any] = runs[-1].status() if runs else {"state": "not run"}
        pid = status.get("pid")
        if status.get("state") != "running" or not isinstance(pid, int) or not _is_jobspec(pid):
            state = "lost" if status.get("state") == "running" else status.get("state")
            info(f"{member} is not running (local run, {state}); nothing to cancel")
            _outcome(outcomes, member, "not running", state=state)
            continue
        if pid in signalled:  # members of a sweep share one jobspec process
            _outcome(outcomes, member, "cancel requested", pid=pid)
            continue
        signalled.add(pid)
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            info(f"{member} ended meanwhile; nothing to cancel")
            _outcome(outcomes, member, "ended meanwhile")
            continue
        info(f"cancel requested for {member} (local run, jobspec process {pid})")
        _outcome(outcomes, member, "cancel requested", pid=pid)
    return 0


def _outcome(outcomes: list[dict[str, Any]] | None, name: str, result: str,
             **more: Any) -> None:
    if outcomes is not None:
        outcomes.append({"name": name, "result": result, **more})


def _is_jobspec(pid: int) -> bool:
    """The recorded pid still belongs to a jobspec process (pids are reused)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:  # no /proc here: trust that it is alive
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return b"jobspec" in cmdline


