"""One way to run a helper command (a build backend, an installer): every way it can fail to
start or finish becomes a JobspecError that says which command, what went wrong and what the
command printed last, never an OSError traceback.

Trainer processes are not helpers: runner.py starts and supervises those itself.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from jobspec.errors import JobspecError

TAIL_LINES = 15


def run(
    argv: Sequence[str],
    *,
    what: str,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = None,
    error: type[JobspecError] = JobspecError,
    exit_error: type[JobspecError] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run argv (never through a shell) with no stdin, capturing its output.

    WHAT names the command for the user, e.g. "`python setup.py sdist` in /repo". Raises ERROR
    when the command cannot start or runs past TIMEOUT seconds, and EXIT_ERROR (default: ERROR)
    when it exits non-zero, e.g. JobFailed for a pip install that would fail in the cloud too."""
    try:
        done = subprocess.run(
            list(argv), cwd=cwd, env=None if env is None else dict(env),
            stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as err:
        raise error(f"{what} did not finish within {timeout:g} s and was stopped"
                    + _tail(err.stderr or b"", err.stdout or b"")) from None
    except OSError as err:
        raise error(f"{what} could not run: {_why(err, argv, cwd)}") from None
    if done.returncode != 0:
        failed = exit_error or error
        raise failed(f"{what} failed ({_exit(done.returncode)})" + _tail(done.stderr, done.stdout))
    return done


def _why(err: OSError, argv: Sequence[str], cwd: Path | None) -> str:
    program = argv[0] if argv else "(empty command)"
    if cwd is not None and not os.path.isdir(cwd):
        return f"its folder {cwd} does not exist or is not a folder"
    if err.errno == errno.ENOENT:
        return f"{program} was not found"
    if err.errno == errno.EACCES:
        return f"permission denied running {program}"
    if err.errno == errno.ENOEXEC:
        return f"{program} is not an executable program"
    if err.errno == errno.E2BIG:
        size = sum(len(os.fsencode(a)) + 1 for a in argv)
        return f"its command line is too long for the system ({size:,} bytes of arguments)"
    return f"{err.strerror or err} ({program})"


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit {code}"


def _tail(stderr: bytes, stdout: bytes) -> str:
    """The last lines the command printed, stderr first: that is where tracebacks go."""
    text = (stderr or stdout).decode(errors="replace").strip()
    lines = text.splitlines()[-TAIL_LINES:]
    return ":\n" + "\n".join(lines) if lines else ""
