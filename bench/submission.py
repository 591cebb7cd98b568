"""Detached cloud submission against the stand-ins, phase by phase, with two comparisons.

All three submit the trivial trainer (trainer/, module trainer.oops) to the same loopback
stand-ins: fake-gcs-server (tests/standins/gcs.py) and the Vertex AI / ML v1 stand-in
(tests/standins/vertex.py, jobs stay queued). Each run is a fresh process with a unique name:

- jobspec: `jobspec run specs/oops.yaml --target cloud --detach --name N --set
  targets.cloud.bucket=B`, twice per round: with a fresh staging prefix (the package is
  uploaded, like-for-like with the others) and with the shared one (already staged: a
  re-submission). Phases come from jobspec itself (JOBSPEC_TIMINGS, jobspec/timings.py).
- minimal: bench/_minimal_submit.py: tarfile + google-cloud-storage upload + discovery
  customJobs.create; no name check, no claim, no retry logic.
- gcloud: `gcloud ai-platform jobs submit training` (ML v1) pointed at the same stand-ins with
  gcloud's endpoint-override recipe; it builds the sdist with setup.py and uploads it.

A last pass sends each through a counting proxy (bench/_proxy.py) to count requests and the
bytes sent to the emulator's upload routes: a re-submission of an unchanged package must send
0 package bytes (the staged object's generation must not change either).

Targets: jobspec (uploading) <= 1.25x minimal; faster than gcloud; re-submission uploads 0 bytes.

    python bench/submission.py [--runs 7]
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _timing as t
from _proxy import CountingProxy

TARGET_RATIO = 1.25
BUCKET = "jobspec-bench"
PROJECT = "test"
REGION = "us-central1"
JOBSPEC_PHASES = ["plan", "package", "connect", "preflight", "claim", "upload", "create",
                  "record", "exit"]
PHASE_NOTES = {
    "plan": "interpreter start, imports, load + validate, plan",
    "package": "import jobspec.package, build_sdist (in plan)",
    "connect": "google-cloud-storage / googleapiclient imports, clients",
    "preflight": "bucket check, name check (list NAME/)",
    "claim": "create NAME/.jobspec/claim.json if absent",
    "upload": "staged? (GET), upload if not",
    "create": "customJobs.create + look-up by submission label",
    "record": "claim update with the job name",
    "exit": "messages, close clients, interpreter exit",
}


def phases(marks: list[tuple[str, float]], start: float, end: float) -> dict[str, float]:
    """Marks say 'phase X ended at t'; time before the first mark belongs to the first."""
    out: dict[str, float] = defaultdict(float)
    previous = start
    for phase, when in marks:
        out[phase] += when - previous
        previous = when
    out["exit"] += end - previous
    return dict(out)


class Bench:
    def __init__(self, gcs_url: str, vertex_url: str, tmp: Path) -> None:
        self.tmp = tmp
        self.timings = tmp / "timings.jsonl"
        path = f"{t.BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        self.base = t.clean_env(PATH=path, DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA="1")
        self.set_urls(gcs_url, vertex_url)
        token = tmp / "token"
        token.write_text("bench-token\n")
        self.gcloud_config = tmp / "gcloud"
        self.gcloud_config.mkdir()
        self.token = token
        self.phase_samples: dict[str, dict[str, list[float]]] = defaultdict(
            lambda: defaultdict(list))

    def set_urls(self, gcs_url: str, vertex_url: str) -> None:
        self.gcs_url, self.vertex_url = gcs_url, vertex_url

    def env(self, **extra: str) -> dict[str, str]:
        return {**self.base, "STORAGE_EMULATOR_HOST": self.gcs_url,
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": self.vertex_url,
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": self.vertex_url,
                "GOOGLE_CLOUD_PROJECT": PROJECT, **extra}

    def _timed(self, label: str, argv: list[str], env: dict[str, str],
               marks_of: Callable[[bytes], list[tuple[str, float]]] | None) -> tuple[float, float]:
        self.timings.unlink(missing_ok=True)
        start = time.time()
        wall, cpu, out = t.run_process_output(argv, env=env, cwd=t.REPO)
        end = start + wall
        if marks_of is not None:
            for phase, value in phases(marks_of(out), start, end).items():
                self.phase_samples[label][phase].append(value)
        return wall, cpu

    def _jobspec_marks(self, _out: bytes) -> list[tuple[str, float]]:
        lines = self.timings.read_text().splitlines()
        return [(d["phase"], d["t"]) for d in map(json.loads, lines)]

    def jobspec(self, label: str, fresh_package: bool, launcher: list[str] | None = None
                ) -> tuple[float, float]:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        argv = [*(launcher or [t.jobspec_exe()]), "run", "specs/oops.yaml", "--target", "cloud",
                "--detach", "--name", name, "--set", f"targets.cloud.bucket={BUCKET}"]
        if fresh_package:
            argv += ["--set", f"targets.cloud.staging_prefix=fresh/{name}"]
        return self._timed(label, argv, self.env(JOBSPEC_TIMINGS=str(self.timings)),
                           self._jobspec_marks)

    def minimal(self, label: str) -> tuple[float, float]:
        name = f"minimal_{uuid.uuid4().hex[:12]}"
        argv = [t.PYTHON, str(t.REPO / "bench" / "_minimal_submit.py"), "trainer", BUCKET,
                PROJECT, REGION, name, self.vertex_url]

        def marks(out: bytes) -> list[tuple[str, float]]:
            return list(json.loads(out.decode().strip().splitlines()[-1])["marks"].items())

        return self._timed(label, argv, self.env(), marks)

    def gcloud(self, label: str) -> tuple[float, float]:
        name = f"gcloud_{uuid.uuid4().hex[:12]}"
        env = {**self.base, "CLOUDSDK_CONFIG": str(self.gcloud_config),
               "CLOUDSDK_CORE_PROJECT": PROJECT,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_ML": self.vertex_url,
               "CLOUDSDK_API_ENDPOINT_OVERRIDES_STORAGE": f"{self.gcs_url}/storage/v1/",
               "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(self.token),
               "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
               "CLOUDSDK_METRICS_ENVIRONMENT": "bench", "CLOUDSDK_CORE_DISABLE_PROMPTS": "1"}
        gcloud = shutil.which("gcloud") or "gcloud"
        argv = [gcloud, "ai-platform", "jobs", "submit", "training", name,
                "--module-name", "trainer.oops", "--package-path", "trainer",
                "--job-dir", f"gs://{BUCKET}/{name}", "--region", REGION,
                "--runtime-version", "2.11", "--python-version", "3.7"]
        return self._timed(label, argv, env, None)


def phase_table(bench: Bench, label: str, order: list[str], notes: dict[str, str]) -> str:
    samples = bench.phase_samples[label]
    lines = [f"{label}: phases (median of {len(next(iter(samples.values())))} runs)"]
    total = 0.0
    for phase in order:
        if phase in samples:
            value = sorted(samples[phase])[len(samples[phase]) // 2]
            total += value
            lines.append(f"  {phase:10} {t.fmt(value):>10}   {notes.get(phase, '')}")
    lines.append(f"  {'sum':10} {t.fmt(total):>10}   (medians do not add up exactly)")
    return "\n".join(lines)


def count_pass(bench: Bench, gcs: Any, vertex: Any) -> dict[str, Any]:
    """Each tool once through the counting proxy; jobspec twice with the same package."""
    proxy = CountingProxy(gcs.url).start()
    direct = bench.gcs_url
    bench.set_urls(proxy.url, bench.vertex_url)
    report: dict[str, Any] = {}
    prefix = f"counted/{uuid.uuid4().hex[:8]}"

    def one(label: str, run: Callable[[], object], package_prefix: str | None) -> None:
        proxy.clear()
        before = len(vertex.requests)
        run()
        sent = list(proxy.sent)
        uploads = [s for s in sent if s.is_upload]
        package = [s for s in uploads if package_prefix and s.object_name
                   and s.object_name.startswith(package_prefix)]
        report[label] = {
            "gcs_requests": len(sent), "vertex_requests": len(vertex.requests) - before,
            "upload_requests": len(uploads), "upload_bytes": sum(s.body_bytes for s in uploads),
            "package_upload_bytes": sum(s.body_bytes for s in package),
            "requests": [f"{s.method} {s.path.split('?')[0]}" for s in sent]}

    def jobspec_same_prefix() -> None:
        name = f"bench_{uuid.uuid4().hex[:12]}"
        t.run_process([t.jobspec_exe(), "run", "specs/oops.yaml", "--target", "cloud",
                       "--detach", "--name", name, "--set", f"targets.cloud.bucket={BUCKET}",
                       "--set", f"targets.cloud.staging_prefix={prefix}"],
                      env=bench.env(), cwd=t.REPO)

    try:
        one("jobspec, first submission", jobspec_same_prefix, prefix)
        staged = [n for n in gcs.list_objects(BUCKET, prefix + "/") if n.endswith(".tar.gz")]
        generation = gcs.object_metadata(BUCKET, staged[0])["generation"]
        one("jobspec, re-submission", jobspec_same_prefix, prefix)
        report["jobspec, re-submission"]["generation_unchanged"] = (
            gcs.object_metadata(BUCKET, staged[0])["generation"] == generation)
        one("minimal", lambda: bench.minimal("count"), "minimal_")
        one("gcloud", lambda: bench.gcloud("count"), "gcloud_")
    finally:
        bench.set_urls(direct, bench.vertex_url)
        proxy.stop()
    return report


def main() -> None:
    args = t.parser(__doc__, runs=7).parse_args()
    sys.path.insert(0, str(t.REPO))
    from tests.standins.gcs import GcsEmulator
    from tests.standins.vertex import VertexStandin

    with (tempfile.TemporaryDirectory(prefix="jobspec-bench-submit-") as tmp,
          GcsEmulator() as gcs, VertexStandin(gcs.url, run_jobs=False) as vertex):
        gcs.create_bucket(BUCKET)
        bench = Bench(gcs.url, vertex.url, Path(tmp))
        launchers = dict(t.sides(args.baseline, args.tree))
        fresh, staged = "jobspec --detach (uploads package)", "jobspec --detach (package staged)"
        candidates: dict[str, Callable[[], tuple[float, float]]] = {
            fresh: lambda: bench.jobspec(fresh, True, launchers[""]),
            staged: lambda: bench.jobspec(staged, False, launchers[""]),
            "minimal script": lambda: bench.minimal("minimal script"),
        }
        if args.baseline:
            before = fresh + " [baseline]"
            candidates[before] = lambda: bench.jobspec(before, True, launchers[" [baseline]"])
        if shutil.which("gcloud"):
            candidates["gcloud ai-platform jobs submit"] = lambda: bench.gcloud(
                "gcloud ai-platform jobs submit")
        stats = t.interleave(candidates, runs=args.runs, warmup=1)
        for label in bench.phase_samples:  # drop the warm-up round's phases
            for phase in bench.phase_samples[label]:
                bench.phase_samples[label][phase] = bench.phase_samples[label][phase][1:]
        counts = count_pass(bench, gcs, vertex)
        jobs = len(vertex.jobs) + len(vertex.legacy_jobs)
    rows = list(stats.values())
    print(t.table("detached submission (wall time per process)", rows, baseline="minimal script"))
    print()
    for label in list(bench.phase_samples):
        if label.startswith("jobspec"):
            print(phase_table(bench, label, JOBSPEC_PHASES, PHASE_NOTES))
    print(phase_table(bench, "minimal script", ["imports", "package", "upload", "create", "exit"],
                      {"imports": "interpreter start, google imports"}))
    print("\nrequests per submission (counting proxy in front of the emulator):")
    for label, c in counts.items():
        extra = (f", staged object generation unchanged: {c['generation_unchanged']}"
                 if "generation_unchanged" in c else "")
        print(f"  {label:28} GCS {c['gcs_requests']}, Vertex/ML {c['vertex_requests']}; "
              f"uploads {c['upload_requests']} ({c['upload_bytes']:,} bytes, package "
              f"{c['package_upload_bytes']:,} bytes){extra}")
    print(f"  ({jobs} jobs created in the stand-in in all)")
    ours = stats[fresh].median
    minimal = stats["minimal script"].median
    results = [t.check("submission <= 1.25x minimal script", ours / minimal <= TARGET_RATIO,
                       f"{ours / minimal:.2f}x ({t.fmt(ours)} vs {t.fmt(minimal)})")]
    if "gcloud ai-platform jobs submit" in stats:
        g = stats["gcloud ai-platform jobs submit"].median
        results.append(t.check("submission faster than gcloud", ours < g,
                               f"{t.fmt(ours)} vs {t.fmt(g)}, {ours / g:.2f}x"))
    if args.baseline:
        print(f"baseline tree: {stats[fresh + ' [baseline]'].median / minimal:.2f}x minimal")
    again = counts["jobspec, re-submission"]
    results.append(t.check("re-submission uploads 0 package bytes",
                           again["package_upload_bytes"] == 0 and again["generation_unchanged"],
                           f"{again['package_upload_bytes']} package bytes; first submission "
                           f"{counts['jobspec, first submission']['package_upload_bytes']:,}"))
    if not args.no_save:
        medians = {label: {p: sorted(v)[len(v) // 2] for p, v in ph.items()}
                   for label, ph in bench.phase_samples.items() if label in stats}
        t.save("submission", {"stats": rows, "phases": medians, "counts": counts,
                              "targets": results})


if __name__ == "__main__":
    main()
