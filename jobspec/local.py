"""Execute a LocalPlan: the run lock, port checks, the run record, isolated preparation, and
the outcome; jobspec.runner runs the processes, jobspec.interrupts turns signals into Stop.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from jobspec.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    JobFailed,
    JobspecError,
    UsageError,
)
from jobspec.interrupts import Interrupt, Stop, install_sigterm
from jobspec.output import current
from jobspec.plandata import LocalPlan, Process
from jobspec.records import Records, Run, StateDir, utc_now
from jobspec.render import plan_json, plan_secrets
from jobspec.runner import Runner, _Task

__all__ = ["LINGER_SECONDS", "Interrupt", "Stop", "check_ports", "describe_exit", "execute",
           "install_sigterm"]

# `docker run` / `podman run` exit codes of their own, not the container's: docker's commit
# "Change 'docker run' exit codes to distinguish docker/contained errors" (41de7a1, 2015) and
# https://docs.docker.com/engine/reference/run/#exit-status, read 2026-11-27
RUNTIME_CODES = {125: "the container runtime failed: see its message above",
                 126: "the container's command could not be invoked",
                 127: "the container's command was not found"}
LINGER_SECONDS = 2.0  # after the chief ends, for the other tasks and leftovers to end by themselves


def check_ports(processes: Sequence[Process]) -> None:
    for proc in processes:
        port = _port_of(proc)
        if port is None:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            # SO_REUSEADDR: a port left in TIME_WAIT by a previous run is free for the trainer's
            # servers (which set it too); only a socket bound without it, or listening, counts.
            # The wildcard address: a listener on any local address takes the port.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind(("", port))
            except OSError:
                raise UsageError(
                    f"port {port} for {proc.task} is already in use",
                    hint="set targets.<local>.distributed.start_port to a free range, or stop "
                    "whatever holds it",
                ) from None


def _port_of(proc: Process) -> int | None:
    import json

    config = json.loads(proc.env.get("TF_CONFIG", "{}"))
    task = config.get("task") or {}
    cluster = config.get("cluster") or {}
    hosts = cluster.get(task.get("type"), [])
    index = task.get("index", 0)
    if index < len(hosts):
        return int(hosts[index].rsplit(":", 1)[1])
    return None


def describe_exit(task: str, code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{task} was killed by {name}"
    return f"{task} exited with code {code}"


def execute(plan: LocalPlan, *, records: Records | None = None, label: str | None = None,
            interrupt: Interrupt | None = None) -> int:
    """Run the plan; the exit code, which its run record holds too (`jobspec_exit`)."""
    from jobspec.runlock import RunLock

    records = records or StateDir(Path(plan.project_root)).records()
    lock = RunLock(plan)
    lock.acquire()
    try:
        check_ports(plan.processes)
        return _execute(plan, records, lock, label, interrupt)
    finally:
        lock.release()


def _execute(plan: LocalPlan, records: Records, lock: Any, label: str | None,
             interrupt: Interrupt | None) -> int:
    restore = install_sigterm()
    run: Run | None = None
    runner: Runner | None = None
    state, code = "failed", EXIT_JOB_FAILED  # what a bug (a traceback) ends with
    ended: tuple[_Task, int] | None = None  # the task whose exit decided the run
    try:
        try:
            run = records.start(plan.name, plan_json(plan))
        except OSError as exc:
            raise UsageError(f"cannot record the run under {records.root}: "
                             f"{exc.strerror}") from None
        lock.note(str(run.folder))
        running = plan  # as it runs: an isolated plan gets its venv and empty folder here
        if plan.isolated:
            from jobspec.isolated import prepare

            running = prepare(plan, run)
        elif plan.container:
            from jobspec.container import stage

            stage(plan)  # the file the container mounts at its /gcs/ path
        runner = Runner(running, run, label=label, interrupt=interrupt)
        if interrupt is not None and interrupt.requested.is_set():
            raise Stop()
        runner.start()
        ended = runner.wait()
        task, exit_code = ended
        single = len(plan.processes) == 1
        who = ("container" if plan.container else "trainer") if single else task.label
        # after a successful chief, the others may still be finishing: give them a moment
        stopped = runner.stop(linger=LINGER_SECONDS if exit_code == 0 and task.index == 0
                              else 0.0)
        if stopped:
            why = (f"{'the ' if single else ''}{who} ended" if task.index == 0 else
                   f"{task.label} failed")
            _say(f"{_member(label)}{why}; stopped {stopped}")
        if exit_code == 0:
            state, code = "succeeded", EXIT_OK
            return EXIT_OK
        tail = "".join(task.stderr_tail)
        message = describe_exit(who, exit_code)
        if plan.container and exit_code in RUNTIME_CODES:
            message += f" ({RUNTIME_CODES[exit_code]})"
        raise JobFailed(plan_secrets(plan).mask(
            message + (f"; last lines of its stderr:\n{tail.rstrip()}" if tail else "")))
    except JobspecError as exc:
        code = exc.exit_code
        raise
    except (KeyboardInterrupt, Stop):
        ended = None
        state, code = "interrupted", EXIT_INTERRUPTED
        if interrupt is None:  # a sweep says it once, for all of its runs
            _say("interrupted; stopping every process of the run (interrupt again to kill "
                 "them at once)")
        if runner is not None:
            if plan.container:  # the runtime's client may go while its container runs on
                from jobspec.container import container_name, stop

                if stop(plan):
                    _say(f"{_member(label)}stopped container {container_name(plan)}")
            runner.stop()
        return EXIT_INTERRUPTED
    finally:
        if runner is not None:
            runner.stop()
            runner.close()
        restore()  # only now: a SIGTERM while stopping must not kill jobspec mid-way
        if run is not None:
            fields: dict[str, Any] = {"exit_code": _trainer_code(runner)}
            if ended is not None:
                fields = {"exit_code": ended[1]}
                if len(plan.processes) > 1:
                    fields["task"] = ended[0].label
            run.set_status(state=state, end=utc_now(), jobspec_exit=code, **fields)


def _say(message: str) -> None:
    with contextlib.suppress(OSError):  # a terminal that has gone away must not stop the stop
        current().info(message)


def _member(label: str | None) -> str:
    return f"{label}: " if label else ""


def _trainer_code(runner: Runner | None) -> int | None:
    if runner is None or not runner.tasks:
        return None
    return runner.tasks[0].code
