"""How fast and how lean jobspec refuses hostile spec files (issue 5, item 2: "within 1 s and
200 MB RSS"). tests/test_hostile_yaml.py pins the messages and the memory; this measures time.

For each case, median and spread of N runs of:
  - load():   the in-process cost of reading and refusing the file;
  - process:  `jobspec validate FILE` as a fresh process (what CI pays), with its peak RSS.
The baseline, measured in the same run, is `jobspec validate specs/census.yaml` (a valid spec).

    python bench/hostile_yaml.py [--runs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from jobspec.errors import JobspecError  # noqa: E402
from jobspec.loader import load  # noqa: E402

# the same hostile inputs and the same peak-RSS runner as tests/test_hostile_yaml.py
from tests.test_hostile_yaml import DEEP, RUNNER, billion_laughs, many_targets  # noqa: E402


def broken_items(count: int) -> bytes:
    return (b"version: 1\nname: job\nargs: [" + b",".join([b"[]"] * count)
            + b"]\ntargets: {t0: {kind: local}, t1: {kind: local}, t2: {kind: local}}\n")


CASES: dict[str, bytes] = {
    "billion laughs": billion_laughs(),
    "10,000 aliases": ("version: 1\nargs: [&x a, " + ", ".join(["*x"] * 10_000) + "]\n").encode(),
    "100k-deep [[[": ("args: " + "[" * DEEP + "]" * DEEP + "\n").encode(),
    "100k-deep {a: {": ("args: " + "{a: " * DEEP + "1" + "}" * DEEP + "\n").encode(),
    "100k-deep - - -": ("args:\n" + "- " * DEEP + "x\n").encode(),
    "50 MB file": b"version: 1\nname: " + b"x" * (50 << 20) + b"\n",
    "!!python/object": b'version: 1\nname: !!python/object/apply:os.system ["touch PWNED"]\n',
    "duplicate keys": b"version: 1\nname: a\ntargets: {}\nname: b\n",
    "not UTF-8": b"version: 1\nname: caf\xe9\n",
    "80 targets x 1,500": many_targets(80, 1500),
    "15,000 bad items": broken_items(15_000),
}


def in_process(path: Path, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        with contextlib.suppress(JobspecError):
            load(path, strict_all=True)
        times.append(time.perf_counter() - start)
    return times


def as_process(path: Path, runs: int) -> tuple[list[float], float, int]:
    """Wall times, the largest peak RSS (MB) and the exit code of `jobspec validate PATH`."""
    times, peak, code = [], 0.0, -1
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    with tempfile.TemporaryDirectory() as tmp:
        side = Path(tmp) / "rss"
        for _ in range(runs):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", RUNNER, str(side), "validate", str(path)],
                                  env=env, capture_output=True, stdin=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
            peak = max(peak, int(side.read_text()) / 1024)
            code = done.returncode
    return times, peak, code


def fmt(times: list[float]) -> str:
    med = statistics.median(times) * 1000
    return f"{med:8.1f} ms ({min(times) * 1000:.1f}-{max(times) * 1000:.1f})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    runs = max(args.runs, 1)
    baseline_path = REPO / "specs" / "census.yaml"
    base_times, base_rss, base_code = as_process(baseline_path, runs)
    base = statistics.median(base_times)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {runs} runs each; "
          "times are median (min-max)")
    print(f"{'case':18} {'load() in-process':>28} {'jobspec validate process':>30} "
          f"{'vs baseline':>11} {'peak RSS':>9} exit")
    print(f"{'baseline (census)':18} {fmt(in_process(baseline_path, runs)):>28} "
          f"{fmt(base_times):>30} {1.0:>10.2f}x {base_rss:>6.1f} MB {base_code}")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for name, content in CASES.items():
            path = Path(tmp) / "spec.yaml"
            path.write_bytes(content)
            loads = in_process(path, runs)
            times, rss, code = as_process(path, runs)
            worst = max(worst, statistics.median(times))
            print(f"{name:18} {fmt(loads):>28} {fmt(times):>30} "
                  f"{statistics.median(times) / base:>10.2f}x {rss:>6.1f} MB {code}")
            if code != 2:
                print(f"  ! expected exit 2, got {code}")
    print(f"slowest hostile case: {worst * 1000:.0f} ms per process (target: under 1 s)")
    return 0 if worst < 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
