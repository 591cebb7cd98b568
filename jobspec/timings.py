"""Opt-in phase marks for the benchmarks (bench/submission.py); nothing happens without them.

With JOBSPEC_TIMINGS=PATH in the environment, mark(phase) appends one JSON line
{"phase", "t", "pid"} to PATH, saying that `phase` ended at wall-clock time t (time.time(), so a
benchmark can line it up with the moment it started the process). Without the variable it
returns at once: no file, no output, no state.
"""

from __future__ import annotations

import json
import os
import time


def mark(phase: str) -> None:
    path = os.environ.get("JOBSPEC_TIMINGS")
    if not path:
        return
    line = json.dumps({"phase": phase, "t": time.time(), "pid": os.getpid()})
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
