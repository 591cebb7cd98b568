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
if _sys.argv[:1] == ["-m"] or _sys.argv[0].rpartition("/")[2] == "jobspec":
    import _signal  # the C module: `signal` itself takes milliseconds to import

    if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
        _signal.signal(_signal.SIGINT, _quit_quietly)
