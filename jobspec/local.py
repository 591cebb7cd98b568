"""Execute a LocalPlan: processes, output, records, signals.

Children get PR_SET_PDEATHSIG, so they die with jobspec even when jobspec itself is killed
with SIGKILL, and each runs in its own process group, so stopping one stops its descendants.
"""

from __future__ import annotations

import collections
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, Any

from jobspec.errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, JobFailed, UsageError
from jobspec.plan import LocalPlan, Process
from jobspec.records import Records, Run, utc_now
from jobspec.render import plan_json, scrub, secret_values

GRACE_SECONDS = 5.0
TAIL_LINES = 20
_COLORS = (36, 33, 35, 32, 34, 31, 96, 93, 95, 92)
_PR_SET_PDEATHSIG = 1


class _Stop(Exception):
    """SIGTERM, turned into an exception in the main thread like SIGINT's KeyboardInterrupt."""


def _death_signal_setup() -> Callable[[], None] | None:
    """A preexec_fn that makes the child die with its parent (Linux), or None elsewhere.

    libc is loaded here, in the parent: between fork and exec the child of a threaded process
    may only do async-signal-safe work, and dlopen() is not.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return setup


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


class _Task:
    def __init__(self, proc: Process, popen: subprocess.Popen[bytes], label: str) -> None:
        self.proc = proc
        self.popen = popen
        self.label = label
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.readers: list[threading.Thread] = []


class Runner:
    """Starts the plan's processes, streams their output, stops them all on the way out."""

    def __init__(self, plan: LocalPlan, run: Run, *, python: str | None = None,
                 cwd: str | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None, label: str | None = None) -> None:
        self.plan = plan
        self.label = label  # a matrix member's name, when several run at once
        self.run = run
        self.python = python
        self.cwd = cwd
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.tasks: list[_Task] = []
        self.lock = threading.Lock()
        self.log = run.open_log()
        self.secrets = secret_values(self._all_env(), plan.secrets)
        self.prefixed = len(plan.processes) > 1
        # from the plan, not from the tasks started so far: the first lines are aligned too
        self.width = max(len(p.task) for p in plan.processes)
        self.color = self.out.isatty() and os.environ.get("NO_COLOR") is None

    def _all_env(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for proc in self.plan.processes:
            merged.update(proc.env)
        return merged

    def _emit(self, task: _Task, line: str, stream: IO[str]) -> None:
        line = scrub(line, self.secrets) if self.secrets else line
        prefix = f"{task.label:<{self.width}} | " if self.prefixed else ""
        if self.label:
            prefix = f"{self.label}/{prefix}" if prefix else f"{self.label} | "
        with self.lock:
            self.log.write(prefix + line)
            if self.color and prefix:
                color = _COLORS[self.tasks.index(task) % len(_COLORS)]
                prefix = f"\x1b[{color}m{prefix}\x1b[0m"
            stream.write(prefix + line)
            stream.flush()

    def _reader(self, task: _Task, pipe: IO[bytes], stream: IO[str], is_err: bool) -> None:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace")
            if not line.endswith("\n"):
                line += "\n"
            if is_err:
                task.stderr_tail.append(line)
            self._emit(task, line, stream)
        pipe.close()

    def start(self) -> None:
        setup = _death_signal_setup()
        for proc in self.plan.processes:
            argv = list(proc.argv)
            if self.python:
                argv[0] = self.python
            cwd = self.cwd or proc.cwd
            env = {**os.environ, **proc.env}
            for key in [k for k in env if k.startswith("CLOUDSDK_")]:
                del env[key]  # gcloud leaks these into trainers; the cloud never has them
            if self.plan.isolated and "PYTHONPATH" not in proc.env:
                env.pop("PYTHONPATH", None)  # it would put a source tree before the sdist
            # The trainer writes to a pipe, where Python would buffer its output in blocks:
            # unbuffered, it streams line by line as on a terminal (the user may still say no).
            env.setdefault("PYTHONUNBUFFERED", "1")
            if cwd:
                env["PWD"] = cwd  # as a shell (and gcloud) would: not jobspec's own folder
            try:
                popen = subprocess.Popen(
                    argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
                    preexec_fn=setup)
            except OSError as exc:
                self.stop()
                raise UsageError(f"cannot start {proc.task}: {argv[0]}: {exc.strerror}") from None
            task = _Task(proc, popen, proc.task)
            self.tasks.append(task)
            for pipe, stream, is_err in ((popen.stdout, self.out, False),
                                         (popen.stderr, self.err, True)):
                assert pipe is not None
                reader = threading.Thread(target=self._reader, args=(task, pipe, stream, is_err),
                                          daemon=True)
                reader.start()
                task.readers.append(reader)

    def wait(self) -> tuple[_Task, int]:
        """Follow the chief; a non-chief that fails first fails the run."""
        chief = self.tasks[0]
        while True:
            # waiting on the chief, not sleeping: the run ends within ~1 ms of its exit, not up
            # to 20 ms later (a tenth of a trivial trainer's whole run; bench/README.md)
            with contextlib.suppress(subprocess.TimeoutExpired):
                return chief, chief.popen.wait(timeout=0.02)
            for task in self.tasks[1:]:
                other = task.popen.poll()
                if other is not None and other != 0:
                    return task, other

    def stop(self) -> None:
        """SIGTERM every process group still alive, then SIGKILL after the grace period, or at
        once when the user interrupts again while waiting."""
        alive = [t for t in self.tasks if t.popen.poll() is None]
        try:
            for task in alive:
                _signal_group(task.popen, signal.SIGTERM)
            deadline = time.monotonic() + GRACE_SECONDS
            for task in alive:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    task.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except (KeyboardInterrupt, _Stop):
            pass  # asked twice: no more grace
        for task in self.tasks:
            _signal_group(task.popen, signal.SIGKILL)  # the late, and stray grandchildren
        for task in self.tasks:
            task.popen.wait()
            for reader in task.readers:
                reader.join(timeout=2)

    def close(self) -> None:
        self.log.close()


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)


def describe_exit(task: str, code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"{task} was killed by {name}"
    return f"{task} exited with code {code}"


def _install_sigterm() -> Callable[[], None]:
    def handler(signum: int, frame: Any) -> None:
        raise _Stop()

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, handler)

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous)

    return restore


def execute(plan: LocalPlan, *, records: Records | None = None, label: str | None = None) -> int:
    records = records or Records(Path(plan.project_root) / ".jobspec" / "runs")
    check_ports(plan.processes)
    run = records.start(plan.name, plan_json(plan))
    python, cwd = None, None
    restore = _install_sigterm()
    runner: Runner | None = None
    state, code = "failed", EXIT_JOB_FAILED
    ended: tuple[_Task, int] | None = None  # the task whose exit decided the run
    try:
        if plan.isolated:
            from jobspec.isolated import prepare

            python, cwd = prepare(plan, run)
        runner = Runner(plan, run, python=python, cwd=cwd, label=label)
        runner.start()
        ended = runner.wait()
        task, exit_code = ended
        runner.stop()
        if exit_code == 0:
            state, code = "succeeded", EXIT_OK
            return EXIT_OK
        tail = "".join(task.stderr_tail)
        who = "trainer" if len(plan.processes) == 1 else task.label
        message = describe_exit(who, exit_code)
        raise JobFailed(message + (f"; last lines of its stderr:\n{tail.rstrip()}" if tail else ""))
    except (KeyboardInterrupt, _Stop):
        ended = None
        state, code = "interrupted", EXIT_INTERRUPTED
        print("jobspec: interrupted; stopping every process of the run (interrupt again to "
              "kill them at once)", file=sys.stderr, flush=True)
        if runner is not None:
            runner.stop()
        return EXIT_INTERRUPTED
    finally:
        if runner is not None:
            runner.stop()
            runner.close()
        restore()  # only now: a SIGTERM while stopping must not kill jobspec mid-way
        fields: dict[str, Any] = {"exit_code": _trainer_code(runner)}
        if ended is not None:
            fields = {"exit_code": ended[1]}
            if len(plan.processes) > 1:
                fields["task"] = ended[0].label
        run.set_status(state=state, end=utc_now(), jobspec_exit=code, **fields)


def _trainer_code(runner: Runner | None) -> int | None:
    if runner is None or not runner.tasks:
        return None
    return runner.tasks[0].popen.returncode
