"""Write <task>.json (argv, cwd, env, pid, executable) into $PROBE_OUT, then act as told.

The task is "<type>-<index>" from TF_CONFIG, or "single-0" when TF_CONFIG has no task.
- PROBE_PRINT: a line to print after the dump.
- PROBE_WAIT_FOR=N: the chief waits (at most 20 s) until N dumps exist, so that every
  process of a distributed run has written its own before the run ends.
- PROBE_EXIT=task=code[,task=code]: those tasks exit with that code right after the dump.
- PROBE_HANG=task[,task] or "*": those tasks never exit. A ps never exits either, like a
  real parameter server.
- PROBE_IGNORE_TERM=1: ignore SIGTERM, so only SIGKILL stops this task.
- PROBE_GRANDCHILD=1: start a `sleep` child first and record its pid, to check that stopping
  a task stops what it started.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def task_name() -> str:
    task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
    if not task:
        return "single-0"
    return f"{task['type']}-{task['index']}"


def _codes(text: str) -> dict[str, int]:
    pairs = (item.split("=", 1) for item in text.split(",") if item)
    return {task: int(code) for task, code in pairs}


def main() -> None:
    if os.environ.get("PROBE_IGNORE_TERM"):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    out = Path(os.environ["PROBE_OUT"])
    name = task_name()
    record = {"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ),
              "pid": os.getpid(), "executable": sys.executable}
    if os.environ.get("PROBE_GRANDCHILD"):
        child = subprocess.Popen(["sleep", "60"])
        record["grandchild"] = child.pid
    partial = out / f"{name}.part"
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.rename(out / f"{name}.json")  # readers never see half a file
    print("dumped", name, flush=True)
    if os.environ.get("PROBE_PRINT"):
        print(os.environ["PROBE_PRINT"], flush=True)
    code = _codes(os.environ.get("PROBE_EXIT", "")).get(name)
    if code is not None:
        print(f"{name} exits with {code}", file=sys.stderr, flush=True)
        sys.exit(code)
    hang = os.environ.get("PROBE_HANG", "").split(",")
    if name.startswith("ps-") or "*" in hang or name in hang:
        while True:
            time.sleep(1)
    wait_for = int(os.environ.get("PROBE_WAIT_FOR", "0"))
    deadline = time.monotonic() + 20
    while name.startswith("chief-") and time.monotonic() < deadline:
        if len(list(out.glob("*.json"))) >= wait_for:
            break
        time.sleep(0.01)


if __name__ == "__main__":
    main()
