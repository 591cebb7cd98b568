"""A HyperparameterTuningJob's checks and trials, the way the stand-in runs them.

Each trial is a real run of the trial job spec's replica workerpool0-0 (_runner.py, or
_container.py for containerSpec), with the trial's values appended to the pool's args as
`--PARAMETER=VALUE` and CLOUD_ML_TRIAL_ID set. Sources (read 2026-11-27): Vertex AI "Create a
hyperparameter tuning job" (docs.cloud.google.com/vertex-ai/docs/training/
using-hyperparameter-tuning): "Vertex AI passes hyperparameter values to your training
application as command-line arguments", its example `python3 -m my_trainer --learning_rate
learning-rate-in-this-trial`; the service knows only the args it was given, so the flags come
after them (after jobspec's `--job-dir`). The `=` form is ML Engine's and cloudml-hypertune's
convention (DESIGN.md); argparse reads both. The trainer reports with cloudml-hypertune
0.1.0.dev6, which writes JSON lines to $CLOUD_ML_HP_METRIC_FILE (default
/tmp/hypertune/output.metrics, private to each container on Vertex). Trials here share the
machine's /tmp, so the stand-in points CLOUD_ML_HP_METRIC_FILE at a file of the trial's own: the
one deviation. A trial's log entries carry the label `ml.googleapis.com/trial_id` (what gcloud's
ML Engine log reader groups by: googlecloudsdk/command_lib/ml_engine/log_utils.py, gcloud 528).

Search: GRID_SEARCH walks the grid in order (every value of discrete, categorical and integer
parameters; a double range cannot be gridded); RANDOM_SEARCH and ALGORITHM_UNSPECIFIED (the
service's Bayesian search) draw at random, seeded by the job id. A trial that exits non-zero,
or ends without reporting the study's metric, is INFEASIBLE and counts against
maxFailedTrialCount; reaching it stops the study (no new trials), which then ends FAILED. The
error wordings are the stand-in's own: the real ones were not found in the sources checked.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
import random
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ._http import ApiError, invalid_argument
from ._runner import TASK, ReplicaError, run_replica
from ._schema import check_custom_job

if TYPE_CHECKING:
    from .vertex import Job, VertexStandin

TRIAL_LABEL = "ml.googleapis.com/trial_id"
_SPECS = ("doubleValueSpec", "integerValueSpec", "discreteValueSpec", "categoricalValueSpec")


# -- create-time checks -------------------------------------------------------------------------
def check_tuning_job(job: dict[str, Any]) -> None:
    """The semantic checks of hyperparameterTuningJobs.create; 400 listing every problem."""
    where = "hyperparameter_tuning_job"
    errors: list[tuple[str, str]] = []
    required = "Required field is not set."
    for field, name in (("maxTrialCount", "max_trial_count"),
                        ("parallelTrialCount", "parallel_trial_count")):
        if job.get(field, 0) <= 0:
            errors.append((f"{where}.{name}", required if not job.get(field) else
                           "must be positive."))
    if job.get("maxFailedTrialCount", 0) < 0:
        errors.append((f"{where}.max_failed_trial_count", "must not be negative."))
    study = job.get("studySpec")
    if study is None:
        errors.append((f"{where}.study_spec", required))
    else:
        errors += _study_errors(study, f"{where}.study_spec")
    trial = job.get("trialJobSpec")
    if trial is None:
        errors.append((f"{where}.trial_job_spec", required))
    try:  # the CustomJob checks, named as this request's fields
        check_custom_job({"displayName": job.get("displayName", ""),
                          "labels": job.get("labels", {}),
                          "jobSpec": trial if trial is not None else {"workerPoolSpecs": [{}]}})
    except ApiError as exc:
        for detail in exc.details:
            for violation in detail.get("fieldViolations", []):
                field = violation["field"].replace("custom_job.job_spec",
                                                   f"{where}.trial_job_spec")
                field = field.replace("custom_job", where)
                if trial is not None or "trial_job_spec" not in field:
                    errors.append((field, violation["description"]))
    if errors:
        text = "".join(f"{i}.Field: {f}; Message: {m}\t" for i, (f, m) in enumerate(errors, 1))
        raise invalid_argument(f"List of found errors:\t{text}", errors)


def _study_errors(study: dict[str, Any], where: str) -> list[tuple[str, str]]:
    errors: list[tuple[str, str]] = []
    metrics = study.get("metrics", [])
    if not metrics:
        errors.append((f"{where}.metrics", "Required field is not set."))
    for i, metric in enumerate(metrics):
        if not metric.get("metricId"):
            errors.append((f"{where}.metrics[{i}].metric_id", "Required field is not set."))
        if metric.get("goal", "GOAL_TYPE_UNSPECIFIED") == "GOAL_TYPE_UNSPECIFIED":
            errors.append((f"{where}.metrics[{i}].goal", "Required field is not set."))
    parameters = study.get("parameters", [])
    if not parameters:
        errors.append((f"{where}.parameters", "Required field is not set."))
    for i, param in enumerate(parameters):
        pwhere = f"{where}.parameters[{i}]"
        if not param.get("parameterId"):
            errors.append((f"{pwhere}.parameter_id", "Required field is not set."))
        kinds = [k for k in _SPECS if k in param]
        if len(kinds) != 1:
            errors.append((pwhere, "Exactly one of double_value_spec, integer_value_spec, "
                           "discrete_value_spec or categorical_value_spec must be set."))
            continue
        spec = param[kinds[0]]
        if kinds[0] in ("doubleValueSpec", "integerValueSpec"):
            low, high = float(spec.get("minValue", 0)), float(spec.get("maxValue", 0))
            if low > high:
                errors.append((pwhere, "min_value must not be greater than max_value."))
            if param.get("scaleType") in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and \
                    low <= 0:
                errors.append((pwhere, "A log scale needs a positive min_value."))
            if kinds[0] == "doubleValueSpec" and study.get("algorithm") == "GRID_SEARCH":
                errors.append((pwhere, "GRID_SEARCH cannot search a double_value_spec: give "
                               "discrete values."))
        elif not spec.get("values"):
            errors.append((f"{pwhere}.{kinds[0][:-4].lower()}_spec.values",
                           "Required field is not set."))
    return errors


# -- suggestions ------------------------------------------------------------------------------
def _choices(param: dict[str, Any]) -> list[Any]:
    if "integerValueSpec" in param:
        spec = param["integerValueSpec"]
        return list(range(int(spec.get("minValue", "0")), int(spec.get("maxValue", "0")) + 1))
    spec = param.get("discreteValueSpec") or param["categoricalValueSpec"]
    return list(spec["values"])


def _draw(param: dict[str, Any], rng: random.Random) -> Any:
    spec = param.get("doubleValueSpec") or param.get("integerValueSpec")
    if spec is None:
        return rng.choice(_choices(param))
    low, high = float(spec.get("minValue", 0)), float(spec.get("maxValue", 0))
    scale = param.get("scaleType", "UNIT_LINEAR_SCALE")
    if scale in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE") and low > 0:
        value = math.exp(rng.uniform(math.log(low), math.log(high)))
        if scale == "UNIT_REVERSE_LOG_SCALE":  # dense near the top of the range
            value = low + high - value
    else:
        value = rng.uniform(low, high)
    if "integerValueSpec" in param:
        return min(int(high), max(int(low), round(value)))
    return value


def suggestions(study: dict[str, Any], seed: str) -> Iterator[dict[str, Any]]:
    params = study.get("parameters", [])
    if study.get("algorithm") == "GRID_SEARCH":
        names = [p["parameterId"] for p in params]
        for values in itertools.product(*(_choices(p) for p in params)):
            yield dict(zip(names, values, strict=True))
        return
    rng = random.Random(seed)
    while True:
        yield {p["parameterId"]: _draw(p, rng) for p in params}


def flag_value(value: Any) -> str:
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)


# -- running trials ---------------------------------------------------------------------------
class TrialHost:
    """What _runner.py needs (the Host protocol), for one trial of a tuning job: its log
    entries carry the trial's id, its processes are the job's to cancel."""

    def __init__(self, standin: VertexStandin, job: Job, trial_id: str,
                 env: dict[str, str]) -> None:
        self.standin, self.job, self.trial_id = standin, job, trial_id
        self.gcs_url = standin.gcs_url
        self.extra_env = {**standin.extra_env, **env}
        self.image_exists = standin.image_exists

    def log(self, job: Any, task: str, severity: str, text: str) -> None:
        self.standin.log(self.job, task, severity, text, labels={TRIAL_LABEL: self.trial_id})

    def start_process(self, job: Any, argv: list[str], env: dict[str, str],
                      cwd: Path) -> subprocess.Popen[bytes] | None:
        with self.standin.lock:
            if self.job.cancel.is_set():
                return None
            proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    start_new_session=True)
            self.job.procs.append(proc)
            return proc


def _with_flags(spec: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(spec)
    flags = [f"--{name}={flag_value(value)}" for name, value in values.items()]
    for pool in spec.get("workerPoolSpecs", []):
        inner = pool.get("containerSpec") or pool.get("pythonPackageSpec")
        if inner is not None:
            inner["args"] = [*inner.get("args", []), *flags]
    return spec


def read_measurement(path: Path, metric_id: str) -> dict[str, Any] | None:
    """The last value of the metric the trainer reported through cloudml-hypertune."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    for line in reversed(lines):
        try:
            record = json.loads(line)
            value = float(record[metric_id])
        except (ValueError, KeyError, TypeError):
            continue
        step = str(int(float(record.get("global_step", 0) or 0)))
        return {"stepCount": step, "metrics": [{"metricId": metric_id, "value": value}]}
    return None


class Study:
    def __init__(self, standin: VertexStandin, job: Job) -> None:
        from .vertex import rfc3339

        self.now = lambda: rfc3339(time.time_ns())
        self.standin, self.job = standin, job
        data = standin.job(job.id)
        self.study = data["studySpec"]
        self.spec = data["trialJobSpec"]
        self.metric_id = self.study["metrics"][0]["metricId"]
        self.max_trials = int(data["maxTrialCount"])
        self.parallel = int(data["parallelTrialCount"])
        self.max_failed = int(data.get("maxFailedTrialCount", 0))
        self.cond = threading.Condition()
        self.active = self.failed = self.succeeded = 0
        self.last_error = ""

    def _trial(self, trial_id: str, change: dict[str, Any]) -> None:
        def apply(data: dict[str, Any]) -> None:
            for trial in data.setdefault("trials", []):
                if trial["id"] == trial_id:
                    trial.update(change)
                    return
            data["trials"].append({"id": trial_id, **change})

        self.standin.change(self.job, apply)

    def run_trial(self, trial_id: str, values: dict[str, Any]) -> None:
        self._trial(trial_id, {"state": "ACTIVE", "startTime": self.now(), "parameters": [
            {"parameterId": k, "value": v} for k, v in values.items()]})
        reason, measurement = "", None
        try:
            with tempfile.TemporaryDirectory(prefix=f"vertex-trial-{trial_id}-") as tmp:
                metrics = Path(tmp) / "output.metrics"
                host = TrialHost(self.standin, self.job, trial_id, {
                    "CLOUD_ML_TRIAL_ID": trial_id, "CLOUD_ML_HP_METRIC_FILE": str(metrics)})
                proxy = SimpleNamespace(id=self.job.id, project_id=self.job.project_id,
                                        location=self.job.location)
                try:
                    code = run_replica(host, proxy, _with_flags(self.spec, values))
                except ReplicaError as exc:
                    code, reason = 1, str(exc)
                if code == 0:
                    measurement = read_measurement(metrics, self.metric_id)
                    if measurement is None:
                        reason = (f"The trial reported no value of the metric "
                                  f"\"{self.metric_id}\".")
                elif not reason:
                    status = code if code > 0 else 128 - code
                    reason = (f"The replica {TASK} exited with a non-zero status of {status}.")
        finally:
            if self.job.cancel.is_set():
                reason, measurement = "The trial was cancelled.", None
            ok = measurement is not None
            change: dict[str, Any] = {"state": "SUCCEEDED" if ok else "INFEASIBLE",
                                      "endTime": self.now()}
            if ok:
                change["finalMeasurement"] = measurement
            else:
                change["infeasibleReason"] = reason
            self._trial(trial_id, change)
            with self.cond:
                self.active -= 1
                if ok:
                    self.succeeded += 1
                elif not self.job.cancel.is_set():
                    self.failed += 1
                    self.last_error = f"trial {trial_id}: {reason}"
                self.cond.notify_all()

    def over_budget(self) -> bool:
        return self.max_failed > 0 and self.failed >= self.max_failed

    def run(self) -> None:
        threads: list[threading.Thread] = []
        values = suggestions(self.study, self.job.id)
        for number in range(1, self.max_trials + 1):
            with self.cond:
                while self.active >= self.parallel and not self.job.cancel.is_set():
                    self.cond.wait(0.1)
                if self.job.cancel.is_set() or self.over_budget():
                    break
                chosen = next(values, None)
                if chosen is None:  # the grid is exhausted
                    break
                self.active += 1
            thread = threading.Thread(target=self.run_trial, args=(str(number), chosen),
                                      daemon=True, name=f"vertex-trial-{self.job.id}-{number}")
            threads.append(thread)
            thread.start()
        for thread in threads:
            thread.join()


def run_study(standin: VertexStandin, job: Job) -> None:
    """Run the tuning job's trials to the end and set its final state (RUNNING already)."""
    study = Study(standin, job)
    study.run()
    if job.cancel.is_set():
        return standin._finish_cancel(job)
    if study.over_budget() or study.succeeded == 0:
        count = f"{study.failed} trial{'s' if study.failed != 1 else ''} failed"
        budget = (f", reaching maxFailedTrialCount {study.max_failed}" if study.over_budget()
                  else ", and none succeeded")
        message = f"{count}{budget}. The last: {study.last_error}"
        standin.log(job, "service", "ERROR", message)
        standin._set(job, "JOB_STATE_FAILED", error={"code": 9, "message": message})
        return None
    standin.log(job, "service", "INFO", "Job completed successfully.")
    standin._set(job, "JOB_STATE_SUCCEEDED")
    return None


__all__ = ["check_tuning_job", "run_study"]
