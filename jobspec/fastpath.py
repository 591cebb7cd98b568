"""`jobspec run SPEC --target local` from a cached plan, without loading the planner.

Planning a local run costs more than the run itself for a small trainer: YAML, pydantic and
click take ~120 ms to import (bench/README.md). A local plan is pure data, so `run` keeps it
under .jobspec/plans/ (jobspec/records.py) with what it was made from, and the next identical
command runs it directly when none of that has changed:

- the command line (every word after `jobspec`), the current folder, the interpreter and
  jobspec's version: the entry's key (one entry per command and folder);
- today's date (runtime drift warnings depend on it);
- the bytes of the spec and of every file it extends;
- the values of the environment variables the spec reads, and of those the loader itself
  reads (JOBSPEC_EXTENDS_ALLOW, GOOGLE_CLOUD_PROJECT, CLOUDSDK_CORE_PROJECT, PATH);
- the package tree's listing (names, sizes, mtimes; bytecode caches left out);
- the folders on sys.path, and the trainer's interpreter with its site-packages folders (its
  Python and TensorFlow versions change the plan).

Anything else (another command, an isolated run, a cloud target, a matrix, a secret that does
not come from the environment) takes the ordinary path. A cached plan holds no secret value:
it is stored as `jobspec plan --out` writes it (jobspec/plandata.py).

This module imports only the standard library, jobspec.plandata and what executing a local
plan needs: never yaml, pydantic, click or the spec loader.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from pathlib import Path

from jobspec import __version__

_VALUED = ("--target", "-t", "--set", "--name", "--parallel")
_FLAGS = ("--isolated", "--detach", "--reclaim", "--cancel-on-interrupt")
# read by the loader and the planner besides what the spec reads (PATH: which `python` runs)
LOADER_ENV = ("JOBSPEC_EXTENDS_ALLOW", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "PATH")
MAX_ENTRY = 64 << 20


def spec_of(argv: Sequence[str]) -> str | None:
    """SPEC of `run SPEC [options] [-- args]`, or None for anything else (then no cache)."""
    if not argv or argv[0] != "run":
        return None
    words = list(argv[1:])
    if "--" in words:
        words = words[:words.index("--")]
    positional = []
    index = 0
    while index < len(words):
        word = words[index]
        if word in _VALUED:
            index += 2
            continue
        if word in _FLAGS or (word.startswith("--") and word.split("=", 1)[0] in _VALUED) or (
                word.startswith("-t") and not word.startswith("--")):
            index += 1
            continue
        if word.startswith("-"):
            return None  # --plan, --help, a typo: click decides
        positional.append(word)
        index += 1
    return positional[0] if len(positional) == 1 else None


def _key(argv: Sequence[str]) -> str:
    parts = [__version__, sys.executable, os.getcwd(), *argv]
    return _digest("\0".join(parts).encode("utf-8", "surrogateescape"))


def _entry_path(spec: str, argv: Sequence[str]) -> Path:
    from pathlib import Path

    from jobspec.project import project_root
    from jobspec.records import plans_dir

    return plans_dir(project_root(Path(spec))) / f"{_key(argv)}.json"


def _today() -> str:
    import time

    return time.strftime("%Y-%m-%d")  # the local date, as date.today() in the planner


def _digest(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def _env_digest(names: Sequence[str], env: Mapping[str, str]) -> str:
    text = "\0".join(f"{n}={env.get(n)!r}" for n in sorted(names))
    return _digest(text.encode("utf-8", "surrogateescape"))


def listing(folder: str) -> str:
    """Names, sizes and mtimes of the files under FOLDER (bytecode caches left out)."""
    rows: list[str] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            entries = list(os.scandir(here))
        except OSError:
            rows.append(f"{here}\0unreadable")
            continue
        for entry in entries:
            if entry.name == "__pycache__" or entry.name.endswith(".pyc"):
                continue
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                    continue
                info = entry.stat(follow_symlinks=False)
            except OSError:
                continue
            rows.append(f"{entry.path}\0{info.st_size}\0{info.st_mtime_ns}")
    return _digest("\n".join(sorted(rows)).encode("utf-8", "surrogateescape"))


def _site() -> dict[str, int]:
    """mtimes of the folders packages are installed in (not of the project's own folders)."""
    found = {}
    for entry in sys.path:
        if os.path.basename(entry) not in ("site-packages", "dist-packages"):
            continue
        try:
            found[entry] = os.stat(entry or ".").st_mtime_ns
        except OSError:
            continue
    return found


def _interpreter(python: str) -> dict[str, int]:
    """mtimes of the trainer's interpreter and of its site-packages folders (venv and
    prefix layouts: BIN/../lib/pythonX.Y/site-packages)."""
    import glob

    found = {}
    prefix = os.path.dirname(os.path.dirname(python))
    for path in [python, *sorted(glob.glob(os.path.join(glob.escape(prefix), "lib",
                                                        "python*", "site-packages")))]:
        try:
            found[path] = os.stat(path).st_mtime_ns
        except OSError:
            found[path] = -1
    return found


def _files(loaded: Any) -> dict[str, str] | None:
    """Absolute path → sha256 of the spec and of every file it extends."""
    found = {}
    for shown in loaded.sources:
        if shown.startswith(("--set ", "--name ")):
            continue
        path = os.path.abspath(shown)
        try:
            with open(path, "rb") as fh:
                found[path] = _digest(fh.read())
        except OSError:
            return None  # a source that is no file jobspec can read again: no cache
    return found if found else None


def store(argv: Sequence[str], request: Any, loaded: Any, made: Any) -> None:
    """Keep a local plan for the next identical command; silently nothing when it cannot be
    kept (another kind of plan, a secret from the spec itself, an unwritable folder)."""
    import json

    from jobspec.errors import UsageError
    from jobspec.plandata import LocalPlan, dump_plan

    spec = spec_of(argv)
    if spec is None or not isinstance(made, LocalPlan) or made.isolated:
        return
    files = _files(loaded)
    if files is None:
        return
    try:
        text = dump_plan(made)
    except UsageError:
        return
    names = sorted({*loaded.env_read, *LOADER_ENV})
    entry = {"version": __version__, "argv": list(argv), "day": _today(), "files": files,
             "env": names,
             "env_digest": _env_digest(names, os.environ),
             "package": [made.package_path, listing(made.package_path)], "site": _site(),
             "python": [made.python, _interpreter(made.python)],
             "plan": text}
    try:
        path = _entry_path(spec, argv)
        from jobspec.records import write_private

        write_private(path, json.dumps(entry))
    except (OSError, UsageError):
        return


def is_stale(text: bytes) -> bool:
    """True when a cache entry can never be used again (`jobspec clean`): made on another day or
    by another jobspec version, or not an entry at all."""
    import json

    try:
        entry = json.loads(text)
        return (entry["version"], entry["day"]) != (__version__, _today())
    except Exception:  # noqa: BLE001  (damaged or foreign: of no use)
        return True


def lookup(argv: Sequence[str]) -> Any:
    """The cached plan for this command when nothing it was made from has changed, else None.
    """
    spec = spec_of(argv)
    if spec is None:
        return None
    import json

    try:
        path = _entry_path(spec, argv)
        with open(path, "rb") as fh:
            entry = json.loads(fh.read(MAX_ENTRY))
        if (entry["version"], entry["argv"], entry["day"]) != (__version__, list(argv),
                                                                _today()):
            return None
        for file, digest in entry["files"].items():
            with open(file, "rb") as fh:
                if _digest(fh.read()) != digest:
                    return None
        if _env_digest(entry["env"], os.environ) != entry["env_digest"]:
            return None
        folder, digest = entry["package"]
        if listing(folder) != digest or _site() != entry["site"]:
            return None
        python, seen = entry["python"]
        if _interpreter(python) != seen:
            return None
        from jobspec.plandata import LocalPlan, load_plan

        plan = load_plan(entry["plan"], str(path))
    except Exception:  # noqa: BLE001  (a cache that cannot be used is a miss, never an error)
        return None
    return plan if isinstance(plan, LocalPlan) else None


def run_cached(argv: Sequence[str]) -> int | None:
    """The exit code of the cached run of this command, or None (a miss: plan as usual)."""
    plan = lookup(argv)
    if plan is None:
        return None
    import atexit
    import gc

    atexit.unregister(gc.freeze)  # as cli.main does
    atexit.register(gc.freeze)
    from jobspec.errors import EXIT_INTERRUPTED, JobspecError
    from jobspec.output import Output, using
    from jobspec.render import plan_secrets
    from jobspec.request import execute
    from jobspec.secrets import mask, remember

    remember(plan_secrets(plan).values)
    with using(Output()) as out:  # as cli.main: the command's one Output, default options
        try:
            _take_over_interrupts()
            return execute(plan)
        except JobspecError as exc:
            out.failure(exc, mask)
            return exc.exit_code
        except KeyboardInterrupt:
            out.error("interrupted", exit_code=EXIT_INTERRUPTED)
            return EXIT_INTERRUPTED


def _take_over_interrupts() -> None:
    import signal

    import jobspec

    if signal.getsignal(signal.SIGINT) is jobspec._quit_quietly:
        signal.signal(signal.SIGINT, signal.default_int_handler)
