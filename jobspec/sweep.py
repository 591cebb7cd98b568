"""Matrix sweeps on this machine: members one after another, or N at a time, and the group
record that lets `jobspec status GROUP --target local` show them all."""

from __future__ import annotations

import contextlib
import json
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, JobspecError, UsageError
from jobspec.output import current, in_context
from jobspec.plan import LocalPlan
from jobspec.records import StateDir, is_job_name, read_record, utc_now

if TYPE_CHECKING:
    from jobspec.local import Interrupt


def _group_file(root: Path, group: str) -> Path:
    return StateDir(root).group_file(group)


def run_local_group(group: str, plans: list[LocalPlan], *, parallel: int = 1) -> int:
    """Run every member; Ctrl-C or SIGTERM stops the running ones (each recorded as
    interrupted) and starts no other: exit 130."""
    from jobspec.local import install_sigterm

    if parallel > 1 and any(len(p.processes) > 1 for p in plans):
        raise UsageError("--parallel cannot run distributed members at once: their ports "
                         "would collide", hint="drop --parallel, or the distributed block")
    root = Path(plans[0].project_root)
    path = _group_file(root, group)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"group": group, "members": [p.name for p in plans],
                                "created": utc_now()}, indent=2) + "\n", encoding="utf-8")
    restore = install_sigterm()
    try:
        codes = _in_parallel(plans, parallel) if parallel > 1 else _one_by_one(plans)
    finally:
        restore()
    not_started = [p.name for p, c in zip(plans, codes, strict=True) if c is None]
    if not_started:
        _say(f"not started: {', '.join(not_started)}")
    failed = [p.name for p, c in zip(plans, codes, strict=True) if c not in (EXIT_OK, None)]
    if EXIT_INTERRUPTED in codes or not_started:
        return EXIT_INTERRUPTED
    if failed:
        _say(f"{len(failed)} of {len(plans)} runs of {group} failed: {', '.join(failed)}")
        return EXIT_JOB_FAILED
    return EXIT_OK


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # a terminal that has gone away must not stop the stop
        current().info(message)


def _member(plan: LocalPlan, *, label: bool, interrupt: Interrupt | None = None) -> int | None:
    """Run one member: its exit code, or None when the sweep was interrupted before it."""
    from jobspec.local import execute

    if interrupt is not None and interrupt.requested.is_set():
        return None
    _say(f"{plan.name}: starting")
    try:
        code = execute(plan, label=plan.name if label else None, interrupt=interrupt)
    except JobspecError as exc:
        from jobspec.secrets import mask

        current().failure(exc, mask)
        code = exc.exit_code
    outcome = {EXIT_OK: "succeeded", EXIT_INTERRUPTED: "interrupted"}.get(code, f"exit {code}")
    _say(f"{plan.name}: {outcome}")
    return code


def _one_by_one(plans: list[LocalPlan]) -> list[int | None]:
    from jobspec.local import Stop

    codes: list[int | None] = [None] * len(plans)
    try:
        for index, plan in enumerate(plans):
            codes[index] = _member(plan, label=False)
            if codes[index] == EXIT_INTERRUPTED:
                break
    except (KeyboardInterrupt, Stop):  # between two runs: nothing of theirs is running
        _say("interrupted")
    return codes


def _in_parallel(plans: list[LocalPlan], parallel: int) -> list[int | None]:
    """The members in worker threads; the main thread only waits, and on an interrupt tells
    them to stop (again: to kill at once), then waits for them to be stopped."""
    from jobspec.local import Interrupt, Stop

    interrupt = Interrupt()
    pool = ThreadPoolExecutor(max_workers=parallel)
    futures: list[Future[int | None]] = []
    try:
        while True:
            try:
                while len(futures) < len(plans):
                    futures.append(pool.submit(in_context(_member), plans[len(futures)],
                                               label=True, interrupt=interrupt))
                while wait(futures, timeout=0.1).not_done:
                    pass
                break
            except (KeyboardInterrupt, Stop):
                if interrupt.again():
                    _say("interrupted; stopping every run of the group (interrupt again to "
                         "kill them at once)")
    finally:
        interrupt.requested.set()  # whatever happened: no member starts after this
        pool.shutdown(wait=True)
    return [f.result() for f in futures] + [None] * (len(plans) - len(futures))


def group_status(root: Path, group: str, *, as_json: bool) -> str | None:
    """The members' latest states, or None when GROUP is not a local group."""
    path = _group_file(root, group)
    if not path.is_file():
        return None
    try:
        record = read_record(path)
        members = [m for m in record["members"] if isinstance(m, str) and is_job_name(m)]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise UsageError(f"{path}: not a group record jobspec wrote: "
                         f"{exc.strerror if isinstance(exc, OSError) else exc}") from None
    records = StateDir(root).records()
    rows: list[dict[str, Any]] = []
    for member in members:
        runs = records.runs(member)
        status = runs[-1].status() if runs else {"state": "not run"}
        rows.append({"name": member, "state": status.get("state"),
                     "exit_code": status.get("exit_code"), "start": status.get("start")})
    if as_json:
        return json.dumps({"group": group, "members": rows}, indent=2)
    lines = [f"group {group}: {len(rows)} runs"]
    lines += current().table([(r["name"], str(r["state"]), r["start"] or "-") for r in rows],
                             ("NAME", "STATE", "STARTED"), indent="  ")
    return "\n".join(lines)
