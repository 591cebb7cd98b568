"""`jobspec import` of hyperparameter tuning configs: ML Engine's trainingInput.hyperparameters
and `gcloud ai hp-tuning-jobs create --config`, each imported spec validated and its tuning
block read back by the loader."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from jobspec.loader import load
from tests.conftest import REPO
from tests.test_import import IMAGE, fails, imported


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repo with a copy of trainer/, as tests/test_import.py's."""
    root = tmp_path / "repo"
    shutil.copytree(REPO / "trainer", root / "trainer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "jobspec.schema.json", root / "jobspec.schema.json")
    (root / "pyproject.toml").write_text('[project]\nname = "census"\n', encoding="utf-8")
    return root

ML_CONFIG = """\
trainingInput:
  scaleTier: BASIC
  args: [--train-files=gs://cfg-bucket/adult.data.csv]
  hyperparameters:
    goal: MAXIMIZE
    hyperparameterMetricTag: accuracy
    maxTrials: 12
    maxParallelTrials: 2
    maxFailedTrials: 3
    enableTrialEarlyStopping: true
    algorithm: RANDOM_SEARCH
    params:
      - parameterName: learning-rate
        type: DOUBLE
        minValue: 0.0001
        maxValue: 0.5
        scaleType: UNIT_LOG_SCALE
      - parameterName: train-steps
        type: INTEGER
        minValue: 100
        maxValue: 2000
        scaleType: UNIT_LINEAR_SCALE
      - parameterName: batch-size
        type: DISCRETE
        discreteValues: [32, 64, 128]
      - parameterName: optimizer
        type: CATEGORICAL
        categoricalValues: [sgd, adam]
        scaleType: NONE
"""


def test_ml_engine_hyperparameters_become_the_tuning_block(cli: Any, repo: Path) -> None:
    (repo / "config.yaml").write_text(ML_CONFIG, encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai-platform", "jobs", "submit",
                         "training", "census_hp", "--config", "config.yaml", "--module-name",
                         "trainer.task", "--package-path", "trainer/", "--region",
                         "us-central1", "--runtime-version", "2.11", "--job-dir",
                         "gs://cfg-bucket/census_hp")
    tuning = load(spec, target="cloud").spec.tuning
    assert tuning is not None
    assert tuning.model_dump(exclude_none=True) == {
        "metrics": [{"metric_id": "accuracy", "goal": "MAXIMIZE"}],
        "parameters": [
            {"parameter_id": "learning-rate",
             "double_value_spec": {"min_value": 0.0001, "max_value": 0.5},
             "scale_type": "UNIT_LOG_SCALE"},
            {"parameter_id": "train-steps",
             "integer_value_spec": {"min_value": 100, "max_value": 2000},
             "scale_type": "UNIT_LINEAR_SCALE"},
            {"parameter_id": "batch-size",
             "discrete_value_spec": {"values": [32.0, 64.0, 128.0]}},
            {"parameter_id": "optimizer", "categorical_value_spec": {"values": ["sgd", "adam"]}}],
        "algorithm": "RANDOM_SEARCH", "max_trial_count": 12, "parallel_trial_count": 2,
        "max_failed_trial_count": 3, "median_automated_stopping_spec": {
            "use_elapsed_duration": False}}
    assert ("config.yaml:10: trainingInput.hyperparameters.enableTrialEarlyStopping is mapped "
            "to Vertex AI's median stopping rule") in out.err
    text = spec.read_text()
    assert "tuning:\n  metrics:\n  - metric_id: accuracy\n    goal: MAXIMIZE\n" in text


def test_ml_engine_hyperparameters_defaults_and_errors(cli: Any, repo: Path) -> None:
    (repo / "config.yaml").write_text("""\
trainingInput:
  hyperparameters:
    params:
      - {parameterName: lr, type: DOUBLE, minValue: 0.1, maxValue: 0.9}
""", encoding="utf-8")
    cmd = ("--", "gcloud", "ml-engine", "jobs", "submit", "training", "j", "--config",
           "config.yaml", "--module-name", "trainer.task", "--package-path", "trainer/",
           "--region", "us-central1", "--runtime-version", "2.11", "--job-dir", "gs://cfg-bucket/j")
    spec, out = imported(cli, repo, *cmd)
    tuning = load(spec, target="cloud").spec.tuning
    assert tuning is not None
    assert (tuning.metric.metric_id, tuning.metric.goal) == ("training/hptuning/metric",
                                                             "MAXIMIZE")
    assert tuning.max_trial_count == 1 and tuning.algorithm == "ALGORITHM_UNSPECIFIED"
    assert "names no hyperparameterMetricTag" in out.err
    (repo / "config.yaml").write_text("""\
trainingInput:
  hyperparameters:
    params:
      - {parameterName: lr, type: FLOAT, minValue: 0.1, maxValue: 0.9}
""", encoding="utf-8")
    bad = fails(cli, repo, "-o", "specs/x.yaml", *cmd)
    assert bad.err.startswith("config.yaml:4:35: trainingInput.hyperparameters.params[0].type: "
                              "expected DOUBLE, INTEGER, DISCRETE or CATEGORICAL, got 'FLOAT'")
    (repo / "config.yaml").write_text("""\
trainingInput:
  hyperparameters:
    params:
      - {parameterName: lr, type: DOUBLE, minValue: 0.1, maxVal: 0.9}
""", encoding="utf-8")
    bad = fails(cli, repo, "-o", "specs/x.yaml", *cmd)
    assert bad.err.startswith("config.yaml:4:58: trainingInput.hyperparameters.params[0]."
                              "maxVal: unknown key (did you mean 'maxValue'?)")


HP_CONFIG = f"""\
studySpec:
  metrics:
    - metricId: accuracy
      goal: MAXIMIZE
  parameters:
    - parameterId: learning-rate
      doubleValueSpec: {{minValue: 0.001, maxValue: 1.0}}
      scaleType: UNIT_LOG_SCALE
    - parameterId: train-steps
      integerValueSpec: {{minValue: "100", maxValue: "2000"}}
  algorithm: GRID_SEARCH
  decayCurveStoppingSpec: {{useElapsedDuration: true}}
  observationNoise: HIGH
maxTrialCount: 20
maxFailedTrialCount: 2
trialJobSpec:
  workerPoolSpecs:
    - machineSpec: {{machineType: n1-standard-4}}
      replicaCount: 1
      pythonPackageSpec:
        executorImageUri: {IMAGE}
        pythonModule: trainer.task
        packageUris: [gs://cfg-bucket/staging/trainer-0.0.0.tar.gz]
        args: [--train-files=gs://cfg-bucket/adult.data.csv]
"""


def test_hp_tuning_jobs_create_config(cli: Any, repo: Path) -> None:
    (repo / "hp.yaml").write_text(HP_CONFIG.replace("GRID_SEARCH", "RANDOM_SEARCH"),
                                  encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai", "hp-tuning-jobs", "create",
                         "--region=us-central1", "--display-name=census_hp", "--config=hp.yaml",
                         "--parallel-trial-count=4", "--max-trial-count=16")
    loaded = load(spec, target="cloud")
    assert loaded.spec.name == "census_hp"
    assert loaded.spec.args == ["--train-files=gs://cfg-bucket/adult.data.csv"]
    assert loaded.spec.targets["cloud"].region == "us-central1"
    tuning = loaded.spec.tuning
    assert tuning is not None
    assert tuning.model_dump(exclude_none=True) == {
        "metrics": [{"metric_id": "accuracy", "goal": "MAXIMIZE"}],
        "parameters": [
            {"parameter_id": "learning-rate",
             "double_value_spec": {"min_value": 0.001, "max_value": 1.0},
             "scale_type": "UNIT_LOG_SCALE"},
            {"parameter_id": "train-steps",
             "integer_value_spec": {"min_value": 100, "max_value": 2000}}],
        "algorithm": "RANDOM_SEARCH",
        "max_trial_count": 16, "parallel_trial_count": 4,  # the flags override the file
        "max_failed_trial_count": 2,
        "decay_curve_stopping_spec": {"use_elapsed_duration": True}}
    assert "hp.yaml:13: studySpec.observationNoise is not supported" in out.err


def test_hp_tuning_jobs_create_that_cannot_run_fails_at_import(cli: Any, repo: Path) -> None:
    """A grid search over a continuous range: the imported spec does not validate, and says
    where (the same check `validate` makes)."""
    (repo / "hp.yaml").write_text(HP_CONFIG, encoding="utf-8")
    out = cli("import", "-o", "specs/hp.yaml", "--", "gcloud", "ai", "hp-tuning-jobs",
              "create", "--region=us-central1", "--display-name=census_hp",
              "--config=hp.yaml", cwd=repo)
    assert "GRID_SEARCH cannot search a continuous range" in out.err
    missing = fails(cli, repo, "-o", "specs/x.yaml", "--", "gcloud", "ai", "hp-tuning-jobs",
                    "create", "--region=us-central1", "--display-name=x")
    assert "needs --config" in missing.err


def test_hp_tuning_job_on_its_own_image(cli: Any, repo: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A trialJobSpec on a container image that holds the trainer: every trial runs the image's
    command, with the trial's parameters after the args."""
    image = "europe-docker.pkg.dev/proj/repo/trainer:1"
    (repo / "hp.yaml").write_text(HP_CONFIG.replace("GRID_SEARCH", "RANDOM_SEARCH").replace(
        f"""      pythonPackageSpec:
        executorImageUri: {IMAGE}
        pythonModule: trainer.task
        packageUris: [gs://cfg-bucket/staging/trainer-0.0.0.tar.gz]
""", f"""      diskSpec: {{bootDiskSizeGb: 250}}
      containerSpec:
        imageUri: {image}
        command: [python3, -m, trainer.task]
"""), encoding="utf-8")
    spec, _ = imported(cli, repo, "--", "gcloud", "ai", "hp-tuning-jobs", "create",
                       "--region=us-central1", "--display-name=census_hp", "--config=hp.yaml")
    cloud = load(spec, target="cloud").spec.targets["cloud"]
    assert (cloud.image, cloud.command) == (image, ["python3", "-m", "trainer.task"])
    assert cloud.boot_disk is not None and cloud.boot_disk.size_gb == 250
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    done = cli("plan", str(spec), "--target", "cloud", "--json", "--set",
               "targets.cloud.bucket=cfg-bucket", cwd=repo)
    assert done.code == 0, done.err
    plan = json.loads(done.out)
    assert (plan["mode"], plan["package"]) == ("command", None)  # nothing staged
    [pool] = plan["request"]["trialJobSpec"]["workerPoolSpecs"]
    assert pool == {"machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
                    "containerSpec": {"imageUri": image,
                                      "command": ["python3", "-m", "trainer.task"],
                                      "args": ["--train-files=gs://cfg-bucket/adult.data.csv",
                                               "--job-dir", "gs://cfg-bucket/census_hp"]},
                    "diskSpec": {"bootDiskSizeGb": 250}}
