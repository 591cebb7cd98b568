"""Local run overhead: `jobspec run specs/oops.yaml --target local` for the trivial trainer.

Compared in the same run, interleaved, all from the repository root:
- `python -m trainer.oops` (the baseline: what any runner must at least do);
- `gcloud ml-engine local train --module-name trainer.oops --package-path trainer` (gcloud 528,
  with a temporary CLOUDSDK_CONFIG, prompts and metrics off, no GCE metadata check).

The interpreter's folder goes first on PATH, so gcloud's child `python` is the same real
interpreter jobspec uses, not a pyenv shim. Target: jobspec <= 2x bare `python -m`.

    python bench/local_overhead.py [--runs 10]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import partial

import _timing as t

TARGET_RATIO = 2.0


def main() -> None:
    args = t.parser(__doc__, runs=10).parse_args()
    gcloud = shutil.which("gcloud")
    with tempfile.TemporaryDirectory(prefix="jobspec-bench-gcloud-") as config:
        env = t.clean_env(PATH=f"{t.BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        gcloud_env = {**env, "CLOUDSDK_CONFIG": config, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
                      "CLOUDSDK_METRICS_ENVIRONMENT": "bench",
                      "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false"}
        run = partial(t.run_process, cwd=t.REPO)
        candidates = {
            "python -m trainer.oops": partial(run, [t.PYTHON, "-m", "trainer.oops"], env=env),
        }
        for suffix, jobspec in t.sides(args.baseline, args.tree):
            candidates["jobspec run specs/oops.yaml -t local" + suffix] = partial(
                run, [*jobspec, "run", "specs/oops.yaml", "--target", "local"], env=env)
        if gcloud:
            candidates["gcloud ml-engine local train"] = partial(
                run, [gcloud, "ml-engine", "local", "train", "--module-name", "trainer.oops",
                      "--package-path", "trainer"], env=gcloud_env)
        else:
            print("gcloud not found: comparing with python -m only")
        stats = t.interleave(candidates, runs=args.runs, warmup=1)
    rows = list(stats.values())
    print(t.table("local run of trainer.oops (wall time per process)", rows,
                  baseline="python -m trainer.oops"))
    base = stats["python -m trainer.oops"].median
    ratio = stats["jobspec run specs/oops.yaml -t local"].median / base
    over = stats["jobspec run specs/oops.yaml -t local"].median - base
    print(f"\njobspec adds {t.fmt(over)} to the trainer's own run")
    if gcloud:
        g = stats["gcloud ml-engine local train"].median
        print(f"gcloud adds {t.fmt(g - base)} ({g / base:.1f}x); jobspec's overhead is "
              f"{over / (g - base):.0%} of gcloud's")
    result = t.check("jobspec local <= 2x python -m", ratio <= TARGET_RATIO,
                     f"{ratio:.2f}x, limit {TARGET_RATIO:.0f}x")
    payload: dict[str, object] = {"stats": rows, "ratio": ratio, "overhead_s": over,
                                  "targets": [result]}
    if args.baseline:
        before = stats["jobspec run specs/oops.yaml -t local [baseline]"].median / base
        print(f"baseline tree: {before:.2f}x python -m")
        payload["baseline_ratio"] = before
    if not args.no_save:
        t.save("local_overhead", payload)


if __name__ == "__main__":
    main()
