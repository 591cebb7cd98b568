"""Packaging: jobspec's in-memory sdist of trainer/ against `python setup.py sdist`.

- jobspec: `jobspec.package.build_sdist(trainer/, repo_root=<repo>)` in this process, exactly as
  the planner calls it (walk, ignore rules, secret checks, deterministic tar.gz, hashes).
- setuptools: `python setup.py sdist` (a fresh process, as gcloud runs it) in a temp project
  holding a copy of trainer/ and the setup.py gcloud would generate for it.

Every run's sha256 is printed: jobspec's must be identical run to run; setuptools' are shown
for contrast (its tar and gzip headers carry the build time). Target: <= 20 ms per sdist.

    python bench/sdist_build.py [--runs 30]
"""

from __future__ import annotations

import hashlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import _timing as t

TARGET_S = 0.020


def main() -> None:
    args = t.parser(__doc__, runs=30).parse_args()
    sys.path.insert(0, str(t.REPO))
    from jobspec.package import _generated_setup_py, build_sdist

    trainer = t.REPO / "trainer"
    ours: list[str] = []
    theirs: list[str] = []

    def jobspec_sdist() -> float:
        start = time.perf_counter()
        package = build_sdist(trainer, repo_root=t.REPO)
        elapsed = time.perf_counter() - start
        ours.append(package.sha256)
        return elapsed

    with tempfile.TemporaryDirectory(prefix="jobspec-bench-sdist-") as tmp:
        project = Path(tmp) / "project"
        shutil.copytree(trainer, project / "trainer",
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        (project / "setup.py").write_bytes(_generated_setup_py("trainer", []))
        dist = Path(tmp) / "dist"

        def setuptools_sdist() -> tuple[float, float]:
            shutil.rmtree(dist, ignore_errors=True)
            timing = t.run_process([t.PYTHON, "setup.py", "-q", "sdist", "--dist-dir", str(dist)],
                                   cwd=project, env=t.clean_env())
            built = sorted(dist.glob("*.tar.gz"))
            theirs.append(hashlib.sha256(built[0].read_bytes()).hexdigest())
            return timing

        # setup.py costs ~0.3 s a run: fewer of them, still interleaved with ours
        setuptools_runs = max(5, min(args.runs, 10))
        stats = t.interleave({"jobspec build_sdist (in-process)": jobspec_sdist},
                             runs=args.runs, warmup=3)
        stats.update(t.interleave({"python setup.py sdist (process)": setuptools_sdist},
                                  runs=setuptools_runs, warmup=1))
        package = build_sdist(trainer, repo_root=t.REPO)
    ours = ours[3:]
    theirs = theirs[1:]
    rows = [stats["python setup.py sdist (process)"], stats["jobspec build_sdist (in-process)"]]
    print(f"trainer/: {len(package.files)} files, sdist {package.size:,} bytes, "
          f"excluded: {', '.join(f'{e.path} ({e.reason})' for e in package.excluded) or 'none'}")
    print(t.table("sdist of trainer/", rows, baseline="python setup.py sdist (process)"))
    print(f"\njobspec sha256 over {len(ours)} runs: {len(set(ours))} distinct "
          f"({sorted(set(ours))[0][:16]}...)")
    print(f"setup.py sha256 over {len(theirs)} runs: {len(set(theirs))} distinct")
    median = stats["jobspec build_sdist (in-process)"].median
    results = [
        t.check("sdist <= 20 ms", median <= TARGET_S,
                f"{median * 1e3:.1f} ms, limit {TARGET_S * 1e3:.0f} ms"),
        t.check("sdist bytes identical across runs", len(set(ours)) == 1,
                f"{len(set(ours))} distinct sha256 in {len(ours)} runs"),
    ]
    if not args.no_save:
        t.save("sdist_build", {"stats": rows, "sha256": sorted(set(ours)),
                             "setuptools_distinct": len(set(theirs)), "runs": len(ours),
                             "size": package.size, "files": len(package.files),
                             "targets": results})


if __name__ == "__main__":
    main()
