"""Run every benchmark, then rewrite the figures section of bench/README.md from their output.

    python bench/run_all.py                       # default runs, the installed jobspec
    python bench/run_all.py --runs 5              # fewer runs each (>= 5)
    python bench/run_all.py --baseline-revert 9fd9458 58e0bbb 6a223ac 13137fe

--baseline-revert builds two copies of HEAD in a temp folder (git archive): one as it is and
one with the given commits' changes to jobspec/ reversed, and times both in the same
interleaved rounds (each script's --tree / --baseline), so before/after differ only by those
commits. Each script's full output goes into the README verbatim, below a summary table.
"""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import _timing as t

SCRIPTS = ["startup", "validate_throughput", "local_overhead", "sdist_build", "submission",
           "log_lag"]
TAKES_BASELINE = {"startup", "validate_throughput", "local_overhead", "submission"}
README = t.REPO / "bench" / "README.md"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


def git(*args: str) -> bytes:
    return subprocess.run(["git", *args], cwd=t.REPO, capture_output=True, check=True).stdout


def head_copy(root: Path, name: str) -> Path:
    tree = root / name
    tree.mkdir()
    with tarfile.open(fileobj=io.BytesIO(git("archive", "HEAD")), mode="r:") as tar:
        tar.extractall(tree, filter="data")
    return tree


def reverted_copy(root: Path, commits: list[str]) -> Path:
    tree = head_copy(root, "baseline")
    order = git("rev-list", "HEAD").decode().split()
    full = [git("rev-parse", c).decode().strip() for c in commits]
    for commit in sorted(full, key=order.index):  # newest first
        patch = git("diff", f"{commit}^", commit, "--", "jobspec/")
        subprocess.run(["git", "apply", "-R"], cwd=tree, input=patch, check=True)
    return tree


def run(name: str, extra: list[str]) -> str:
    argv = [sys.executable, str(t.REPO / "bench" / f"{name}.py"), *extra]
    print(f"\n$ python bench/{name}.py {' '.join(extra)}", flush=True)
    done = subprocess.run(argv, cwd=t.REPO, capture_output=True, text=True, check=False)
    print(done.stdout + done.stderr, flush=True)
    if done.returncode != 0:
        raise SystemExit(f"bench/{name}.py failed ({done.returncode})")
    return done.stdout


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((t.RESULTS / f"{name}.json").read_text())
    data["by_label"] = {s["label"]: s for s in data["stats"]}
    return data


def ms(seconds: float) -> str:
    return t.fmt(seconds)


def summary(baseline: bool) -> list[str]:
    rows = ["| benchmark | jobspec (median) | compared with (median) | result | target | met |",
            "|---|---|---|---|---|---|"]

    def add(*cells: str) -> None:
        rows.append("| " + " | ".join(cells) + " |")

    def met(data: dict[str, Any], i: int = 0) -> str:
        return "yes" if data["targets"][i]["met"] else "**no**"

    s = load("startup")
    b = s["by_label"]
    imports = b["python -c 'import yaml, pydantic'"]["median"]
    add("start-up: `jobspec validate specs/census.yaml`",
        ms(b["jobspec validate specs/census.yaml"]["median"]),
        f"`import yaml, pydantic` {ms(imports)}",
        f"+{ms(s['delta_validate_s'])}", "<= +150 ms", met(s))
    add("start-up: `jobspec --version`", ms(b["jobspec --version"]["median"]),
        f"`python -c pass` {ms(b['python -c pass']['median'])}",
        f"+{ms(s['delta_version_s'])}", "-", "-")
    v = load("validate_throughput")
    yaml_label = next(k for k in v["by_label"] if k.startswith("yaml.load"))
    add(f"validation throughput, {v['count']} specs in one `jobspec validate`",
        f"{v['rate']:,.0f} specs/s", f"{yaml_label}: {v['yaml_rate']:,.0f} files/s",
        f"{v['marginal_rate']:,.0f} specs/s after start-up", ">= 2,000 specs/s", met(v))
    lo = load("local_overhead")
    b = lo["by_label"]
    gcloud = b.get("gcloud ml-engine local train")
    add("local run of trainer.oops", ms(b["jobspec run specs/oops.yaml -t local"]["median"]),
        f"`python -m` {ms(b['python -m trainer.oops']['median'])}"
        + (f"; gcloud {ms(gcloud['median'])}" if gcloud else ""),
        f"{lo['ratio']:.2f}x python -m" + (
            f" (gcloud {gcloud['median'] / b['python -m trainer.oops']['median']:.1f}x)"
            if gcloud else ""), "<= 2x", met(lo))
    p = load("sdist_build")
    b = p["by_label"]
    add("sdist of trainer/", ms(b["jobspec build_sdist (in-process)"]["median"]),
        f"`setup.py sdist` {ms(b['python setup.py sdist (process)']['median'])}",
        f"{len(p['sha256'])} distinct sha256 in {p['runs']} runs", "<= 20 ms, identical bytes",
        "yes" if all(x["met"] for x in p["targets"]) else "**no**")
    sub = load("submission")
    b = sub["by_label"]
    fresh = b["jobspec --detach (uploads package)"]["median"]
    minimal = b["minimal script"]["median"]
    g = b.get("gcloud ai-platform jobs submit")
    add("detached cloud submission (package uploaded)", ms(fresh),
        f"minimal script {ms(minimal)}" + (f"; gcloud {ms(g['median'])}" if g else ""),
        f"{fresh / minimal:.2f}x minimal" + (f", {fresh / g['median']:.2f}x gcloud" if g else ""),
        "<= 1.25x minimal; < gcloud",
        " / ".join("yes" if x["met"] else "**no**" for x in sub["targets"][:2]))
    again = sub["counts"]["jobspec, re-submission"]
    add("re-submission of an unchanged package",
        ms(b["jobspec --detach (package staged)"]["median"]), "-",
        f"{again['package_upload_bytes']} package bytes uploaded "
        f"(first: {sub['counts']['jobspec, first submission']['package_upload_bytes']:,})",
        "0 bytes", met(sub, len(sub["targets"]) - 1))
    lag = load("log_lag")
    b = lag["by_label"]
    steady, sparse = b["steady: jobspec lag"], b["sparse: jobspec lag"]
    add("log lag, a line every 1 s", f"median {ms(steady['median'])}, max {ms(steady['max'])}",
        f"poll interval {lag['poll_min']:.0f} s", f"{steady['max'] / lag['poll_min']:.2f} "
        "intervals (max)", "<= 2 intervals", met(lag, 0))
    add("log lag, a line every 7 s", f"median {ms(sparse['median'])}, max {ms(sparse['max'])}",
        f"backed-off interval <= {lag['sparse_bound']:.1f} s",
        f"{sparse['max'] / lag['sparse_bound']:.2f} intervals (max)", "<= 2 intervals",
        met(lag, 1))
    if baseline:
        rows += ["", "Before/after (same interleaved rounds; baseline = HEAD with the "
                 "performance commits reverted):", "",
                 "| measure | before | after |", "|---|---|---|"]
        rows.append(f"| validate census.yaml over `import yaml, pydantic` | "
                    f"+{ms(s['baseline_delta_validate_s'])} | +{ms(s['delta_validate_s'])} |")
        rows.append(f"| validation throughput | {v['baseline_rate']:,.0f} specs/s | "
                    f"{v['rate']:,.0f} specs/s |")
        rows.append(f"| local run / python -m | {lo['baseline_ratio']:.2f}x | "
                    f"{lo['ratio']:.2f}x |")
        before = sub["by_label"].get("jobspec --detach (uploads package) [baseline]")
        if before:
            rows.append(f"| detached submission / minimal script | "
                        f"{before['median'] / minimal:.2f}x ({ms(before['median'])}) | "
                        f"{fresh / minimal:.2f}x ({ms(fresh)}) |")
    return rows


def write_readme(outputs: dict[str, str], baseline: bool, note: str) -> None:
    m = t.machine()
    first = load(SCRIPTS[0])["machine"]
    body = [START, "",
            f"Generated by `python bench/run_all.py{note}` on {m['date']}: {m['machine']}, "
            f"{m['nproc']} CPUs, {m['memory']} RAM, Python {m['python']} ({m['system']}). "
            f"Load average at the start: {first['loadavg']}; at the end: {m['loadavg']} "
            "(the machine is shared: other work runs beside the benchmarks, so wall times are "
            "noisy; every comparison is interleaved in the same rounds, and cpu medians are "
            "shown where they exist).", "", *summary(baseline), ""]
    for name, text in outputs.items():
        body += [f"<details><summary><code>bench/{name}.py</code> output</summary>", "",
                 "```", text.rstrip(), "```", "</details>", ""]
    body.append(END)
    readme = README.read_text()
    head, _, rest = readme.partition(START)
    _, _, tail = rest.partition(END)
    README.write_text(head + "\n".join(body) + tail)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, help="runs per script (default: each script's own)")
    p.add_argument("--baseline-revert", nargs="+", metavar="COMMIT", default=[])
    p.add_argument("--only", nargs="+", choices=SCRIPTS, default=SCRIPTS)
    p.add_argument("--no-readme", action="store_true")
    args = p.parse_args()
    outputs: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="jobspec-bench-trees-") as tmp:
        trees: list[str] = []
        if args.baseline_revert:
            current = head_copy(Path(tmp), "current")
            baseline = reverted_copy(Path(tmp), args.baseline_revert)
            trees = ["--tree", str(current), "--baseline", str(baseline)]
        for name in args.only:
            extra = ["--runs", str(args.runs)] if args.runs else []
            if name in TAKES_BASELINE:
                extra += trees
            outputs[name] = run(name, extra)
    if not args.no_readme and set(args.only) == set(SCRIPTS):
        note = f" --runs {args.runs}" if args.runs else ""
        if args.baseline_revert:
            note += " --baseline-revert " + " ".join(args.baseline_revert)
        write_readme(outputs, bool(args.baseline_revert), note)
        print(f"wrote {README}")


if __name__ == "__main__":
    main()
