"""The parent of one trainer process, so that nothing the trainer starts outlives the run.

jobspec.runner runs it as a script (`python -I -S _supervise.py PARENT CTL GRACE LC ARGV...`),
one per task; it imports only the standard library and nothing of jobspec. It
- becomes a child subreaper (PR_SET_CHILD_SUBREAPER), so every process the trainer leaves
  behind (a `setsid` daemon, a double-forked helper) is reparented to it, not to init;
- starts the trainer with PR_SET_PDEATHSIG=SIGKILL, so the trainer dies with it;
- reports on file descriptor CTL, one line each: `started PID`, `error STRERROR` (the trainer
  could not be started), `exit STATUS` (the trainer's raw wait status, as soon as it ends),
  `left PID NAME` (a process the trainer left running, stopped on request);
- after the trainer ends, stays as long as any process the trainer started is alive, and
  exits once none is;
- on SIGTERM stops every descendant: SIGTERM, then SIGKILL after GRACE seconds (at once on
  a later SIGUSR1). SIGUSR1 is also its own parent-death signal: when jobspec dies, even by
  SIGKILL, every descendant is killed at once, including those in other sessions.

What it cannot stop: a process that leaves the tree through another service (systemd-run,
at, a container daemon), and descendants of this supervisor if the supervisor itself is
killed with SIGKILL (the trainer still dies then, through its own death signal).
"""

from __future__ import annotations

import _signal as signal  # not `signal`: its enums cost this short-lived process ~4 ms
import ctypes
import os
import sys
import time

TYPE_CHECKING = False  # typing itself would cost an import
if TYPE_CHECKING:
    from collections.abc import Callable

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36

_trainer = 0
_ctl = -1
_grace = 5.0
_reported = False
_stopping = False
_left: dict[int, str] = {}


def _say(text: str) -> None:
    try:
        os.write(_ctl, (text + "\n").encode("utf-8", "replace"))
    except OSError:
        return  # jobspec is gone: keep going, the work is the same


def _reap() -> None:
    """Collect every child that has ended, reporting the trainer's status once."""
    global _reported
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        if pid == _trainer and not _reported:
            _reported = True
            _say(f"exit {status}")


def _descendants() -> dict[int, str]:
    """Live (not zombie) descendants of this process: pid -> command name, from /proc."""
    parent_of: dict[int, int] = {}
    names: dict[int, str] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:  # no /proc (not Linux): the trainer is all we know of
        return {} if _reported else {_trainer: "trainer"}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as fh:
                stat = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        head, _, tail = stat.rpartition(")")
        fields = tail.split()
        if len(fields) < 2 or fields[0] in ("Z", "X"):
            continue
        pid = int(entry)
        parent_of[pid] = int(fields[1])
        names[pid] = head.partition("(")[2]
    children: dict[int, list[int]] = {}
    for pid, ppid in parent_of.items():
        children.setdefault(ppid, []).append(pid)
    found: dict[int, str] = {}
    todo = list(children.get(os.getpid(), []))
    while todo:
        pid = todo.pop()
        if pid not in found:
            found[pid] = names[pid]
            todo.extend(children.get(pid, []))
    return found


def _stop(grace: float) -> None:
    """Stop every descendant (SIGTERM, then SIGKILL after `grace`), reap them, and exit."""
    global _stopping
    if not _stopping:
        _stopping = True
        # what is left once the trainer has ended; while it runs, its children are its own
        if _reported:
            _left.update(_descendants())
    deadline = time.monotonic() + grace
    signalled: set[int] = set()
    while True:
        _reap()
        tree = _descendants()
        if not tree:
            break
        late = time.monotonic() >= deadline
        for pid in tree:
            if late:
                _kill(pid, signal.SIGKILL)
            elif pid not in signalled:
                _kill(pid, signal.SIGTERM)
                _kill(pid, signal.SIGCONT)  # a stopped process only sees SIGTERM once resumed
                signalled.add(pid)
        time.sleep(0.02)
    for pid, name in sorted(_left.items()):
        _say(f"left {pid} {name}")
    _left.clear()
    os._exit(0)


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        return  # gone already (contextlib would cost this short-lived process an import)


def _on_term(signum: int, frame: object) -> None:
    _stop(_grace)


def _on_now(signum: int, frame: object) -> None:
    _stop(0.0)


def _start(argv: list[str], prctl: Callable[..., int]) -> int:
    """Fork and exec the trainer; its pid, or -1 after reporting why it could not start."""
    me = os.getpid()
    errors_r, errors_w = os.pipe()  # close-on-exec: EOF at a successful exec
    pid = os.fork()
    if pid == 0:
        try:
            os.close(errors_r)
            for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT):
                signal.signal(sig, signal.SIG_DFL)
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != me:
                os._exit(1)
            os.execvp(argv[0], argv)
        except OSError as exc:
            os.write(errors_w, (exc.strerror or str(exc)).encode("utf-8", "replace"))
        finally:
            os._exit(127)
    os.close(errors_w)
    chunks = []
    while chunk := os.read(errors_r, 4096):
        chunks.append(chunk)
    os.close(errors_r)
    if chunks:
        os.waitpid(pid, 0)
        _say("error " + b"".join(chunks).decode("utf-8", "replace"))
        return -1
    return pid


def main() -> None:
    global _trainer, _ctl, _grace, _reported
    parent, _ctl, _grace = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
    # LC_CTYPE as jobspec meant it ("-": unset): this interpreter may have coerced it (PEP 538)
    lc_ctype, argv = sys.argv[4], sys.argv[5:]
    if lc_ctype == "-":
        os.environ.pop("LC_CTYPE", None)
    else:
        os.environ["LC_CTYPE"] = lc_ctype[1:]
    os.set_inheritable(_ctl, False)  # the trainer must not hold it: its EOF means "I am done"
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # jobspec decides what an interrupt means
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGUSR1, _on_now)
    # prctl is Linux's; elsewhere the trainer still runs, without these guarantees
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", lambda *args: 0)
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    if os.getppid() != parent:  # jobspec died before its death signal could reach us
        os._exit(1)
    _trainer = _start(argv, prctl)
    if _trainer < 0:
        os._exit(127)
    _say(f"started {_trainer}")
    while True:
        try:
            pid, status = os.waitpid(-1, 0)
        except ChildProcessError:
            break  # the trainer and everything it started have ended
        if pid == _trainer:
            _reported = True
            _say(f"exit {status}")
    os._exit(0)


if __name__ == "__main__":
    main()
