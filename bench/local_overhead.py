"""Local run overhead, and the cost of `validate`, whole processes, all in one interleaved run.

Compared in the same rounds, all from the repository root:
- `python -m trainer.oops` (the baseline: what any runner must at least do);
- `jobspec run specs/oops.yaml --target local` on a warm plan cache (the second identical
  command: the cached plan runs without importing YAML, pydantic or click), and cold (the
  cache cleared before each run: a full plan, then the run, then the cache written);
- `jobspec validate specs/census.yaml` against `python -c 'import yaml, pydantic'` (what any
  validator built on those two must at least pay);
- `gcloud ml-engine local train --module-name trainer.oops --package-path trainer` (gcloud 528,
  with a temporary CLOUDSDK_CONFIG, prompts and metrics off, no GCE metadata check), when
  gcloud is on PATH and --gcloud is given.

A local run includes jobspec's supervisor process for the task (jobspec/_supervise.py): it is
in every jobspec row, and in the cpu column (user + system of the process and its children).

The interpreter's folder goes first on PATH, so gcloud's child `python` is the same real
interpreter jobspec uses, not a pyenv shim. Targets: the warm local run <= 2x bare `python -m`;
validate <= `import yaml, pydantic` + 100 ms.

    python bench/local_overhead.py [--runs 9] [--tree .] [--baseline ../main] [--gcloud]
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from functools import partial

import _timing as t

TARGET_RATIO = 2.0
VALIDATE_MARGIN = 0.100
RUN = "jobspec run specs/oops.yaml -t local"
VALIDATE = "jobspec validate specs/census.yaml"
IMPORTS = "python -c 'import yaml, pydantic'"
BARE = "python -m trainer.oops"


def _cold(run: Callable[[], t.Sample]) -> t.Sample:
    shutil.rmtree(t.REPO / ".jobspec" / "plans", ignore_errors=True)
    return run()


def main() -> None:
    p = t.parser(__doc__, runs=9)
    p.add_argument("--gcloud", action="store_true", help="also time gcloud (slow)")
    args = p.parse_args()
    gcloud = shutil.which("gcloud") if args.gcloud else None
    with tempfile.TemporaryDirectory(prefix="jobspec-bench-gcloud-") as config:
        env = t.clean_env(PATH=f"{t.BIN}{os.pathsep}{os.environ.get('PATH', '')}")
        gcloud_env = {**env, "CLOUDSDK_CONFIG": config, "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
                      "CLOUDSDK_METRICS_ENVIRONMENT": "bench",
                      "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false"}
        run = partial(t.run_process, cwd=t.REPO)
        candidates: dict[str, Callable[[], t.Sample]] = {
            BARE: partial(run, [t.PYTHON, "-m", "trainer.oops"], env=env),
            IMPORTS: partial(run, [t.PYTHON, "-c", "import yaml, pydantic"], env=env),
        }
        for suffix, jobspec in t.sides(args.baseline, args.tree):
            local = [*jobspec, "run", "specs/oops.yaml", "--target", "local"]
            if not suffix:  # the baseline tree has no plan cache: its runs are all "cold"
                candidates[RUN + " (cold)"] = partial(_cold, partial(run, local, env=env))
            candidates[RUN + suffix] = partial(run, local, env=env)
            candidates[VALIDATE + suffix] = partial(
                run, [*jobspec, "validate", "specs/census.yaml"], env=env)
        if gcloud:
            candidates["gcloud ml-engine local train"] = partial(
                run, [gcloud, "ml-engine", "local", "train", "--module-name", "trainer.oops",
                      "--package-path", "trainer"], env=gcloud_env)
        stats = t.interleave(candidates, runs=args.runs, warmup=1)
    rows = list(stats.values())
    print(t.machine())
    print(t.table("local run of trainer.oops, and validate (wall time per process)", rows,
                  baseline=BARE))
    base = stats[BARE].median
    ratio = stats[RUN].median / base
    over = stats[RUN].median - base
    cold = stats[RUN + " (cold)"].median / base
    print(f"\njobspec (warm cache) adds {t.fmt(over)} to the trainer's own run; cold: "
          f"{t.fmt(stats[RUN + ' (cold)'].median - base)}")
    validate_over = stats[VALIDATE].median - stats[IMPORTS].median
    print(f"validate costs {t.fmt(validate_over)} more than importing yaml and pydantic")
    if gcloud:
        g = stats["gcloud ml-engine local train"].median
        print(f"gcloud adds {t.fmt(g - base)} ({g / base:.1f}x)")
    results = [
        t.check("jobspec local (warm) <= 2x python -m", ratio <= TARGET_RATIO,
                f"{ratio:.2f}x, limit {TARGET_RATIO:.0f}x; cold {cold:.2f}x"),
        t.check("validate <= import yaml, pydantic + 100 ms", validate_over <= VALIDATE_MARGIN,
                f"+{t.fmt(validate_over)}, limit +{t.fmt(VALIDATE_MARGIN)}"),
    ]
    payload: dict[str, object] = {"stats": rows, "ratio": ratio, "cold_ratio": cold,
                                  "overhead_s": over, "validate_over_imports_s": validate_over,
                                  "targets": results}
    if args.baseline:
        before = stats[RUN + " [baseline]"].median / base
        print(f"baseline tree: local run {before:.2f}x python -m; validate "
              f"+{t.fmt(stats[VALIDATE + ' [baseline]'].median - stats[IMPORTS].median)}")
        payload["baseline_ratio"] = before
    if not args.no_save:
        t.save("local_overhead", payload)


if __name__ == "__main__":
    main()
