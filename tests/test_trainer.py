"""The example trainer, run as the runners run it: `python -m trainer.task` from the repo root.

gs:// input and output are not exercised here (they need the GCS emulator fixtures).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from itertools import product
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def _load_trainer_model() -> ModuleType:
    # By path: the repo root is not on sys.path under plain `pytest`, and trainer/ is
    # not an installed package (in the cloud it is shipped as its own sdist).
    spec = importlib.util.spec_from_file_location("trainer_model", REPO / "trainer" / "model.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


m = _load_trainer_model()
TRAIN = "data/census/adult.data.csv"
EVAL = "data/census/adult.test.csv"
FULL_CENSUS = Path(os.environ.get("CENSUS_FULL_DIR", "/work/shared/data/census"))
OUR_VARIABLES = ("TF_CONFIG", "AIP_MODEL_DIR", "STORAGE_EMULATOR_HOST", "CLUSTER_SPEC")


def run(
    module: str, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    environment.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=REPO,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def train(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run("trainer.task", "--train-files", TRAIN, "--eval-files", EVAL, *args, env=env)


def files_under(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


def test_trains_a_useful_classifier_and_writes_model_and_metrics(tmp_path: Path) -> None:
    result = train("--job-dir", str(tmp_path / "job"))
    assert result.returncode == 0, result.stderr
    steps = re.findall(r"^step (\d+) loss (\d+\.\d{4})$", result.stdout, re.MULTILINE)
    assert [int(step) for step, _ in steps] == list(range(100, 1001, 100))
    assert float(steps[-1][1]) < float(steps[0][1])
    assert re.search(r"^eval accuracy 0\.\d{4} auc 0\.\d{4}$", result.stdout, re.MULTILINE)

    metrics = json.loads((tmp_path / "job" / "metrics.json").read_text())
    assert metrics["accuracy"] >= 0.80
    assert metrics["accuracy"] > metrics["baseline_accuracy"] + 0.04
    assert metrics["auc"] > 0.85
    assert (metrics["train_rows"], metrics["eval_rows"], metrics["steps"]) == (4071, 2036, 1000)

    saved = json.loads((tmp_path / "job" / "model" / "model.json").read_text())
    assert len(saved["weights"]) == len(saved["feature_names"]) > len(m.NUMERIC)
    assert saved["features"]["categorical"]["gender"] == ["Female", "Male"]
    assert files_under(tmp_path) == [Path("job/metrics.json"), Path("job/model/model.json")]


def test_same_inputs_give_the_same_model(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert train("--train-steps=50", f"--job-dir={tmp_path / name}").returncode == 0
    model_a = (tmp_path / "a" / "model" / "model.json").read_bytes()
    assert model_a == (tmp_path / "b" / "model" / "model.json").read_bytes()


@pytest.mark.parametrize("task_type", ["worker", "evaluator"])
def test_tasks_other_than_the_chief_train_but_write_nothing(tmp_path: Path, task_type: str) -> None:
    tf_config = {"cluster": {"chief": ["localhost:27182"]}, "task": {"type": task_type, "index": 0}}
    result = train(
        "--train-steps", "100", "--job-dir", str(tmp_path / "job"),
        env={"TF_CONFIG": json.dumps(tf_config), "AIP_MODEL_DIR": str(tmp_path / "model")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "step 100 loss" in result.stdout
    assert f"{task_type} 0: not the chief, writing nothing" in result.stdout
    assert files_under(tmp_path) == []


@pytest.mark.parametrize("tf_config", ['{"task": {"type": "master", "index": 0}}', '{"task": {}}'])
def test_master_or_an_empty_task_is_the_chief(tmp_path: Path, tf_config: str) -> None:
    result = train("--train-steps", "5", "--job-dir", str(tmp_path), env={"TF_CONFIG": tf_config})
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == [Path("metrics.json"), Path("model/model.json")]


def test_aip_model_dir_takes_the_model_and_its_parent_the_metrics(tmp_path: Path) -> None:
    result = train("--train-steps", "5", env={"AIP_MODEL_DIR": f"{tmp_path}/base/model/"})
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == [Path("base/metrics.json"), Path("base/model/model.json")]


def test_job_dir_keeps_the_metrics_when_aip_model_dir_is_set(tmp_path: Path) -> None:
    env = {"AIP_MODEL_DIR": str(tmp_path / "vertex" / "model")}
    result = train("--train-steps", "5", "--job-dir", str(tmp_path / "job"), env=env)
    assert result.returncode == 0, result.stderr
    assert files_under(tmp_path) == [Path("job/metrics.json"), Path("vertex/model/model.json")]


def test_parameter_server_waits_until_stopped() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in OUR_VARIABLES}
    environment["TF_CONFIG"] = json.dumps({"task": {"type": "ps", "index": 1}})
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer.task", "--train-files", TRAIN, "--eval-files", EVAL],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith("ps 1: ")
        assert process.poll() is None
        process.terminate()
        assert process.wait(timeout=10) == 0
    finally:
        process.kill()
        process.wait()
        process.stdout.close()  # type: ignore[union-attr]


def test_oops_reports_python_and_tensorflow() -> None:
    result = run("trainer.oops")
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "Python {}.{}.{}".format(*sys.version_info[:3])
    assert lines[1] == "TensorFlow is not installed" or lines[1].startswith("TensorFlow ")


def test_missing_training_file_fails_with_one_clear_line(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = run("trainer.task", "--train-files", str(missing), "--eval-files", EVAL)
    assert result.returncode == 1
    assert result.stderr == f"error: cannot read {missing}: No such file or directory\n"


def test_malformed_row_is_reported_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    good_line = (REPO / TRAIN).read_text().splitlines()[0]
    bad.write_text(f"{good_line}\n{good_line.replace(', <=50K', ', maybe')}\n")
    result = run("trainer.task", "--train-files", str(bad), "--eval-files", EVAL)
    assert result.returncode == 1
    assert result.stderr == f"error: {bad}:2: label 'maybe' is not <=50K or >50K\n"


@pytest.mark.parametrize("flag", ["--bogus=1", "--train-steps=0", "--learning-rate=x"])
def test_bad_flags_are_usage_errors(flag: str) -> None:
    result = train(flag)
    assert result.returncode == 2
    assert "trainer.task: error:" in result.stderr


def test_auc_matches_counting_pairs() -> None:
    rng = np.random.default_rng(7)
    scores = rng.integers(0, 5, size=60).astype(float)  # many ties
    y = (rng.random(60) < 0.3).astype(float)
    pairs = [(s, t) for s, t in product(scores[y == 1], scores[y == 0])]
    expected = sum(1.0 if s > t else 0.5 if s == t else 0.0 for s, t in pairs) / len(pairs)
    assert m.auc(scores, y) == pytest.approx(expected)
    assert np.isnan(m.auc(scores, np.zeros(60)))


@pytest.mark.skipif(not FULL_CENSUS.is_dir(), reason="full UCI Adult files not present")
def test_sample_script_reproduces_the_committed_sample(tmp_path: Path) -> None:
    script = REPO / "data" / "census" / "make_sample.py"
    result = subprocess.run(
        [sys.executable, str(script), str(FULL_CENSUS), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    for name in ("adult.data.csv", "adult.test.csv"):
        assert (tmp_path / name).read_bytes() == (REPO / "data" / "census" / name).read_bytes()
