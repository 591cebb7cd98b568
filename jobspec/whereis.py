"""Where a job is, when `status`, `logs` or `cancel` get a NAME and no --target: this project's
local records first, then the buckets of the cloud targets of the project's spec(s). Every
place looked in is named when the job is in none of them. Also: the follow-up commands jobspec
prints, spelled so that they find the job when typed verbatim in the same folder."""

from __future__ import annotations

import os
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jobspec.errors import CloudError, JobspecError, UsageError


@dataclass(frozen=True)
class Place:
    """A bucket where cloud jobs of this project are claimed, and the target that names it."""

    bucket: str
    target: str
    spec: Path


@dataclass(frozen=True)
class Found:
    kind: str  # "local" or "cloud"
    place: Place | None = None


def project_root(spec: str | None) -> Path:
    from jobspec.project import find_root

    start = Path(spec).parent if spec else Path.cwd()
    return find_root(start) or Path.cwd()


def _shown(path: Path) -> str:
    from jobspec.diagnostics import display_path

    return display_path(str(path))


def _local(name: str, root: Path) -> bool:
    from jobspec.records import Records

    state = root / ".jobspec"
    return bool(Records(state / "runs").runs(name)) or (state / "groups" / f"{name}.json"
                                                        ).is_file()


def _specs(spec: str | None) -> tuple[list[Path], list[str]]:
    """The spec files whose cloud targets say where to look: --spec, and the default spec."""
    from jobspec.project import default_spec

    paths = [Path(spec)] if spec else []
    try:
        default = default_spec(Path.cwd())
    except JobspecError:
        return paths, ([] if paths else ["no spec to read cloud buckets from (no SPEC, no "
                                         "[tool.jobspec] default-spec, no ./jobspec.yaml)"])
    if not paths or default.resolve() != paths[0].resolve():
        paths.append(default)
    return paths, []


def cloud_places(spec: str | None) -> tuple[list[Place], list[str]]:
    """Buckets of the cloud targets of the spec(s), and why a spec gave none."""
    from jobspec.loader import load

    paths, notes = _specs(spec)
    places: dict[str, Place] = {}
    for path in paths:
        try:
            loaded = load(path)
        except JobspecError as exc:
            first = exc.render().splitlines()[0] if exc.render() else type(exc).__name__
            notes.append(f"{_shown(path)} could not be read ({first})")
            continue
        clouds = [(n, t) for n, t in loaded.spec.targets.items() if t.kind == "cloud"]
        if not clouds:
            notes.append(f"{_shown(path)} has no cloud target")
        for target, body in clouds:
            places.setdefault(str(body.bucket), Place(str(body.bucket), target, path))
    return list(places.values()), notes


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
    if _local(name, root):
        return Found("local")
    state = _shown(root / ".jobspec")
    looked = [f"{state}/runs/ (no run named {name})", f"{state}/groups/ (no group named {name})"]
    places, notes = cloud_places(spec)
    hits: list[Place] = []
    failed = False
    for place in places:
        where = f"gs://{place.bucket}/{name}/ (target {place.target} of {_shown(place.spec)})"
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

    from jobspec.cloud.follow import info
    from jobspec.records import Records

    records = Records(root / ".jobspec" / "runs")
    group = root / ".jobspec" / "groups" / f"{name}.json"
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


def followup(verb: str, name: str, bucket: str, *more: str) -> str:
    """`jobspec VERB NAME ...` for a cloud job in BUCKET, as it must be typed here to find it:
    plain when the search without --target lands on it (no local run of that name, and BUCKET
    is a cloud target's bucket of this folder's default spec), else with --bucket."""
    words = ["jobspec", verb, name, *more]
    try:
        plain = not _local(name, project_root(None)) and any(
            p.bucket == bucket for p in cloud_places(None)[0])
    except JobspecError:
        plain = False
    if not plain:
        words += ["--bucket", bucket]
    return shlex.join(words)
