"""Log lag: from the trainer printing a line to `jobspec run --target cloud` printing it.

A tiny trainer (written to a temp project) prints `tick I T` lines, T = time.time() when
printed, flushing each. It runs for real in the Vertex stand-in (tests/standins/vertex.py, jobs
run: download, pip install, python -m), whose Cloud Logging route serves the lines; jobspec
follows the job with JOBSPEC_POLL_MIN/MAX at their defaults (2 s / 10 s: not set). The bench
stamps each line as it reads it from jobspec's stdout. Two patterns:

- steady: a line every second (jobspec keeps polling at the minimum interval);
- sparse: a line every 7 s (the interval backs off x1.5 between lines, up to the maximum).

The stand-in's own ingestion delay (entry timestamp - T) is shown as the floor. Target:
lag <= 2 poll intervals; the interval is 2 s while lines keep coming, so the check is on the
steady pattern's maximum (<= 4 s); the sparse pattern is reported against the interval
jobspec had backed off to (at most 2 s x 1.5^k).

    python bench/log_lag.py [--runs 5]
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import _timing as t

POLL_MIN, POLL_MAX = 2.0, 10.0  # jobspec/cloud/follow.py defaults
BUCKET = "jobspec-bench-logs"
TICKER = '''\
import sys, time

def main():
    count, interval = int(sys.argv[1]), float(sys.argv[2])
    time.sleep(0.5)
    for i in range(count):
        print(f"tick {i} {time.time():.6f}", flush=True)
        if i < count - 1:
            time.sleep(interval)

if __name__ == "__main__":
    main()
'''
SPEC = """\
version: 1
name: lag
trainer:
  package_path: ../ticker
  module: ticker.tick
args: ["{count}", "{interval}"]
targets:
  cloud:
    bucket: {bucket}
    executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest
"""
LINE = re.compile(r"\| tick (\d+) ([0-9.]+)$")
PATTERNS = {"steady": (10, 1.0), "sparse": (4, 7.0)}


def project(root: Path, count: int, interval: float) -> Path:
    (root / "ticker").mkdir(parents=True, exist_ok=True)
    (root / "ticker" / "__init__.py").write_text("")
    (root / "ticker" / "tick.py").write_text(TICKER)
    (root / "specs").mkdir(exist_ok=True)
    spec = root / "specs" / f"lag_{count}_{int(interval)}.yaml"
    spec.write_text(SPEC.format(count=count, interval=interval, bucket=BUCKET))
    return spec


def follow_once(spec: Path, env: dict[str, str]) -> list[tuple[int, float, float]]:
    """[(line index, printed at, shown by jobspec at)] for one followed job."""
    name = f"lag_{uuid.uuid4().hex[:10]}"
    argv = [t.jobspec_exe(), "run", str(spec), "--target", "cloud", "--name", name]
    seen: list[tuple[int, float, float]] = []
    err = spec.parent / f"{name}.stderr"
    with err.open("wb") as err_file, subprocess.Popen(
            argv, env=env, cwd=spec.parent.parent, stdout=subprocess.PIPE, stderr=err_file,
            stdin=subprocess.DEVNULL) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            shown = time.time()
            match = LINE.search(raw.decode().rstrip("\n"))
            if match:
                seen.append((int(match.group(1)), float(match.group(2)), shown))
        code = proc.wait(timeout=120)
    if code != 0:
        raise SystemExit(f"jobspec run exited {code}:\n{err.read_text()[-3000:]}")
    return seen


def ingestion(vertex: Any) -> list[float]:
    """Stand-in floor: entry timestamp minus the time the trainer put in the line."""
    from datetime import datetime

    out = []
    for entry in vertex.log_entries:
        match = re.match(r"tick \d+ ([0-9.]+)$", entry.get("textPayload", ""))
        if match:
            stamp = entry["timestamp"]
            whole, frac = stamp.rstrip("Z").split(".")
            at = datetime.fromisoformat(whole + "+00:00").timestamp() + float("0." + frac)
            out.append(at - float(match.group(1)))
    return out


def backoff_bound(gap: float) -> float:
    """The longest interval jobspec can be sleeping when a line arrives `gap` s after the last:
    2, 3, 4.5, ... s, capped at 10 s, summed until they cover the gap."""
    interval, slept = POLL_MIN, 0.0
    while slept + interval < gap:
        slept += interval
        interval = min(interval * 1.5, POLL_MAX)
    return interval


def main() -> None:
    args = t.parser(__doc__, runs=5).parse_args()
    sys.path.insert(0, str(t.REPO))
    from tests.standins.gcs import GcsEmulator
    from tests.standins.vertex import VertexStandin

    results: dict[str, Any] = {}
    with (tempfile.TemporaryDirectory(prefix="jobspec-bench-lag-") as tmp,
          GcsEmulator() as gcs, VertexStandin(gcs.url) as vertex):
        gcs.create_bucket(BUCKET)
        env = t.clean_env(PATH=f"{t.BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                          STORAGE_EMULATOR_HOST=gcs.url,
                          CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM=vertex.url,
                          CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING=vertex.url,
                          GOOGLE_CLOUD_PROJECT="test")
        for pattern, (count, interval) in PATTERNS.items():
            spec = project(Path(tmp), count, interval)
            vertex.reset()
            lags: list[float] = []
            run_medians: list[float] = []
            for run in range(args.runs):
                seen = follow_once(spec, env)
                if len(seen) != count:
                    raise SystemExit(f"{pattern} run {run}: saw {len(seen)} of {count} lines")
                these = [shown - printed for _, printed, shown in seen]
                lags += these
                run_medians.append(sorted(these)[len(these) // 2])
                print(f"  {pattern} run {run + 1}: lag median {t.fmt(run_medians[-1])}, "
                      f"max {t.fmt(max(these))}", flush=True)
            floor = ingestion(vertex)
            results[pattern] = {"lags": t.Stats(f"{pattern}: jobspec lag", lags),
                                "floor": t.Stats(f"{pattern}: stand-in ingestion", floor),
                                "run_medians": run_medians, "count": count,
                                "interval": interval}
    print()
    rows = [s for r in results.values() for s in (r["floor"], r["lags"])]
    print(t.table(f"log lag, per line ({args.runs} runs per pattern; poll {POLL_MIN:.0f}-"
                  f"{POLL_MAX:.0f} s)", rows))
    steady = results["steady"]["lags"]
    sparse = results["sparse"]["lags"]
    bound = backoff_bound(PATTERNS["sparse"][1])
    print(f"\nsteady: max lag {t.fmt(max(steady.samples))} = "
          f"{max(steady.samples) / POLL_MIN:.2f} poll intervals ({POLL_MIN:.0f} s); median "
          f"{t.fmt(steady.median)} = {steady.median / POLL_MIN:.2f} intervals")
    print(f"sparse: max lag {t.fmt(max(sparse.samples))}; jobspec's interval had backed off "
          f"to at most {bound:.1f} s by then ({max(sparse.samples) / bound:.2f} of it)")
    targets = [
        t.check("log lag <= 2 poll intervals (steady output)",
                max(steady.samples) <= 2 * POLL_MIN,
                f"max {max(steady.samples):.2f} s, limit {2 * POLL_MIN:.0f} s"),
        t.check("log lag <= 2 poll intervals (sparse output, backed-off interval)",
                max(sparse.samples) <= 2 * bound,
                f"max {max(sparse.samples):.2f} s, limit {2 * bound:.1f} s"),
    ]
    if not args.no_save:
        t.save("log_lag", {"stats": rows, "poll_min": POLL_MIN, "poll_max": POLL_MAX,
                           "sparse_bound": bound,
                           "run_medians": {p: r["run_medians"] for p, r in results.items()},
                           "targets": targets})


if __name__ == "__main__":
    main()
