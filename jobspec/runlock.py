"""One local run of a job at a time: locks on the job's name and on its job dir.

Two runs of one job would write one output folder, and one record folder name, silently. Each
run holds an flock(2) on `.jobspec/locks/name-NAME.lock` (and on one for its job dir) for as
long as it runs: the kernel drops it when jobspec ends, even by SIGKILL, so a lock is never
stale, and of two racing starts exactly one gets it. The file says who holds it; a run removes
its files as it ends (one killed by SIGKILL leaves them, unlocked and harmless).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

from jobspec.errors import UsageError
from jobspec.plandata import LocalPlan
from jobspec.records import StateDir


class RunLock:
    def __init__(self, plan: LocalPlan) -> None:
        self.plan = plan
        self.fds: list[int] = []
        folder = StateDir(Path(plan.project_root)).locks
        self.paths = [folder / f"name-{plan.name}.lock"]
        job_dir = _job_dir_key(plan)
        if job_dir is not None:
            digest = hashlib.sha256(job_dir.encode()).hexdigest()[:16]
            self.paths.append(folder / f"dir-{digest}.lock")
        self.job_dir = job_dir

    def acquire(self) -> None:
        """Take every lock, or none: UsageError (exit 2) naming the run that holds one."""
        try:
            self.paths[0].parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"cannot record a run under {self.paths[0].parent.parent}: "
                             f"{exc.strerror}") from None
        for index, path in enumerate(self.paths):
            while True:
                try:
                    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
                except OSError as exc:
                    self.release()
                    raise UsageError(f"cannot lock {path}: {exc.strerror}") from None
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _holder(fd)
                    os.close(fd)
                    self.release()
                    raise self._refusal(holder, by_name=index == 0) from None
                if _same_file(fd, path):
                    break
                os.close(fd)  # its holder removed it as it ended: lock the file there now
            self.fds.append(fd)
        self.note(record=None)

    def note(self, record: str | None) -> None:
        """Say in the lock files who holds them, for the message a second run shows."""
        data = json.dumps({"name": self.plan.name, "pid": os.getpid(), "record": record,
                           "job_dir": self.job_dir}).encode()
        for fd in self.fds:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
                os.pwrite(fd, data, 0)

    def release(self) -> None:
        """Remove the lock files, then drop the locks (a run that opened a file before it was
        removed sees that, and opens the path again)."""
        for path, fd in zip(self.paths, self.fds, strict=False):
            with contextlib.suppress(OSError):
                os.unlink(path)
            os.close(fd)
        self.fds = []

    def _refusal(self, holder: dict[str, Any], *, by_name: bool) -> UsageError:
        pid = holder.get("pid", "?")
        record = holder.get("record") or "(still starting)"
        other = holder.get("name") or self.plan.name
        if by_name:
            return UsageError(
                f"{self.plan.name} is already running here (jobspec pid {pid}, record "
                f"{record}): a second run would write the same job dir and records",
                hint=f"wait for it to end, or run this one under another name: "
                     f"--name {self.plan.name}_2 (a job_dir made from ${{name}} follows it)")
        return UsageError(
            f"job dir {self.job_dir} is in use by run {other} (jobspec pid {pid}, record "
            f"{record}): both runs would write it",
            hint=f"give this run its own job dir: --set targets.{self.plan.target}.job_dir=..."
                 f", or make job_dir depend on ${{name}}")


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def _holder(fd: int) -> dict[str, Any]:
    """Who holds the lock, as its file says; it writes that just after taking the lock."""
    for _ in range(20):
        holder = _read(fd)
        if holder.get("pid"):
            break
        time.sleep(0.025)
    return holder


def _read(fd: int) -> dict[str, Any]:
    try:
        data: dict[str, Any] = json.loads(os.pread(fd, 65536, 0) or b"{}")
        return data
    except (OSError, ValueError):
        return {}


def _job_dir_key(plan: LocalPlan) -> str | None:
    """The job dir as the trainer will see it, or None when it cannot clash (no job dir, or a
    relative one under the fresh empty folder of an isolated run)."""
    job_dir = plan.job_dir
    if not job_dir:
        return None
    if "://" in job_dir:
        return job_dir.rstrip("/")
    cwd = plan.processes[0].cwd if plan.processes else None
    if not os.path.isabs(job_dir):
        if cwd is None:
            return None
        job_dir = os.path.join(cwd, job_dir)
    return os.path.normpath(job_dir)
