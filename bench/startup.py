"""Start-up cost: `jobspec --version` and `jobspec validate specs/census.yaml`.

Baselines, measured in the same run and interleaved: `python -c pass` and
`python -c "import yaml, pydantic"`. Target: validating one spec costs <= 150 ms more than
importing yaml and pydantic.

    python bench/startup.py [--runs 20]
"""

from __future__ import annotations

from functools import partial

import _timing as t

TARGET_DELTA = 0.150


def main() -> None:
    args = t.parser(__doc__, runs=20).parse_args()
    env = t.clean_env()
    run = partial(t.run_process, env=env, cwd=t.REPO)
    candidates = {
        "python -c pass": partial(run, [t.PYTHON, "-c", "pass"]),
        "python -c 'import yaml, pydantic'": partial(run, [t.PYTHON, "-c",
                                                            "import yaml, pydantic"]),
    }
    for suffix, jobspec in t.sides(args.baseline, args.tree):
        candidates["jobspec --version" + suffix] = partial(run, [*jobspec, "--version"])
        candidates["jobspec validate specs/census.yaml" + suffix] = partial(
            run, [*jobspec, "validate", "specs/census.yaml"])
    stats = t.interleave(candidates, runs=args.runs, warmup=2)
    rows = list(stats.values())
    print(t.table("start-up (wall time per process)", rows, baseline="python -c pass"))
    print()
    print(t.table("against importing yaml and pydantic", rows,
                  baseline="python -c 'import yaml, pydantic'"))
    delta = (stats["jobspec validate specs/census.yaml"].median
             - stats["python -c 'import yaml, pydantic'"].median)
    version_delta = stats["jobspec --version"].median - stats["python -c pass"].median
    cpu_delta = (stats["jobspec validate specs/census.yaml"].cpu_median or 0.0) - (
        stats["python -c 'import yaml, pydantic'"].cpu_median or 0.0)
    print(f"\nvalidate costs {t.fmt(delta)} more than importing yaml + pydantic "
          f"(cpu: {t.fmt(cpu_delta)}); --version costs {t.fmt(version_delta)} more than "
          "python -c pass")
    result = t.check("validate <= import yaml+pydantic + 150 ms", delta <= TARGET_DELTA,
                     f"+{delta * 1e3:.0f} ms, limit +{TARGET_DELTA * 1e3:.0f} ms")
    payload: dict[str, object] = {"stats": rows, "delta_validate_s": delta,
                                  "cpu_delta_validate_s": cpu_delta,
                                  "delta_version_s": version_delta, "targets": [result]}
    if args.baseline:
        before = (stats["jobspec validate specs/census.yaml [baseline]"].median
                  - stats["python -c 'import yaml, pydantic'"].median)
        print(f"baseline tree: validate costs {t.fmt(before)} more than yaml + pydantic")
        payload["baseline_delta_validate_s"] = before
    if not args.no_save:
        t.save("startup", payload)


if __name__ == "__main__":
    main()
