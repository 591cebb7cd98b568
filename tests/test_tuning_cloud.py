"""A tuning study on Vertex (issue 13, point 4): a cloud plan with a study creates a
HyperparameterTuningJob whose trialJobSpec is the single job's jobSpec, through the same claim
and exactly-once create; `run` follows its trials, `status`, `logs`, `cancel` and `list` find it
by name. The Vertex stand-in runs each trial as a real run of the trainer with its flags; the
trainer reports its metric with the real cloudml-hypertune library.

Most plans here are made from a tiny spec, then given a study written by hand
(dataclasses.replace) and run with `jobspec run --plan FILE`; the last tests run a spec's own
`tuning:` block on a cloud target, as a user does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from jobspec.plandata import CloudPlan, dump_plan, load_plan, request_body
from tests.standins._schema import Validator
from tests.standins._tuning import check_tuning_job

FAST = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}
NAME = "study"
RAY = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
# accuracy peaks at lr=0.3 and falls with units; CRASH_AT makes a trial with that lr fail
TRAINER = """\
import argparse
import os
import sys
import time

import hypertune

parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--units", type=int, default=1)
parser.add_argument("--job-dir")
parser.add_argument("--crash-above", type=float, default=9.0)
parser.add_argument("--sleep", type=float, default=0.0)
args = parser.parse_args()
print(f"training lr={args.lr} units={args.units} trial={os.environ.get('CLOUD_ML_TRIAL_ID')}",
      flush=True)
time.sleep(args.sleep)
if args.lr > args.crash_above:
    print("diverged", file=sys.stderr, flush=True)
    sys.exit(3)
accuracy = 1.0 - abs(args.lr - 0.3) - 0.01 * args.units
hypertune.HyperTune().report_hyperparameter_tuning_metric(
    hyperparameter_metric_tag="accuracy", metric_value=accuracy, global_step=7)
"""
GRID = {"studySpec": {"metrics": [{"metricId": "accuracy", "goal": "MAXIMIZE"}],
                      "parameters": [
                          {"parameterId": "lr", "discreteValueSpec": {"values": [0.1, 0.3]}},
                          {"parameterId": "units",
                           "integerValueSpec": {"minValue": "1", "maxValue": "2"}}],
                      "algorithm": "GRID_SEARCH"},
        "maxTrialCount": 4, "parallelTrialCount": 2, "maxFailedTrialCount": 2}


@pytest.fixture
def env(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def _project(root: Path, bucket: str, args: tuple[str, ...] = (), *,
             image: bool = True) -> Path:
    """A tiny repo with a cloud target. IMAGE: the target's image holds the trainer (the
    stand-in's image is this machine's Python; PYTHONPATH puts the trainer in it), so a trial
    starts at once; else a python-package target, whose trials pip-install the staged sdist
    (~2-4 s each here)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir(exist_ok=True)
    package = root / "trainer"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TRAINER)
    spec = root / "job.yaml"
    where = ("    image: us-docker.pkg.dev/test/images/trainer:1\n"
             "    command: [python3, -m, trainer.task]\n" if image else
             f"    executor_image: {RAY}\n")
    env = {"PYTHONPATH": str(root)} if image else {}
    spec.write_text(
        f"version: 1\nname: {NAME}\ntrainer: {{package_path: trainer, module: trainer.task}}\n"
        f"args: {json.dumps(list(args))}\nenv: {json.dumps(env)}\n"
        f"targets:\n  cloud:\n    bucket: {bucket}\n    project: test\n{where}")
    return spec


def _plan(spec: Path, study: dict[str, Any] | None = GRID) -> CloudPlan:
    from jobspec.loader import load
    from jobspec.plan import Host, plan_cloud

    plan = plan_cloud(load(spec, target="cloud"), submission_id=uuid.uuid4().hex[:16],
                      host=Host(env=dict(os.environ)))
    return dataclasses.replace(plan, study=study)


def _plan_file(tmp_path: Path, plan: CloudPlan) -> str:
    path = tmp_path / "plan.json"
    path.write_text(dump_plan(plan))
    return str(path)


def _where(env) -> list[str]:
    return ["--target", "cloud", "--bucket", env.bucket]


def test_the_request_is_a_tuning_job_whose_trial_spec_is_the_single_jobs_spec(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    plan = _plan(_project(tmp_path, "b-tuning"))
    body = request_body(plan)
    assert body["trialJobSpec"] == plan.body["jobSpec"]
    assert (body["displayName"], body["labels"]) == (plan.body["displayName"],
                                                     plan.body["labels"])
    assert {k: body[k] for k in GRID} == GRID
    # the strict checker: every field is one the discovery document's schema has, typed so
    checked = Validator("aiplatform.v1").message(
        body, "GoogleCloudAiplatformV1HyperparameterTuningJob", "hyperparameter_tuning_job")
    check_tuning_job(checked)
    assert checked["trialJobSpec"] == plan.body["jobSpec"]
    # plan files carry the study, and the plan text shows the request as sent
    again = load_plan(dump_plan(plan), "plan.json")
    assert again == plan and request_body(again) == body
    assert request_body(dataclasses.replace(plan, study=None)) == plan.body


def test_plan_text_shows_the_tuning_request(cli, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from jobspec.render import plan_json, plan_text

    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    plan = _plan(_project(tmp_path, "b-tuning"))
    text = plan_text(plan)
    assert (f"request     POST {plan.endpoint}v1/{plan.parent}/hyperparameterTuningJobs"
            in text.splitlines())
    assert '"trialJobSpec": {' in text and '"algorithm": "GRID_SEARCH"' in text
    assert plan_json(plan)["request"] == request_body(plan)
    assert ("  note      that line makes one job; the study is `gcloud ai hp-tuning-jobs create "
            "--region=us-central1 --config FILE` with the request above as FILE"
            in text.splitlines())


def test_run_follows_the_trials_and_ends_with_the_best(cli, env, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket)
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec)))
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()
    assert "/hyperparameterTuningJobs/" in job["name"]
    trials = sorted(job["trials"], key=lambda t: int(t["id"]))
    # the grid, in order, each trial a real run that got its flags and reported its metric
    assert [(t["parameters"][0]["value"], t["parameters"][1]["value"]) for t in trials] == [
        (0.1, 1), (0.1, 2), (0.3, 1), (0.3, 2)]
    assert [t["state"] for t in trials] == ["SUCCEEDED"] * 4
    assert trials[2]["finalMeasurement"] == {
        "stepCount": "7", "metrics": [{"metricId": "accuracy", "value": pytest.approx(0.99)}]}
    # trial states as they change, log lines prefixed by trial, the best trial at the end
    # a trial seen running is said so; one that started and ended between two polls is only
    # seen ended (polling cannot promise every state), so the end is what is pinned
    assert f"{NAME}: trial 3: SUCCEEDED (lr=0.3 units=1) accuracy=0.99" in out.err
    for trial, (lr, units) in zip("1234", [(0.1, 1), (0.1, 2), (0.3, 1), (0.3, 2)],
                                  strict=True):
        line = f"trial {trial} workerpool0-0 | training lr={lr} units={units} trial={trial}"
        assert line in out.out.splitlines(), out.out
    assert "best trial: 3 (lr=0.3 units=1) accuracy=0.99, maximized" in out.out
    best_row = next(line for line in out.out.splitlines() if line.startswith("*"))
    assert best_row.split() == ["*", "3", "SUCCEEDED", "lr=0.3", "units=1", "0.99"]
    assert env.vertex.counters["hyperparameterTuningJobs.create"] == 1
    assert env.vertex.counters["customJobs.create"] == 0
    # status NAME: the trials and the best; logs NAME: the lines by trial; list: the study
    status = cli("status", NAME, *_where(env))
    assert status.code == 0, status.err
    assert f"{NAME}: SUCCEEDED" in status.out and "  trials" in status.out
    assert "  best trial: 3 (lr=0.3 units=1) accuracy=0.99, maximized" in status.out
    as_json = json.loads(cli("status", NAME, *_where(env), "--json").out)
    assert as_json["job"]["best_trial"] == "3" and len(as_json["job"]["trials"]) == 4
    assert as_json["console"].endswith(f"/training/{job['name'].rsplit('/', 1)[1]}"
                                       f"?project={job['name'].split('/')[1]}")
    logs = cli("logs", NAME, *_where(env))
    assert "trial 2 workerpool0-0 | training lr=0.1 units=2 trial=2" in logs.out.splitlines()
    listed = cli("list", *_where(env))
    assert listed.code == 0 and any(line.split()[:2] == [NAME, "SUCCEEDED"]
                                    for line in listed.out.splitlines()), listed.out



def test_random_search_draws_in_the_ranges_and_passes_what_it_drew(cli, env,
                                                                   tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket)
    study = {"studySpec": {"metrics": [{"metricId": "accuracy", "goal": "MINIMIZE"}],
                           "parameters": [
                               {"parameterId": "lr", "scaleType": "UNIT_LOG_SCALE",
                                "doubleValueSpec": {"minValue": 0.001, "maxValue": 0.5}},
                               {"parameterId": "units", "integerValueSpec": {
                                   "minValue": "3", "maxValue": "9"}}],
                           "algorithm": "RANDOM_SEARCH"},
             "maxTrialCount": 3, "parallelTrialCount": 3}
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec, study)))
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()
    lines = out.out.splitlines()
    scores = {}
    for trial in job["trials"]:
        lr, units = (p["value"] for p in trial["parameters"])
        assert 0.001 <= lr <= 0.5 and units in range(3, 10)
        # the trainer parsed the very values the trial reports (flags, not defaults)
        assert (f"trial {trial['id']} workerpool0-0 | training lr={lr!r} units={units} "
                f"trial={trial['id']}") in lines, out.out
        scores[trial["id"]] = trial["finalMeasurement"]["metrics"][0]["value"]
    lowest = min(scores, key=lambda k: scores[k])
    assert f"best trial: {lowest} (" in out.out and ", minimized" in out.out


def test_trials_that_crash_fail_the_study_at_the_failure_budget(cli, env,
                                                                tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket, ("--crash-above=0.2",), image=False)
    study = {**GRID, "parallelTrialCount": 1, "maxFailedTrialCount": 1}
    study["studySpec"] = {**GRID["studySpec"], "parameters": [
        {"parameterId": "lr", "discreteValueSpec": {"values": [0.5, 0.1]}}]}
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec, study)))
    assert out.code == 1, out.err
    (job,) = env.vertex.jobs.values()
    assert job["state"] == "JOB_STATE_FAILED"
    # the first trial crashed, the budget of one failure was spent: no second trial
    (trial,) = job["trials"]
    assert trial["state"] == "INFEASIBLE"
    assert "trial 1 workerpool0-0 | diverged" in out.out.splitlines()
    assert (f"{NAME}: trial 1: INFEASIBLE (lr=0.5): The replica workerpool0-0 exited with a "
            "non-zero status of 3.") in out.err
    assert f"{NAME} ended FAILED: 1 trial failed, reaching maxFailedTrialCount 1." in out.err
    assert "best trial: none (no trial succeeded with a metric)" in out.out


def test_cancel_by_name_stops_a_running_study(cli, jobspec_proc, env,
                                              tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket, ("--sleep=30",))
    detached = cli("run", "--plan", _plan_file(tmp_path, _plan(spec)), "--detach")
    assert detached.code == 0, detached.err
    (job,) = env.vertex.jobs.values()
    job_id = job["name"].rsplit("/", 1)[1]
    deadline = time.monotonic() + 30
    while not any(t.get("state") == "ACTIVE" for t in env.vertex.job(job_id).get("trials", [])):
        assert time.monotonic() < deadline, env.vertex.job(job_id)
        time.sleep(0.05)
    out = cli("cancel", NAME, *_where(env))
    assert out.code == 0, out.err
    assert f"cancel requested for {NAME} ({job['name']})" in out.err
    ended = env.vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=20)
    assert ended["error"]["code"] == 1
    assert len(ended["trials"]) == 2  # the two running ones; no trial started after
    status = cli("status", NAME, *_where(env))
    assert f"{NAME}: CANCELLED" in status.out


def test_a_lost_create_answer_is_recovered_without_a_duplicate(cli, env,
                                                               tmp_path: Path) -> None:
    env.vertex.run_jobs = False
    env.vertex.faults.add("POST", r"/hyperparameterTuningJobs$", drop="after")
    spec = _project(tmp_path / "p", env.bucket)
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec)), "--detach")
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()  # the create landed once; found by its label
    assert "/hyperparameterTuningJobs/" in job["name"]
    claim = json.loads(env.gcs.read_object(env.bucket, f"{NAME}/.jobspec/claim.json"))
    assert (claim["state"], claim["job"], claim["collection"]) == (
        "submitted", job["name"], "hyperparameterTuningJobs")
    assert env.vertex.counters["hyperparameterTuningJobs.list"] >= 1


def test_a_claim_whose_create_was_lost_is_adopted_by_reclaim(cli, env, tmp_path: Path) -> None:
    """The create landed, its answer and the look-up after it both failed: the claim says
    'unknown'; --reclaim looks the tuning job up by its label and adopts it."""
    env.vertex.run_jobs = False
    env.vertex.faults.add("POST", r"/hyperparameterTuningJobs$", drop="after")
    env.vertex.faults.add("GET", r"/hyperparameterTuningJobs$", status=403, times=None)
    spec = _project(tmp_path / "p", env.bucket)
    plan_file = _plan_file(tmp_path, _plan(spec))
    out = cli("run", "--plan", plan_file, "--detach")
    assert out.code == 4, out.err
    assert "a job may exist" in out.err and "--reclaim" in out.err
    env.vertex.faults.clear()
    again = cli("run", "--plan", plan_file, "--detach", "--reclaim")
    assert again.code == 0, again.err
    (job,) = env.vertex.jobs.values()
    assert f"did create a job: {job['name']}; adopting it" in again.err
    assert env.vertex.counters["hyperparameterTuningJobs.create"] == 1



def test_a_metric_the_trainer_never_reports_fails_every_trial(cli, env,
                                                              tmp_path: Path) -> None:
    """A tag typo: the study asks for "acurracy", the trainer reports "accuracy"."""
    spec = _project(tmp_path / "p", env.bucket)
    study = {**GRID, "maxTrialCount": 2, "maxFailedTrialCount": 0}
    study["studySpec"] = {**GRID["studySpec"],
                          "metrics": [{"metricId": "acurracy", "goal": "MAXIMIZE"}]}
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec, study)))
    assert out.code == 1, out.err
    (job,) = env.vertex.jobs.values()
    assert [t["state"] for t in job["trials"]] == ["INFEASIBLE"] * 2
    assert (f'{NAME}: trial 1: INFEASIBLE (lr=0.1 units=1): The trial reported no value of the '
            'metric "acurracy".') in out.err
    assert f"{NAME} ended FAILED: 2 trials failed, and none succeeded." in out.err


def test_a_study_the_service_refuses_creates_nothing(cli, env, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket)
    study = {**GRID, "studySpec": {**GRID["studySpec"], "parameters": [
        {"parameterId": "lr", "doubleValueSpec": {"minValue": 0.1, "maxValue": 0.3}}]}}
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec, study)))
    assert out.code == 4, out.err
    assert f"submitting {NAME!r} failed: " in out.err and "GRID_SEARCH cannot search" in out.err
    assert "no job was created" in out.err and "Traceback" not in out.err
    assert env.vertex.jobs == {}


def test_run_json_ends_with_the_trials_and_the_best(cli, env, tmp_path: Path) -> None:
    spec = _project(tmp_path / "p", env.bucket)
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec, {**GRID, "maxTrialCount": 2})),
              "--json")
    assert out.code == 0, out.err
    lines, text, decoder = [], out.out.strip(), json.JSONDecoder()
    while text:  # one object a log line, then the outcome (indented)
        item, end = decoder.raw_decode(text)
        lines.append(item)
        text = text[end:].strip()
    assert {"trial": "2", "task": "workerpool0-0",
            "text": "training lr=0.1 units=2 trial=2"} in lines
    outcome = lines[-1]
    assert (outcome["exit_code"], outcome["best_trial"]) == (0, "1")
    assert [(t["id"], t["state"], t["parameters"]) for t in outcome["trials"]] == [
        ("1", "SUCCEEDED", "lr=0.1 units=1"), ("2", "SUCCEEDED", "lr=0.1 units=2")]
    assert outcome["trials"][0]["metric"] == pytest.approx(0.79)


SPEC_TUNING = """\
tuning:
  metrics: [{metric_id: accuracy, goal: MAXIMIZE}]
  parameters:
    - {parameter_id: lr, discrete_value_spec: {values: [0.1, 0.3]}}
    - {parameter_id: units, integer_value_spec: {min_value: 1, max_value: 2}}
  algorithm: GRID_SEARCH
  max_trial_count: 4
  parallel_trial_count: 2
  max_failed_trial_count: 2
"""


def test_a_specs_tuning_block_runs_as_a_vertex_study(cli, env, tmp_path: Path) -> None:
    from jobspec.loader import load
    from jobspec.tuning import study_spec, trial_counts

    spec = _project(tmp_path / "p", env.bucket)
    spec.write_text(spec.read_text() + SPEC_TUNING)
    planned = json.loads(cli("plan", str(spec), "--target", "cloud", "--json").out)
    tuning = load(spec, target="cloud").spec.tuning
    single = _plan(spec, study=None)  # the one job jobspec would submit for this target
    request = planned["request"]
    assert request["trialJobSpec"] == single.body["jobSpec"]
    assert request["studySpec"] == study_spec(tuning)
    assert {k: request[k] for k in trial_counts(tuning)} == trial_counts(tuning)
    out = cli("run", str(spec), "--target", "cloud")
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()
    assert "/hyperparameterTuningJobs/" in job["name"]
    assert [t["state"] for t in job["trials"]] == ["SUCCEEDED"] * 4
    assert "best trial: 3 (lr=0.3 units=1) accuracy=0.99, maximized" in out.out


def test_a_studys_cost_is_its_trials_running_time(cli, env, tmp_path: Path) -> None:
    """A tuning job is billed per trial: the cost after it is each trial's own running time
    (the service's startTime..endTime of the trial) x the trial job's hourly rate, summed."""
    from datetime import datetime

    from jobspec import prices

    spec = _project(tmp_path / "p", env.bucket)
    out = cli("run", "--plan", _plan_file(tmp_path, _plan(spec)), "--json")
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()

    def seconds(a: str, b: str) -> float:
        return (datetime.fromisoformat(b.replace("Z", "+00:00"))
                - datetime.fromisoformat(a.replace("Z", "+00:00"))).total_seconds()

    per_hour = prices.for_body({"jobSpec": job["trialJobSpec"]}, "us-central1").per_hour
    assert per_hour is not None and per_hour > 0
    trial_seconds = sum(seconds(t["startTime"], t["endTime"]) for t in job["trials"])
    wall = seconds(job["startTime"], job["endTime"])
    assert trial_seconds > wall  # two trials at a time: billed time exceeds the wall clock
    text, decoder, outcome = out.out.strip(), json.JSONDecoder(), None
    while text:  # one object a log line, then the outcome
        outcome, end = decoder.raw_decode(text)
        text = text[end:].strip()
    assert outcome is not None
    assert outcome["cost"]["usd"] == pytest.approx(per_hour * trial_seconds / 3600, rel=1e-6)


def test_status_of_a_study_shows_the_schedule_its_trials_run_with(cli, env,
                                                                  tmp_path: Path) -> None:
    """A tuning job has no jobSpec: its scheduling is its trialJobSpec's, which status shows as
    a single job's."""
    spec = _project(tmp_path / "p", env.bucket)
    spec.write_text(spec.read_text()
                    + "    scheduling: {strategy: SPOT, timeout: 2h, disable_retries: true}\n"
                    + SPEC_TUNING.replace("max_trial_count: 4", "max_trial_count: 2"))
    out = cli("run", str(spec), "--target", "cloud")
    assert out.code == 0, out.err
    (job,) = env.vertex.jobs.values()
    assert "/hyperparameterTuningJobs/" in job["name"] and "jobSpec" not in job
    status = cli("status", NAME, *_where(env))
    assert status.code == 0, status.err
    assert "  schedule SPOT, timeout 2h, no retries" in status.out.splitlines(), status.out
    data = json.loads(cli("status", NAME, *_where(env), "--json").out)["job"]
    assert data["scheduling"] == {"strategy": "SPOT", "timeout": "7200s", "disableRetries": True}
    assert data["scheduling"] == job["trialJobSpec"]["scheduling"]
