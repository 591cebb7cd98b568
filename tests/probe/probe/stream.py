"""Print a line (without flushing), then wait until $PROBE_OUT/go exists (at most 20 s).

A test that sees the line while this process still runs knows the output streams live.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

if __name__ == "__main__":
    go = Path(os.environ["PROBE_OUT"]) / "go"
    print("first line")
    deadline = time.monotonic() + 20
    while not go.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    print("after go" if go.exists() else "gave up waiting")
