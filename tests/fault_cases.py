"""The fault matrix (issue 5, item 5): a submission's steps × the faults that can strike them.

Shared by tests/test_fault_matrix.py (each cell a test) and bench/fault_matrix.py (the table in
docs/reliability.md). `run_case` drives real `jobspec` commands against the stand-ins, with
google-cloud-storage going through the fault-injecting GcsProxy, and returns what happened
plus every broken rule:

- the run succeeds with exactly one job; or
- it exits 4 with a clean message that says what to do, and doing exactly that (after the
  permanent cause is gone) succeeds: the same command again, the same command with
  --reclaim, or `jobspec logs NAME --follow` for the job already created.
- never two jobs (cancelled ones count), never a traceback, never a claim left "claimed"
  with no job and no way back; `jobspec status NAME` finds the one job at the end.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

NAME = "matrix"
LINE = "fault matrix trainer ran"
FAST = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}
CLAIM_OBJECT = rf"^{NAME}/\.jobspec/claim\.json$"


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    service: str  # "gcs" (through GcsProxy) or "vertex" (the Vertex/Logging stand-in)
    where: dict[str, str]  # method, path_regex [, query_regex, object_regex]
    follows: bool  # the step happens while following; otherwise the run is --detach


STEPS = (
    Step("claim", "claim (create claim.json)", "gcs",
         {"method": "POST", "path_regex": r"^/upload/",
          "query_regex": r"(^|&)ifGenerationMatch=0(&|$)", "object_regex": CLAIM_OBJECT},
         False),
    Step("staging", "staging upload (package)", "gcs",
         {"method": "POST", "path_regex": r"^/upload/",
          "object_regex": r"^jobspec-staging/packages/"}, False),
    Step("create", "create (POST customJobs)", "vertex",
         {"method": "POST", "path_regex": r"/customJobs$"}, False),
    Step("claim_update", "claim update (record the job)", "gcs",
         {"method": "POST", "path_regex": r"^/upload/",
          "query_regex": r"(^|&)ifGenerationMatch=[1-9]", "object_regex": CLAIM_OBJECT},
         False),
    Step("log_fetch", "log fetch (entries:list)", "vertex",
         {"method": "POST", "path_regex": r"^/v2/entries:list$"}, True),
    Step("status_poll", "status poll (GET customJobs/ID)", "vertex",
         {"method": "GET", "path_regex": r"/customJobs/\d+$"}, True),
)


@dataclass(frozen=True)
class FaultKind:
    key: str
    title: str
    spec: dict[str, Any]  # keyword arguments of faults.add
    permanent: bool


FAULTS = (
    FaultKind("503", "503 (once)", {"status": 503, "times": 1}, False),
    FaultKind("429", "429 (once)", {"status": 429, "times": 1}, False),
    FaultKind("reset_before", "reset before processing (once)",
              {"drop": "before", "times": 1}, False),
    FaultKind("reset_after", "reset after processing (once)",
              {"drop": "after", "times": 1}, False),
    FaultKind("403", "403 (permanent)", {"status": 403, "times": None}, True),
    FaultKind("404", "404 (permanent)", {"status": 404, "times": None}, True),
)

# What each cell must do. "ok": exit 0 with one job. Otherwise exit 4, then the recovery:
# "rerun" the same command; "reclaim" the same command with --reclaim (without it, exit 3
# naming --reclaim); "logs" `jobspec logs NAME --follow` for the job already created.
EXPECTED: dict[tuple[str, str], str] = {}
for _step in STEPS:
    for _fault in FAULTS:
        EXPECTED[_step.key, _fault.key] = "ok"
    for _fault in ("403", "404"):
        EXPECTED[_step.key, _fault] = {"claim": "rerun", "staging": "reclaim",
                                       "create": "reclaim", "claim_update": "ok",
                                       "log_fetch": "logs", "status_poll": "logs"}[_step.key]

CASES = [(step, fault) for step in STEPS for fault in FAULTS]


def case_id(step: Step, fault: FaultKind) -> str:
    return f"{step.key}-{fault.key}"


class Outcome(Protocol):
    code: int
    out: str
    err: str


Cli = Callable[..., Outcome]


@dataclass
class Harness:
    """What a case needs: a way to run jobspec, the stand-ins, a fresh bucket, a folder."""

    cli: Cli
    vertex: Any  # VertexStandin
    proxy: Any  # GcsProxy (STORAGE_EMULATOR_HOST points at it)
    gcs: Any  # GcsEmulator (read directly, never through the proxy)
    bucket: str
    workdir: Path


@dataclass
class CaseResult:
    step: str
    fault: str
    first_code: int
    outcome: str = ""  # "ok" or the recovery that worked: "rerun", "reclaim", "logs"
    said: str = ""  # the first run's error and hint, when it failed
    jobs: int = 0
    fault_hits: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)
    transcript: list[str] = field(default_factory=list)

    def check(self, ok: bool, problem: str) -> bool:
        if not ok:
            self.problems.append(problem)
        return ok

    def describe(self) -> str:
        return "\n".join([f"{self.step} × {self.fault}: outcome {self.outcome or '-'}, "
                          f"{self.jobs} job(s)", *(f"PROBLEM: {p}" for p in self.problems),
                          *self.transcript])


def write_project(root: Path) -> Path:
    """A tiny repo: trainer/task.py printing LINE, and job.yaml with a cloud target."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    package = root / "trainer"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(f"print({LINE!r}, flush=True)\n")
    spec = root / "job.yaml"
    spec.write_text(
        f"version: 1\nname: {NAME}\ntrainer: {{package_path: trainer, module: trainer.task}}\n"
        "targets:\n  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n")
    return spec


def _error_text(err: str) -> str:
    lines = [line.strip() for line in err.splitlines()]
    keep = [line for line in lines if line and not line.startswith("jobspec: ")]
    return " / ".join(keep[-2:])


def run_case(h: Harness, step: Step, fault: FaultKind) -> CaseResult:
    started = time.monotonic()
    result = CaseResult(step.key, fault.key, first_code=-1)
    spec = write_project(h.workdir)
    run = ["run", str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={h.bucket}"]
    if not step.follows:
        run.append("--detach")
        h.vertex.run_jobs = False  # the job is only counted, never needed to run
    where = ["--target", "cloud", "--bucket", h.bucket]

    def jobspec(*args: str) -> Outcome:
        out = h.cli(*args)
        result.transcript.append(f"$ jobspec {' '.join(args)}\n-> exit {out.code}\n"
                                 f"{out.err.rstrip()}")
        result.check("Traceback" not in out.err, f"traceback from `jobspec {args[0]}`")
        return out

    faults = h.proxy.faults if step.service == "gcs" else h.vertex.faults
    injected = faults.add(**step.where, **fault.spec)
    first = jobspec(*run)
    result.first_code = first.code
    result.fault_hits = injected.hits
    result.check(injected.hits > 0, "the fault never fired: the step was not reached")
    faults.clear()  # a permanent fault ends when its cause is fixed, before any recovery
    if first.code == 0:
        result.outcome = "ok"
        if step.follows:
            result.check(LINE in first.out, "the trainer's line was not streamed")
    elif result.check(first.code == 4, f"exit {first.code}, not 0 or 4"):
        result.said = _error_text(first.err)
        _recover(result, jobspec, first.err, run, where)
    _final_checks(h, result, where, jobspec)
    result.seconds = time.monotonic() - started
    return result


def _recover(result: CaseResult, jobspec: Callable[..., Outcome], err: str, run: list[str],
             where: list[str]) -> None:
    if "--reclaim" in err:
        again = jobspec(*run)
        result.check(again.code == 3 and "run again with --reclaim" in again.err,
                     "the same command again did not point to --reclaim")
        fixed = jobspec(*run, "--reclaim")
        if result.check(fixed.code == 0, f"--reclaim exited {fixed.code}"):
            result.outcome = "reclaim"
    elif f"jobspec logs {NAME} --follow" in err:
        logs = jobspec("logs", NAME, "--follow", *where)
        if result.check(logs.code == 0 and LINE in logs.out,
                        f"`jobspec logs {NAME} --follow` exited {logs.code} without the log"):
            result.outcome = "logs"
    elif "run the same command again" in err:
        again = jobspec(*run)
        if result.check(again.code == 0, f"the same command again exited {again.code}"):
            result.outcome = "rerun"
    else:
        result.problems.append("exit 4 without saying what to do")


def _final_checks(h: Harness, result: CaseResult, where: list[str],
                  jobspec: Callable[..., Outcome]) -> None:
    jobs = h.vertex.jobs
    result.jobs = len(jobs)
    result.check(len(jobs) == 1, f"{len(jobs)} jobs exist (cancelled ones count), not 1")
    raw = h.gcs.read_object(h.bucket, f"{NAME}/.jobspec/claim.json") if h.gcs.object_exists(
        h.bucket, f"{NAME}/.jobspec/claim.json") else None
    claim = json.loads(raw) if raw else {}
    result.check(claim.get("state") in ("submitted", "claimed"),
                 f"the claim ends {claim.get('state')!r}")
    if len(jobs) != 1:
        return
    (job,) = jobs.values()
    if claim.get("job") is not None:
        result.check(claim["job"] == job["name"], "the claim records another job")
    status = jobspec("status", NAME, "--json", *where)
    if result.check(status.code == 0, f"`jobspec status {NAME}` exited {status.code}"):
        result.check(json.loads(status.out)["job"]["name"] == job["name"],
                     f"`jobspec status {NAME}` shows another job")
