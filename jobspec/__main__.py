"""`python -m jobspec`, and the `jobspec` command: whenever Ctrl-C comes, exit 130 quietly."""

from __future__ import annotations

import signal
import sys


def main() -> None:
    try:
        from jobspec.fastpath import run_cached

        code = run_cached(sys.argv[1:])  # a cached local plan: no YAML, pydantic nor click
        if code is not None:
            raise SystemExit(code)
        from jobspec.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt:  # one that came while main() was printing what ended the run
        print("interrupted", file=sys.stderr, flush=True)
        raise SystemExit(130) from None
    finally:
        # the work is done and its exit code chosen (and recorded): an interrupt while the
        # interpreter shuts down must neither print a traceback nor change it
        signal.signal(signal.SIGINT, signal.SIG_IGN)


if __name__ == "__main__":
    main()
