"""Shared helpers for the benchmark scripts: run things N times, summarise, print, save.

Every script measures its baseline in the same run, interleaved round-robin with what it
compares (one run of each per round), so a noisy neighbour or CPU frequency change hits all
candidates alike. Figures are medians with the interquartile range and min/max.

Processes are started through the real interpreter and console scripts (sys.executable and the
`jobspec` beside it), never through pyenv shims, which add ~50 ms of bash to every start.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
BIN = Path(sys.executable).parent
PYTHON = sys.executable


def jobspec_exe() -> str:
    """The installed console script next to this interpreter (not a pyenv shim)."""
    exe = BIN / "jobspec"
    if exe.is_file():
        return str(exe)
    found = shutil.which("jobspec")
    if found is None:
        raise SystemExit("jobspec is not installed: pip install -e . first")
    return found


def jobspec_argv(tree: Path | None = None) -> list[str]:
    """How to start jobspec: the console script, or (for a before/after comparison) jobspec
    imported from `tree` ahead of the installed one. With --baseline both sides use the second
    form, so the launcher is the same and only the code differs."""
    if tree is None:
        return [jobspec_exe()]
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); "
            "from jobspec.__main__ import main; main()")  # as the console script starts
    return [PYTHON, "-c", code]


def sides(baseline: Path | None, tree: Path | None = None) -> list[tuple[str, list[str]]]:
    """[(label suffix, argv prefix)]: jobspec (installed, or from `tree`), and with a baseline
    also the baseline tree's, both through the same launcher."""
    if baseline is None:
        return [("", jobspec_argv(tree))]
    return [("", jobspec_argv(tree or REPO)), (" [baseline]", jobspec_argv(baseline))]


@dataclass
class Stats:
    label: str
    samples: list[float]
    unit: str = "s"
    cpu: list[float] = field(default_factory=list)  # user+sys per run, when measured
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    @property
    def q1(self) -> float:
        return _quantile(self.samples, 0.25)

    @property
    def q3(self) -> float:
        return _quantile(self.samples, 0.75)

    @property
    def cpu_median(self) -> float | None:
        return statistics.median(self.cpu) if self.cpu else None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "median": self.median, "q1": self.q1, "q3": self.q3,
                "min": min(self.samples), "max": max(self.samples), "n": len(self.samples),
                "cpu_median": self.cpu_median}


def _quantile(values: Sequence[float], q: float) -> float:
    data = sorted(values)
    if len(data) == 1:
        return data[0]
    pos = q * (len(data) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)


def fmt(seconds: float, unit: str = "s") -> str:
    if unit != "s":
        return f"{seconds:,.0f} {unit}"
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.0f} µs"


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_process(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                cwd: Path | None = None, expect: int = 0, timeout: float = 120
                ) -> tuple[float, float]:
    """(wall, cpu) seconds of one process, spawn to exit; the exit code must be `expect`.

    cpu is user + system time of the process and the children it waited for: on this shared
    2-core machine it is far less disturbed by other load than the wall time."""
    wall, cpu, _ = run_process_output(argv, env=env, cwd=cwd, expect=expect, timeout=timeout)
    return wall, cpu


def run_process_output(argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                       cwd: Path | None = None, expect: int = 0, timeout: float = 120
                       ) -> tuple[float, float, bytes]:
    """run_process, plus the process's stdout."""
    cpu0 = _children_cpu()
    start = time.perf_counter()
    done = subprocess.run(list(argv), env=dict(env) if env is not None else None, cwd=cwd,
                          stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                          check=False)
    elapsed = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    if done.returncode != expect:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode} (expected {expect}):\n"
                         f"{done.stdout.decode(errors='replace')[-2000:]}"
                         f"{done.stderr.decode(errors='replace')[-2000:]}")
    return elapsed, cpu, done.stdout


Sample = float | tuple[float, float]  # wall, or (wall, cpu)


def interleave(candidates: Mapping[str, Callable[[], Sample]], runs: int, warmup: int = 1
               ) -> dict[str, Stats]:
    """Run each candidate `runs` times, one of each per round; warm-up rounds are discarded."""
    walls: dict[str, list[float]] = {label: [] for label in candidates}
    cpus: dict[str, list[float]] = {label: [] for label in candidates}
    for round_ in range(warmup + runs):
        for label, fn in candidates.items():
            value = fn()
            if round_ >= warmup:
                wall, cpu = value if isinstance(value, tuple) else (value, None)
                walls[label].append(wall)
                if cpu is not None:
                    cpus[label].append(cpu)
    return {label: Stats(label, walls[label], cpu=cpus[label]) for label in candidates}


def table(title: str, stats: Sequence[Stats], baseline: str | None = None,
          unit: str = "s") -> str:
    base = next((s.median for s in stats if s.label == baseline), None)
    with_cpu = all(s.cpu for s in stats)
    width = max(38, *(len(s.label) for s in stats))
    head = f"{'':{width}} {'median':>10} {'IQR':>21} {'min':>10} {'max':>10}"
    head += "  ratio" if base else ""
    head += f" {'cpu med':>10}" if with_cpu else ""
    lines = [title, head]
    for s in stats:
        row = (f"{s.label:{width}} {fmt(s.median, unit):>10} "
               f"{fmt(s.q1, unit) + ' – ' + fmt(s.q3, unit):>21} "
               f"{fmt(min(s.samples), unit):>10} {fmt(max(s.samples), unit):>10}")
        if base:
            ratio = s.median / base
            row += f"  {ratio:5.2f}x" if ratio >= 0.1 else f"  {ratio:.4f}x"
        if with_cpu and s.cpu_median is not None:
            row += f" {fmt(s.cpu_median, unit):>10}"
        lines.append(row)
    counts = sorted({len(s.samples) for s in stats})
    runs = (f"{counts[0]} runs each" if len(counts) == 1
            else "runs: " + ", ".join(str(len(s.samples)) for s in stats))
    lines.append(f"({runs}" + (f"; ratio = median / median of '{baseline}')" if base else ")"))
    return "\n".join(lines)


def machine() -> dict[str, str]:
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": platform.machine(), "nproc": str(os.cpu_count()), "memory": mem,
            "python": platform.python_version(), "system": platform.system(),
            "loadavg": load}


def check(label: str, ok: bool, detail: str) -> dict[str, Any]:
    print(f"TARGET {label}: {'MET' if ok else 'MISSED'} ({detail})")
    return {"target": label, "met": ok, "detail": detail}


def save(name: str, payload: dict[str, Any]) -> Path:
    """bench/results/<name>.json, read by run_all.py to write the README table."""
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    body = {"machine": machine(), **payload}
    path.write_text(json.dumps(body, indent=2, default=_jsonable) + "\n")
    return path


def _jsonable(value: Any) -> Any:
    if isinstance(value, Stats):
        return value.as_dict()
    raise TypeError(f"not JSON: {value!r}")


def parser(doc: str | None, runs: int) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=runs, help=f"measured runs (default {runs}, >= 5)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/results/*.json")
    p.add_argument("--baseline", type=Path, metavar="TREE",
                   help="also time jobspec imported from TREE (a copy of the repo before a "
                   "change; see run_all.py --baseline-revert), in the same interleaved rounds")
    p.add_argument("--tree", type=Path, metavar="TREE",
                   help="time jobspec imported from TREE instead of the installed one")
    return p


def clean_env(**extra: str) -> dict[str, str]:
    """The current environment without anything that would steer jobspec or google clients.

    PYTHONDONTWRITEBYTECODE goes too (this machine's shell sets it): a pip-installed jobspec has
    its bytecode compiled, as yaml and pydantic do; without the cache every start would
    recompile jobspec's modules (~15 ms), which no user pays. The warm-up round writes it."""
    drop = ("JOBSPEC_", "STORAGE_EMULATOR_HOST", "CLOUDSDK_", "GOOGLE_", "PYTHONPATH",
            "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env
