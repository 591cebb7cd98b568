"""Validation throughput: one `jobspec validate` over 1,000 generated, varied, valid specs.

The specs (seeded, reproducible) live in a temp folder beside a trainer package, a third of
them small (one local target), a third medium (local + cloud, args, env, labels), a third
large (four targets with `extends`, interpolation, distributed, GPU). Compared in the same
run, each as ONE fresh process over the same 1,000 files (so both pay interpreter start-up):

- `python -c` reading every file and `yaml.load(text, Loader=yaml.CSafeLoader)` (parse only);
- `jobspec validate` of a single spec, to separate start-up from per-spec cost;
- `jobspec validate` of all of them with `JOBSPEC_JOBS=1`: one process, no forked copies (by
  default, from 50 files on, validate forks one copy per core after its imports).

Target: >= 2,000 specs/s, counting the whole command (1,000 specs / wall time), as it runs by
default; the single-process rate is printed and checked beside it.

    python bench/validate_throughput.py [--runs 7] [--count 1000]
"""

from __future__ import annotations

import random
import tempfile
from functools import partial
from pathlib import Path
from typing import Any

import _timing as t
import yaml

TARGET_RATE = 2000.0

YAML_ONLY = """
import sys, yaml
for name in sys.argv[1:]:
    with open(name, "rb") as fh:
        yaml.load(fh.read().decode("utf-8"), Loader=yaml.CSafeLoader)
print(len(sys.argv) - 1)
"""

IMAGES = ["us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
          "europe-docker.pkg.dev/vertex-ai/training/tf-cpu.2-16.py310:latest",
          "us-docker.pkg.dev/vertex-ai/training/pytorch-xla.2-4.py310:latest"]
GPU_IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-gpu.2-17.py310:latest"
REGIONS = ["us-central1", "europe-west4", "asia-east1", "us-east1"]
TIERS = ["BASIC", "STANDARD_1", "PREMIUM_1"]
REQS = ["numpy", "pandas>=1.5", "scikit-learn==1.3.2", "tensorflow-datasets", "pyarrow<15"]


def _args(rng: random.Random, n: int) -> list[Any]:
    forms = [lambda: f"--train-steps={rng.randint(1, 100000)}",
             lambda: f"--learning-rate={rng.choice(['0.1', '0.01', '3e-4'])}",
             lambda: "--train-files=data/train-${name}.csv",
             lambda: "--verbose",
             lambda: rng.randint(0, 999),
             lambda: f"--batch-size={2 ** rng.randint(3, 10)}",
             lambda: "--eval-files=data/eval.csv"]
    return [rng.choice(forms)() for _ in range(n)]


def _env(rng: random.Random, n: int) -> dict[str, Any]:
    values = ["1", "${HOME:-/root}", "info", "on", 4, "a b c", "${name}"]
    return {f"VAR_{rng.randint(0, 99)}_{i}": rng.choice(values) for i in range(n)}


def _cloud(rng: random.Random, i: int) -> dict[str, Any]:
    body: dict[str, Any] = {"project": "${GOOGLE_CLOUD_PROJECT:-bench-project}",
                            "bucket": f"bench-bucket-{i % 17}",
                            "region": rng.choice(REGIONS)}
    if rng.random() < 0.7:
        body["executor_image"] = rng.choice(IMAGES)
    else:
        body["runtime_version"] = rng.choice(["2.11", "1.15", "2.1"])
    body["scale_tier"] = rng.choice(TIERS)
    body["job_dir"] = "gs://${bucket}/${name}"
    if rng.random() < 0.5:
        body["labels"] = {"team": rng.choice(["ml", "search", "ads"]), "run": f"r{i}"}
    if rng.random() < 0.4:
        body["max_running_time"] = rng.choice(["90m", "2h", 3600])
    if rng.random() < 0.3:
        body["name_suffix"] = rng.choice(["counter", "timestamp", "none"])
    body["args"] = ["--train-files=gs://${bucket}/data/train.csv"]
    return body


def generate(i: int, rng: random.Random) -> dict[str, Any]:
    size = i % 3
    spec: dict[str, Any] = {"version": 1, "name": f"bench_job_{i}"}
    if size:
        spec["description"] = f"generated spec {i} ({['small', 'medium', 'large'][size]})"
    spec["trainer"] = {"package_path": "../trainer",
                       "module": rng.choice(["trainer.task", "trainer.oops"])}
    if size and rng.random() < 0.6:
        spec["trainer"]["requirements"] = rng.sample(REQS, rng.randint(1, 3))
    spec["args"] = _args(rng, [rng.randint(0, 2), rng.randint(2, 6), rng.randint(4, 10)][size])
    if size:
        spec["env"] = _env(rng, rng.randint(0, 4))
    local: dict[str, Any] = {}
    if rng.random() < 0.6:
        local["job_dir"] = "output/${name}"
    if size and rng.random() < 0.5:
        local["args"] = ["--train-files=data/census/adult.data.csv"]
    targets: dict[str, Any] = {"local": local}
    if size == 0 and rng.random() < 0.3:
        targets["local"]["distributed"] = {"workers": rng.randint(0, 3)}
    if size >= 1:
        targets["cloud"] = _cloud(rng, i)
    if size == 2:
        targets["local-distributed"] = {
            "extends": "local", "kind": "local",
            "distributed": {"workers": rng.randint(1, 4), "parameter_servers": rng.randint(0, 2),
                            "evaluators": rng.randint(0, 1), "start_port": 27182}}
        gpu = {"kind": "cloud", "extends": "cloud", "scale_tier": "BASIC_GPU"}
        if "executor_image" in targets["cloud"]:
            gpu["executor_image"] = GPU_IMAGE
        targets["cloud-gpu"] = gpu
    spec["targets"] = targets
    return spec


def write_corpus(root: Path, count: int, seed: int = 20240501) -> list[Path]:
    trainer = root / "trainer"
    trainer.mkdir()
    (trainer / "__init__.py").write_text("")
    (trainer / "task.py").write_text("print('task')\n")
    (trainer / "oops.py").write_text("print('oops')\n")
    specs = root / "specs"
    specs.mkdir()
    rng = random.Random(seed)
    paths = []
    for i in range(count):
        text = "# generated by bench/validate_throughput.py\n" + yaml.safe_dump(
            generate(i, rng), sort_keys=False, default_flow_style=False)
        path = specs / f"spec_{i:04d}.yaml"
        path.write_text(text)
        paths.append(path)
    return paths


def main() -> None:
    p = t.parser(__doc__, runs=7)
    p.add_argument("--count", type=int, default=1000)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="jobspec-bench-") as tmp:
        root = Path(tmp)
        paths = write_corpus(root, args.count)
        names = [str(p.relative_to(root)) for p in paths]
        size = sum(p.stat().st_size for p in paths)
        print(f"{len(paths)} specs, {size / len(paths):.0f} bytes on average, in {root}")
        env = t.clean_env()
        run = partial(t.run_process, env=env, cwd=root)
        candidates = {
            f"yaml.load CSafeLoader x{len(names)}": partial(run, [t.PYTHON, "-c", YAML_ONLY,
                                                                  *names]),
        }
        single = partial(t.run_process, env=t.clean_env(JOBSPEC_JOBS="1"), cwd=root)
        for suffix, jobspec in t.sides(args.baseline, args.tree):
            run([*jobspec, "validate", *names])  # every generated spec must be valid
            candidates["jobspec validate (1 spec)" + suffix] = partial(
                run, [*jobspec, "validate", names[-1]])
            candidates[f"jobspec validate x{len(names)}" + suffix] = partial(
                run, [*jobspec, "validate", *names])
            if not suffix:
                candidates[f"jobspec validate x{len(names)}, one process"] = partial(
                    single, [*jobspec, "validate", *names])
        stats = t.interleave(candidates, runs=args.runs, warmup=1)
    rows = list(stats.values())
    print(t.table("validation, one process each", rows,
                  baseline=f"yaml.load CSafeLoader x{len(names)}"))
    many = stats[f"jobspec validate x{len(names)}"].median
    alone = stats[f"jobspec validate x{len(names)}, one process"].median
    one = stats["jobspec validate (1 spec)"].median
    yaml_rate = len(names) / stats[f"yaml.load CSafeLoader x{len(names)}"].median
    rate = len(names) / many
    single_rate = len(names) / alone
    marginal = (len(names) - 1) / (many - one)
    single_marginal = (len(names) - 1) / (alone - one)
    print(f"\njobspec: {rate:,.0f} specs/s overall; {marginal:,.0f} specs/s after start-up "
          f"({(many - one) / (len(names) - 1) * 1e3:.2f} ms per spec); "
          f"yaml.load alone: {yaml_rate:,.0f} files/s overall")
    print(f"jobspec, one process (JOBSPEC_JOBS=1): {single_rate:,.0f} specs/s overall; "
          f"{single_marginal:,.0f} specs/s after start-up "
          f"({(alone - one) / (len(names) - 1) * 1e3:.2f} ms per spec)")
    result = t.check(">= 2,000 specs/s", rate >= TARGET_RATE,
                     f"{rate:,.0f} specs/s, {rate / TARGET_RATE:.2f}x the target")
    alone_result = t.check(">= 2,000 specs/s in one process", single_rate >= TARGET_RATE,
                           f"{single_rate:,.0f} specs/s, {single_rate / TARGET_RATE:.2f}x "
                           "the target")
    payload: dict[str, object] = {
        "stats": rows, "count": len(names), "avg_bytes": size / len(names), "rate": rate,
        "marginal_rate": marginal, "yaml_rate": yaml_rate, "single_rate": single_rate,
        "single_marginal_rate": single_marginal, "targets": [result, alone_result]}
    if args.baseline:
        before = len(names) / stats[f"jobspec validate x{len(names)} [baseline]"].median
        print(f"baseline tree: {before:,.0f} specs/s overall")
        payload["baseline_rate"] = before
    if not args.no_save:
        t.save("validate_throughput", payload)


if __name__ == "__main__":
    main()
