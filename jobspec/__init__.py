"""jobspec: a version-controlled YAML job file, run locally or on Vertex AI."""

from __future__ import annotations

import sys as _sys

__version__ = "0.1.0"


def _quit_quietly(signum: int, frame: object) -> None:
    """Ctrl-C while jobspec is still starting up: nothing to stop, so no traceback."""
    import os

    os.write(2, b"interrupted\n")
    os._exit(130)


# Run as the program (`python -m jobspec`, or the `jobspec` command), the first Ctrl-C while
# modules are still being imported would print a traceback: until jobspec.cli.main() takes
# over, an interrupt just exits 130. Imported as a library, nothing changes.
def _run_as_program() -> bool:
    argv0 = (getattr(_sys, "argv", None) or [""])[0]
    if argv0.rpartition("/")[2] == "jobspec":
        return True
    if argv0 != "-m":  # while `python -m X` imports X's package, argv[0] is "-m"
        return False
    original = list(getattr(_sys, "orig_argv", []))
    for index, arg in enumerate(original[1:], 1):
        if arg.startswith("-m"):
            return (arg[2:] or "".join(original[index + 1:index + 2])) == "jobspec"
    return False


if _run_as_program():
    import _signal  # the C module: `signal` itself takes milliseconds to import

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _quit_quietly)
