"""Run a LocalPlan's processes: start them, stream their output, stop them all.

Each task runs under its own supervisor (_supervise.py), in its own session: the supervisor is
a child subreaper, so whatever the trainer starts, even a `setsid` daemon, stays its
descendant, and it stops them all when asked, when the trainer has ended and jobspec says so,
or when jobspec dies (its parent-death signal), even by SIGKILL.
"""

from __future__ import annotations

import codecs
import collections
import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from jobspec.errors import UsageError
from jobspec.interrupts import Interrupt, Stop
from jobspec.output import current
from jobspec.plandata import LocalPlan, Process
from jobspec.records import Run
from jobspec.render import plan_secrets

GRACE_SECONDS = 5.0  # SIGTERM, then SIGKILL
TAIL_LINES = 20
MAX_LINE = 64 * 1024  # characters: a longer line is cut, so output is read in bounded memory
_COLORS = (36, 33, 35, 32, 34, 31, 96, 93, 95, 92)
_PR_SET_PDEATHSIG = 1
_SUPERVISOR = str(Path(__file__).with_name("_supervise.py"))
_LINE_END = re.compile(r"\r\n|\r|\n")


def _death_signal_setup() -> Callable[[], None]:
    """A preexec_fn that gives the supervisor SIGUSR1 when jobspec dies: it then kills every
    process of its task at once.

    libc is loaded here, in the parent: between fork and exec the child of a threaded process
    may only do async-signal-safe work, and dlopen() is not.
    """
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", lambda *args: 0)  # Linux's
    parent = os.getpid()

    def setup() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGUSR1, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return setup


class _Task:
    def __init__(self, proc: Process, index: int) -> None:
        self.proc = proc
        self.index = index  # in the plan: colours and TF_CONFIG order
        self.label = proc.task
        self.argv0 = proc.argv[0]
        self.popen: subprocess.Popen[bytes] | None = None  # the supervisor
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)
        self.readers: list[threading.Thread] = []
        self.started = threading.Event()  # the trainer runs, or could not start
        self.done = threading.Event()  # the supervisor, and so everything of the task, ended
        self.code: int | None = None  # the trainer's return code (negative: a signal)
        self.error: str | None = None  # why the trainer could not start
        self.left: list[str] = []  # "PID NAME" of processes it left, stopped by jobspec

    @property
    def is_ps(self) -> bool:
        return self.label.startswith("ps-")


class Runner:
    """Starts the plan's processes, streams their output, stops them all on the way out."""

    def __init__(self, plan: LocalPlan, run: Run, *, python: str | None = None,
                 cwd: str | None = None, out: IO[str] | None = None,
                 err: IO[str] | None = None, label: str | None = None,
                 interrupt: Interrupt | None = None) -> None:
        self.plan = plan
        self.label = label  # a matrix member's name, when several run at once
        self.run = run
        self.python = python
        self.cwd = cwd
        # under --json stdout carries the outcome only: the trainer's own output goes to stderr
        self.out = out or (sys.stderr if current().as_json else sys.stdout)
        self.err = err or sys.stderr
        self.interrupt = interrupt
        self.tasks = [_Task(proc, i) for i, proc in enumerate(plan.processes)]
        self.lock = threading.Lock()
        self.changed = threading.Event()  # a trainer ended or failed to start
        self.stopped: str | None = None  # what stop() stopped, once it has run
        self.log = run.open_log()
        self.log_open = True
        self.secrets = plan_secrets(plan)
        self.prefixed = len(plan.processes) > 1
        # from the plan, not from the tasks started so far: the first lines are aligned too
        self.width = max(len(p.task) for p in plan.processes)
        self.color = current().colors(self.out)  # jobspec's one colour decision

    def _emit(self, task: _Task, line: str, stream: IO[str], *, prefixed: bool = True) -> None:
        prefix = f"{task.label:<{self.width}} | " if self.prefixed else ""
        if self.label:
            prefix = f"{self.label}/{prefix}" if prefix else f"{self.label} | "
        if not prefixed:
            prefix = ""
        with self.lock:
            if not self.log_open:
                return  # a process that escaped stopping still writes: the run is over
            self.log.write(prefix + line)
            if self.color and prefix:
                color = _COLORS[task.index % len(_COLORS)]
                prefix = f"\x1b[{color}m{prefix}\x1b[0m"
            try:
                stream.write(prefix + line)
                stream.flush()
            except BrokenPipeError:  # `jobspec run | head`: the run goes on, into its log
                _silence(stream)

    def _reader(self, task: _Task, pipe: IO[bytes], stream: IO[str], is_err: bool) -> None:
        """Emit each line, each `\r` progress update as it comes, and a line longer than
        MAX_LINE in pieces: memory stays bounded whatever the trainer prints."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        held = ""  # text after the last line end
        after_cr = False  # the last piece ended a chunk with "\r": a "\n" may complete it

        def emit(piece: str, *, prefixed: bool = True) -> None:
            piece = self.secrets.mask(piece)  # before it goes anywhere: stream, log, tail
            if is_err and piece.endswith("\n"):
                task.stderr_tail.append(piece)
            self._emit(task, piece, stream, prefixed=prefixed)

        fd = pipe.fileno()
        while True:
            try:
                data = os.read(fd, 65536)
            except OSError:
                data = b""
            text = decoder.decode(data, final=not data)
            if after_cr and text.startswith("\n"):
                emit("\n", prefixed=False)  # the second half of a "\r\n" cut in two
                text = text[1:]
            after_cr = False
            held += text
            start = 0
            for match in _LINE_END.finditer(held):
                emit(held[start:match.end()])
                start = match.end()
                after_cr = match.group() == "\r" and start == len(held)
            held = held[start:]
            while len(held) >= MAX_LINE:
                emit(held[:MAX_LINE] + "\n")
                held = held[MAX_LINE:]
            if not data:
                if held:
                    emit(held + "\n")
                break
        pipe.close()

    def _control(self, task: _Task, fd: int) -> None:
        """Read the supervisor's reports (see _supervise.py) until it ends."""
        with open(fd, "rb") as reports:
            for raw in reports:
                kind, _, rest = raw.decode("utf-8", "replace").rstrip("\n").partition(" ")
                if kind == "started":
                    task.started.set()
                elif kind == "error":
                    task.error = rest
                elif kind == "exit":
                    task.code = os.waitstatus_to_exitcode(int(rest))
                elif kind == "left":
                    task.left.append(rest)
                self.changed.set()
        assert task.popen is not None
        code = task.popen.wait()  # the pipe's EOF: the supervisor has ended
        if task.code is None and task.error is None:
            task.code = code  # it died without a word (SIGKILL): the trainer died with it
        task.started.set()
        task.done.set()
        self.changed.set()

    def _spawn(self, task: _Task, setup: Callable[[], None]) -> None:
        proc = task.proc
        argv = list(proc.argv)
        if self.python:
            argv[0] = self.python
        task.argv0 = argv[0]
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
        lc_ctype = env.get("LC_CTYPE")
        reports, writer = os.pipe()
        try:
            task.popen = subprocess.Popen(
                [sys.executable, "-I", "-S", _SUPERVISOR, str(os.getpid()), str(writer),
                 str(GRACE_SECONDS), "-" if lc_ctype is None else f"={lc_ctype}", *argv],
                cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True, preexec_fn=setup,
                pass_fds=(writer,))
        except OSError as exc:
            os.close(reports)
            raise UsageError(f"cannot start {proc.task}: {exc.filename or argv[0]}: "
                             f"{exc.strerror}") from None
        finally:
            os.close(writer)
        threads = [threading.Thread(target=self._control, args=(task, reports), daemon=True)]
        for pipe, stream, is_err in ((task.popen.stdout, self.out, False),
                                     (task.popen.stderr, self.err, True)):
            assert pipe is not None
            reader = threading.Thread(target=self._reader, args=(task, pipe, stream, is_err),
                                      daemon=True)
            task.readers.append(reader)
            threads.append(reader)
        for thread in threads:
            thread.start()

    def start(self) -> None:
        """Start every task, the chief last, as gcloud does: a chief that ends at once must
        not end the run before the others have started."""
        setup = _death_signal_setup()
        chief, others = self.tasks[0], self.tasks[1:]
        for task in others:
            self._spawn(task, setup)
        for task in others:
            while not task.started.wait(0.1):
                self._check_interrupt()
            self._check_started(task)
        self._spawn(chief, setup)

    def _check_started(self, task: _Task) -> None:
        if task.error is not None:
            raise UsageError(f"cannot start {task.label}: {task.argv0}: {task.error}")

    def _check_interrupt(self) -> None:
        if self.interrupt is not None and self.interrupt.requested.is_set():
            raise Stop()

    def wait(self) -> tuple[_Task, int]:
        """Follow the chief; a non-chief that fails first fails the run."""
        chief = self.tasks[0]
        while True:
            self.changed.clear()
            for task in self.tasks:
                self._check_started(task)
            if chief.code is not None:
                return chief, chief.code
            for task in self.tasks[1:]:
                if task.code is not None and task.code != 0:
                    return task, task.code
            self._check_interrupt()
            # an event, not a sleep: the run ends within ~1 ms of the chief's exit
            self.changed.wait(0.1)

    def stop(self, *, linger: float = 0.0) -> str:
        """Stop every task still running, and whatever ended tasks left running; what was
        stopped, in words for the user ("" if nothing; later calls return "").

        First `linger` seconds for them to end by themselves (parameter servers never do:
        they are stopped at once); then SIGTERM, and SIGKILL after the grace period, or at
        once when the user interrupts again while waiting."""
        if self.stopped is not None:
            return ""
        self.stopped = ""
        alive = [t for t in self.tasks if t.popen is not None and not t.done.is_set()]
        running = {t.label for t in alive if t.code is None}
        if linger > 0:
            for task in alive:
                if task.is_ps:
                    self._tell(task, signal.SIGTERM)
            self._wait_done(alive, time.monotonic() + linger)
        alive = [t for t in alive if not t.done.is_set()]
        for task in alive:
            self._tell(task, signal.SIGTERM)
        # the supervisors give SIGKILL after GRACE_SECONDS themselves; this is the fallback
        if not self._wait_done(alive, time.monotonic() + GRACE_SECONDS + 2, hurry=True):
            for task in alive:
                if task.popen is not None:
                    _signal_group(task.popen, signal.SIGKILL)
            self._wait_done(alive, time.monotonic() + 2)
        for task in self.tasks:
            for reader in task.readers:
                reader.join(timeout=2)  # a daemon that escaped may hold the pipe forever
        tasks = [t.label for t in self.tasks if t.label in running and not t.is_ps]
        tasks += [t.label for t in self.tasks if t.label in running and t.is_ps]
        single = len(self.tasks) == 1
        leftovers = [f"{name} (pid {pid}{'' if single else f', left by {t.label}'})"
                     for t in self.tasks if t.label not in running
                     for pid, _, name in (entry.partition(" ") for entry in t.left)]
        words = ", ".join(tasks)
        if leftovers:
            what = "what it left running" if single else "what was left running"
            words += f"{' and ' if words else ''}{what}: {', '.join(leftovers)}"
        self.stopped = words
        return words

    def _tell(self, task: _Task, sig: int) -> None:
        if task.popen is not None and task.popen.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(task.popen.pid, sig)

    def _wait_done(self, tasks: Sequence[_Task], deadline: float, *, hurry: bool = False
                   ) -> bool:
        """Wait until every task's supervisor has ended, or the deadline; True if they all
        have. An interrupt meanwhile ends a linger, or with `hurry` makes them kill at once."""
        hurried = False
        for task in tasks:
            while not task.done.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                try:
                    task.done.wait(min(left, 0.1))
                    asked = self.interrupt is not None and self.interrupt.hurry.is_set()
                except (KeyboardInterrupt, Stop):
                    asked = True
                if asked and not hurry:
                    return False
                if asked and not hurried:
                    hurried = True
                    for each in tasks:
                        self._tell(each, signal.SIGUSR1)
        return True

    def close(self) -> None:
        with self.lock:
            self.log_open = False
            self.log.close()


def _silence(stream: IO[str]) -> None:
    """Point a stream whose reader is gone at /dev/null: what is still buffered, and all that
    follows, goes nowhere, without an error now or when Python flushes it at exit."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)


def _signal_group(popen: subprocess.Popen[bytes], sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(popen.pid, sig)

