"""The tuning block as written: `validate` errors at file:line:col, and the StudySpec it maps to,
field for field, checked against the aiplatform v1 discovery document by the strict checker."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.standins._http import ApiError
from tests.standins._schema import Validator

BASE = """\
version: 1
name: toy
trainer: {package_path: tuner, module: tuner.task}
args: [--epochs=3]
tuning:
  metrics: [{metric_id: accuracy, goal: MAXIMIZE}]
  algorithm: RANDOM_SEARCH
  max_trial_count: 4
  parallel_trial_count: 2
  parameters:
    - parameter_id: lr
      double_value_spec: {min_value: 0.001, max_value: 1.0}
      scale_type: UNIT_LOG_SCALE
targets:
  local: {args: [--units=3]}
"""


def write(root: Path, text: str) -> Path:
    (root / "tuner").mkdir(exist_ok=True)
    (root / "tuner" / "__init__.py").write_text("")
    (root / "tuner" / "task.py").write_text("")
    path = root / "job.yaml"
    path.write_text(text)
    return path


def test_the_base_spec_is_valid(cli, tmp_path: Path) -> None:
    out = cli("validate", str(write(tmp_path, BASE)), cwd=tmp_path)
    assert out.code == 0, out.err


@pytest.mark.parametrize(("old", "new", "error"), [
    ("algorithm: RANDOM_SEARCH", "algorithm: GRID_SEARCH",
     "job.yaml:12:26: tuning.parameters[0].double_value_spec: GRID_SEARCH cannot search a "
     "continuous range: give the values to try with discrete_value_spec (or use RANDOM_SEARCH "
     "or the default algorithm)"),
    ("args: [--epochs=3]", "args: [--epochs=3, --lr=0.1]",
     "job.yaml:4:20: args[1]: '--lr=0.1' passes --lr, which the study tunes "
     "(tuning.parameters): each trial gets --lr=VALUE; remove it from args"),
    ("local: {args: [--units=3]}", "local: {args: [--lr]}",
     "job.yaml:15:18: targets.local.args[0]: '--lr' passes --lr, which the study tunes "
     "(tuning.parameters): each trial gets --lr=VALUE; remove it from args"),
    ("max_value: 1.0}", "max_value: 0.0001}",
     "job.yaml:12:56: tuning.parameters[0].double_value_spec.max_value: expected max_value "
     "above min_value (0.001), got 0.0001"),
    ("min_value: 0.001", "min_value: -1.0",
     "job.yaml:12:38: tuning.parameters[0].double_value_spec.min_value: UNIT_LOG_SCALE needs "
     "values above 0, got -1"),
    ("min_value: 0.001", "min_value: 1e-3",
     "job.yaml:12:38: tuning.parameters[0].double_value_spec.min_value: '1e-3' is read as text "
     "(YAML needs a dot in a number with an exponent): write 1.0e-3"),
    ("parallel_trial_count: 2", "parallel_trial_count: 5",
     "job.yaml:9:25: tuning.parallel_trial_count: expected at most max_trial_count (4), got 5"),
    ("parameter_id: lr", "parameter_id: --lr",
     "job.yaml:11:21: tuning.parameters[0].parameter_id: expected a flag name (a letter, then "
     "letters, digits, '_' or '-', at most 64), got '--lr': each trial gets "
     "--PARAMETER_ID=VALUE"),
    ("parameter_id: lr", "parameter_id: job-dir",
     "job.yaml:11:21: tuning.parameters[0].parameter_id: --job-dir is the target's job_dir, "
     "which every trial gets: tune another flag"),
    ("      scale_type: UNIT_LOG_SCALE\n",
     "      scale_type: UNIT_LOG_SCALE\n    - parameter_id: lr\n"
     "      categorical_value_spec: {values: [a, b]}\n",
     "job.yaml:14:21: tuning.parameters[1].parameter_id: parameter 'lr' is tuned twice (see "
     "parameters[0])"),
    ("      scale_type: UNIT_LOG_SCALE\n",
     "      scale_type: UNIT_LOG_SCALE\n    - parameter_id: units\n"
     "      discrete_value_spec: {values: [4, 2]}\n",
     "job.yaml:15:41: tuning.parameters[1].discrete_value_spec.values[1]: expected values in "
     "increasing order: 2 follows 4"),
    ("goal: MAXIMIZE", "goal: MAX",
     "job.yaml:6:41: tuning.metrics[0].goal: expected one of MAXIMIZE, MINIMIZE, got the "
     "string 'MAX'"),
    ("version: 1\n", "version: 1\nmatrix: {seed: [1, 2]}\n",
     "job.yaml:7:3: tuning: a spec has a matrix or a tuning block, not both: a study picks its "
     "own values"),
])
def test_validate_pins_the_tuning_errors(cli, tmp_path: Path, old: str, new: str,
                                         error: str) -> None:
    assert old in BASE
    out = cli("validate", str(write(tmp_path, BASE.replace(old, new, 1))), cwd=tmp_path)
    assert out.code == 2
    assert out.err.splitlines()[0] == error


def test_a_tuned_flag_after_the_double_dash_is_refused(cli, tmp_path: Path) -> None:
    spec = write(tmp_path, BASE)
    (tmp_path / "pyproject.toml").write_text("")
    out = cli("run", str(spec), "-t", "local", "--", "--lr=3", cwd=tmp_path)
    assert out.code == 2
    assert "'--lr=3' after -- passes --lr, which the study tunes" in out.err
    assert not (tmp_path / ".jobspec" / "runs").exists()


FULL = """\
version: 1
name: toy
trainer: {package_path: tuner, module: tuner.task}
tuning:
  metrics: [{metric_id: accuracy, goal: MINIMIZE}]
  max_trial_count: 20
  parallel_trial_count: 4
  max_failed_trial_count: 3
  measurement_selection_type: BEST_MEASUREMENT
  median_automated_stopping_spec: {use_elapsed_duration: true}
  parameters:
    - parameter_id: learning-rate
      double_value_spec: {min_value: 0.0001, max_value: 0.5, default_value: 0.01}
      scale_type: UNIT_REVERSE_LOG_SCALE
    - parameter_id: steps
      integer_value_spec: {min_value: 100, max_value: 5000}
      scale_type: UNIT_LOG_SCALE
    - parameter_id: batch
      discrete_value_spec: {values: [16, 32, 64.5]}
    - parameter_id: activation
      categorical_value_spec: {values: [relu, tanh], default_value: tanh}
targets:
  local: {}
"""


def _tuning(root: Path, text: str) -> Any:
    from jobspec.loader import load

    return load(write(root, text), target="local").spec.tuning


def test_study_spec_maps_the_block_field_for_field(tmp_path: Path) -> None:
    from jobspec.tuning import study_spec, trial_counts

    tuning = _tuning(tmp_path, FULL)
    spec = study_spec(tuning)
    assert spec == {
        "metrics": [{"metricId": "accuracy", "goal": "MINIMIZE"}],
        "parameters": [
            {"parameterId": "learning-rate",
             "doubleValueSpec": {"minValue": 0.0001, "maxValue": 0.5, "defaultValue": 0.01},
             "scaleType": "UNIT_REVERSE_LOG_SCALE"},
            {"parameterId": "steps", "integerValueSpec": {"minValue": "100",
                                                          "maxValue": "5000"},
             "scaleType": "UNIT_LOG_SCALE"},
            {"parameterId": "batch", "discreteValueSpec": {"values": [16, 32, 64.5]}},
            {"parameterId": "activation",
             "categoricalValueSpec": {"values": ["relu", "tanh"], "defaultValue": "tanh"}}],
        "algorithm": "ALGORITHM_UNSPECIFIED",
        "measurementSelectionType": "BEST_MEASUREMENT",
        "medianAutomatedStoppingSpec": {"useElapsedDuration": True},
    }
    assert trial_counts(tuning) == {"maxTrialCount": 20, "parallelTrialCount": 4,
                                    "maxFailedTrialCount": 3}
    # a HyperparameterTuningJob holding it passes the strict discovery checker unchanged
    job = {"displayName": "toy", "studySpec": spec, **trial_counts(tuning),
           "trialJobSpec": {"workerPoolSpecs": [{
               "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
               "containerSpec": {"imageUri": "python:3.11-slim", "args": ["--a"]}}]}}
    checked = Validator("aiplatform.v1").message(
        job, "GoogleCloudAiplatformV1HyperparameterTuningJob", "hyperparameter_tuning_job")
    assert checked["studySpec"]["parameters"][1]["integerValueSpec"] == {
        "minValue": "100", "maxValue": "5000"}
    assert checked["studySpec"]["metrics"] == spec["metrics"]


def test_the_strict_checker_refuses_a_wrong_study_spec() -> None:
    """The checker the test above relies on does refuse what the API refuses."""
    bad = {"studySpec": {"metrics": [{"metricId": "a", "goal": "MAXIMISE"}]}}
    with pytest.raises(ApiError):
        Validator("aiplatform.v1").message(
            bad, "GoogleCloudAiplatformV1HyperparameterTuningJob", "hyperparameter_tuning_job")
    with pytest.raises(ApiError):
        Validator("aiplatform.v1").message(
            {"studySpec": {"parameters": [{"parameterId": "a", "doubleSpec": {}}]}},
            "GoogleCloudAiplatformV1HyperparameterTuningJob", "hyperparameter_tuning_job")


def test_plan_shows_the_study_and_one_trial(cli, tmp_path: Path) -> None:
    spec = write(tmp_path, FULL)
    (tmp_path / "pyproject.toml").write_text("")
    out = cli("plan", str(spec), "-t", "local", cwd=tmp_path)
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0] == ("study       toy: 20 trials, 4 at a time, ALGORITHM_UNSPECIFIED, seed "
                        f"{_name_seed('toy')} (from the study's name)")
    assert lines[1] == "metric      minimize accuracy (reported with cloudml-hypertune)"
    argv = next(line for line in lines if line.strip().startswith("argv"))
    assert argv.split()[-4:] == ["--learning-rate=VALUE", "--steps=VALUE", "--batch=VALUE",
                                 "--activation=VALUE"]
    assert lines[2] == ("warning     tuning.median_automated_stopping_spec applies on Vertex AI "
                        "only: local trials run to their end")
    as_json = json.loads(cli("plan", str(spec), "-t", "local", "--json", cwd=tmp_path).out)
    from jobspec.tuning import study_spec

    assert as_json["study_spec"] == study_spec(_tuning(tmp_path, FULL))
    assert (as_json["maxTrialCount"], as_json["parallelTrialCount"]) == (20, 4)
    assert as_json["trial"]["processes"][0]["env"]["CLOUD_ML_TRIAL_ID"] == "1"
    refused = cli("plan", str(spec), "-t", "local", "--out", str(tmp_path / "p.json"),
                  cwd=tmp_path)
    assert refused.code == 2 and "a study's plan cannot be written with --out" in refused.err


def _name_seed(name: str) -> int:
    import hashlib

    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)
