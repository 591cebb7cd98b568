"""A trainer that kills itself with the signal named by $PROBE_SIGNAL (e.g. SIGSEGV)."""

from __future__ import annotations

import os
import signal

if __name__ == "__main__":
    print("about to die", flush=True)
    os.kill(os.getpid(), signal.Signals[os.environ["PROBE_SIGNAL"]])
