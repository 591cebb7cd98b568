"""`jobspec validate` over many files: each file checked as one process would, with a forked
copy of this process per extra core taking a share when there are enough files to pay for it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

from jobspec.errors import JobspecError

Checked = tuple[str, int, list[dict[str, Any]]]

def check(path: Path, strict_env: bool = False) -> Checked | None:
    """None for a valid spec; else what to print about it, how many problems it has (0: only
    notes, about ${VAR}s left unresolved, which ``strict_env`` makes problems), and the
    problems (or notes) as data (`validate --json`), secrets masked in both."""
    from jobspec.diagnostics import SpecError
    from jobspec.loader import load
    from jobspec.output import problem_json
    from jobspec.secrets import known, mask
    from jobspec.validation import ENV_NOTE, split_unset_env

    try:
        load(path, strict_all=True)
    except SpecError as exc:
        errors, unset = (exc.problems, []) if strict_env else split_unset_env(exc.problems)
        shown = SpecError(errors, exc.sources) if errors else SpecError(
            [dataclasses.replace(p, message=f"{p.message}: {ENV_NOTE}") for p in unset],
            exc.sources)
        data = [problem_json(p) for p in shown.problems]
        return mask(shown.render()), len(errors), known().mask_data(data)
    except JobspecError as exc:
        data = [{"file": str(path), "line": None, "col": None, "key": "",
                 "message": exc.render()}]
        return mask(exc.render()), len(data), known().mask_data(data)
    return None


_MIN_SHARE = 25  # files per process at least: below that a fork costs more than it saves


def _jobs(files: int) -> int:
    """Processes for `validate`: one per core for many files (JOBSPEC_JOBS=N to choose)."""
    import os
    import threading

    if not hasattr(os, "fork") or threading.active_count() > 1:  # forking threads is unsafe
        return 1
    chosen = os.environ.get("JOBSPEC_JOBS", "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    jobs = int(chosen) if chosen.isdigit() else (cores or 1)
    return max(1, min(jobs, files // _MIN_SHARE))


def checked(paths: list[Path], strict_env: bool = False) -> Iterator[Checked | None]:
    """check() of each path, in order. With many files, forked copies of this process (the
    imports already done) take a share each while this one checks the first; a copy that
    meets anything but a JobspecError stops, and this process checks the rest of its share
    itself, so a bug shows its traceback exactly where one process would show it."""
    import functools
    import os
    import pickle
    import signal

    jobs = _jobs(len(paths))
    share = -(-len(paths) // jobs)
    children: list[tuple[int, int, int, int]] = []  # pid, read end of its pipe, its share
    try:
        for start in range(share, len(paths) if jobs > 1 else 0, share):
            stop = min(start + share, len(paths))
            read, write = os.pipe()
            try:
                pid = os.fork()
            except OSError:  # no room for another process: check the rest here
                os.close(read)
                os.close(write)
                break
            if pid == 0:
                _child(paths[start:stop], write, [read] + [c[1] for c in children], strict_env)
            os.close(write)
            children.append((pid, read, start, stop))
        one = functools.partial(check, strict_env=strict_env)
        yield from map(one, paths[:share])
        done = children[-1][3] if children else share
        while children:
            pid, read, start, stop = children[0]
            with os.fdopen(read, "rb", closefd=False) as pipe:
                data = pipe.read()
            del children[0]
            os.close(read)
            os.waitpid(pid, 0)
            results = pickle.loads(data) if data else []
            yield from results
            yield from map(one, paths[start + len(results):stop])
        yield from map(one, paths[done:])
    finally:
        for pid, read, _, _ in children:  # stopped early: ^C, a bug, a closed stdout
            os.close(read)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def _child(paths: list[Path], write: int, others: list[int], strict_env: bool) -> NoReturn:
    """A forked copy: check ``paths``, send what check() said through ``write``, exit."""
    import os
    import pickle

    results: list[Checked | None] = []
    code = 0
    try:
        for fd in others:
            os.close(fd)
        for path in paths:
            results.append(check(path, strict_env))
    except BaseException:  # the parent checks this file and the rest itself
        code = 1
    finally:
        try:
            with os.fdopen(write, "wb") as out:
                out.write(pickle.dumps(results))
        finally:
            os._exit(code)  # never the parent's code path, exit handlers or buffered output
