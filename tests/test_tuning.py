"""Local hyperparameter studies, end to end: real `jobspec run` of a spec with a tuning block,
real trainer processes that report with Google's cloudml-hypertune (unchanged), real run
records. The trainer's metric is a smooth function of its flags with a known optimum, so
what the searches find can be checked; it also writes what it was given (argv, trial id,
metric file) so the way Vertex hands values to a trial can be checked too."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from itertools import product
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

# The optimum: lr = 0.01, units = 24, where the score is 1.0.
TRAINER = '''
import argparse, json, math, os, sys, time

import hypertune

p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--units", type=int, required=True)
p.add_argument("--job-dir")
a = p.parse_args()
trial = os.environ["CLOUD_ML_TRIAL_ID"]
os.makedirs(a.job_dir, exist_ok=True)
with open(os.path.join(a.job_dir, "seen.json"), "w") as fh:
    json.dump({"argv": sys.argv[1:], "trial": trial,
               "metric_file": os.environ["CLOUD_ML_HP_METRIC_FILE"]}, fh)
mode = os.environ.get("MODE", "")
if mode == "crash-wide" and a.units > 40:
    sys.exit(3)
if mode == "crash-odd" and int(trial) % 2 == 1:
    sys.exit(4)
if mode == "sleep-even" and int(trial) % 2 == 0:
    time.sleep(60)
if mode == "sleep":
    time.sleep(60)
score = 1 - ((math.log10(a.lr) + 2) / 2) ** 2 - ((a.units - 24) / 32) ** 2
ht = hypertune.HyperTune()
ht.report_hyperparameter_tuning_metric(os.environ.get("TAG", "score"), score - 0.5, 1)
ht.report_hyperparameter_tuning_metric(os.environ.get("TAG", "score"), score, 2)
'''


def score(lr: float, units: int) -> float:
    return 1 - ((math.log10(lr) + 2) / 2) ** 2 - ((units - 24) / 32) ** 2


def project(root: Path, tuning: dict[str, Any], *, env: dict[str, str] | None = None,
            name: str = "toy", args: list[str] | None = None) -> Path:
    (root / "tuner").mkdir(parents=True)
    (root / "tuner" / "__init__.py").write_text("")
    (root / "tuner" / "task.py").write_text(TRAINER)
    (root / "pyproject.toml").write_text("[tool.tuning-test]\n")
    spec = {"version": 1, "name": name,
            "trainer": {"package_path": "tuner", "module": "tuner.task"},
            "args": args or [], "env": env or {}, "tuning": tuning,
            "targets": {"local": {"job_dir": "out"}}}
    path = root / "study.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def tuning(algorithm: str, trials: int = 12, **more: Any) -> dict[str, Any]:
    return {"metrics": [{"metric_id": "score", "goal": "MAXIMIZE"}],
            "algorithm": algorithm, "max_trial_count": trials, "parallel_trial_count": 2,
            "parameters": [
                {"parameter_id": "lr", "double_value_spec": {"min_value": 0.0001,
                                                             "max_value": 1.0},
                 "scale_type": "UNIT_LOG_SCALE"},
                {"parameter_id": "units", "integer_value_spec": {"min_value": 1,
                                                                 "max_value": 64}}],
            **more}


def run_json(cli, spec: Path, *more: str) -> tuple[int, dict[str, Any], str]:
    out = cli("run", str(spec), "--target", "local", "--json", *more, cwd=spec.parent)
    return out.code, json.loads(out.out), out.err


def seen(root: Path, trial: int) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((root / "tuner" / ".." / "out" / str(trial) /
                                       "seen.json").read_text())
    return data


def test_random_search_is_seeded_and_gets_near_the_optimum(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH", seed=7))
    code, study, err = run_json(cli, spec)
    assert code == 0, err
    trials = study["trials"]
    assert [t["id"] for t in trials] == list(range(1, 13))
    assert all(t["state"] == "succeeded" for t in trials)
    for trial in trials:
        lr, units = float(trial["parameters"]["lr"]), int(trial["parameters"]["units"])
        assert 1e-4 <= lr <= 1 and 1 <= units <= 64
        # the metric is the last value the trainer reported, read from its own record
        assert trial["metric"] == pytest.approx(score(lr, units))
        got = seen(tmp_path, trial["id"])
        # as Vertex gives them: the flags appended after the trainer's args, --job-dir included
        assert got["argv"] == ["--job-dir", f"out/{trial['id']}",
                               f"--lr={trial['parameters']['lr']}", f"--units={units}"]
        assert got["trial"] == str(trial["id"])
        assert got["metric_file"] == str(Path(trial["record"]) / "output.metrics")
    best = max(trials, key=lambda t: t["metric"])
    assert study["best"] == best["id"]
    assert best["metric"] > 1 - 0.15  # the stated tolerance of 12 random trials: 0.15
    # seeded: the study's values are those of random.Random(7), whatever the trials did
    from jobspec.search import RandomSearch, flag_value
    from jobspec.tuning import Tuning

    again = RandomSearch(Tuning.model_validate(tuning("RANDOM_SEARCH", seed=7)), 7)
    for trial in trials:
        values = again.suggest()
        assert values is not None
        assert {k: flag_value(v) for k, v in values.items()} == trial["parameters"]
    assert study["seed"] == 7 and study["seed_from"] == "tuning.seed"


def test_bayesian_default_gets_near_the_optimum(cli, tmp_path: Path) -> None:
    pytest.importorskip("optuna")
    spec = project(tmp_path, tuning("ALGORITHM_UNSPECIFIED"))
    code, study, err = run_json(cli, spec)
    assert code == 0, err
    assert len(study["trials"]) == 12
    assert study["seed_from"] == "the study's name"
    best = next(t for t in study["trials"] if t["id"] == study["best"])
    lr, units = float(best["parameters"]["lr"]), int(best["parameters"]["units"])
    assert best["metric"] == pytest.approx(score(lr, units))
    # the stated tolerance of 12 Bayesian trials, 2 at a time: 0.2 below the optimum. Which
    # trial ends first steers the next suggestions, so this is not one fixed sequence; over 40
    # seeds the search's worst gap was 0.15, its median 0.034 (random search: 0.33, 0.058)
    assert best["metric"] > 1 - 0.2


def test_grid_search_visits_exactly_the_grid_and_prints_the_table(cli, tmp_path: Path
                                                                  ) -> None:
    block = tuning("GRID_SEARCH")
    block["parameters"] = [
        {"parameter_id": "lr", "discrete_value_spec": {"values": [0.001, 0.01, 0.1]}},
        {"parameter_id": "units", "integer_value_spec": {"min_value": 23, "max_value": 26}}]
    spec = project(tmp_path, block)
    out = cli("run", str(spec), "--target", "local", cwd=tmp_path)
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert lines[0] == "study toy: succeeded (12 succeeded)"
    assert lines[1].split() == ["TRIAL", "LR", "UNITS", "SCORE", "STATE", "REASON"]
    rows = [line.split() for line in lines[2:14]]
    visited = [(float(r[1]), int(r[2])) for r in rows]
    assert visited == list(product([0.001, 0.01, 0.1], [23, 24, 25, 26]))
    best = [r for r in rows if r[0].endswith("*")]
    assert best == [["6*", "0.01", "24", "1", "succeeded"]]
    assert lines[14] == "best: trial 6 (toy_trial_6), score 1: --lr=0.01 --units=24"
    # output is prefixed by trial; each trial's own line says its flags
    assert "jobspec: trial 6: starting toy_trial_6 --lr=0.01 --units=24" in out.err


def test_a_crashing_trial_is_recorded_as_failed(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH", seed=3), env={"MODE": "crash-wide"})
    code, study, err = run_json(cli, spec)
    failed = [t for t in study["trials"] if t["state"] == "failed"]
    assert failed and all(int(t["parameters"]["units"]) > 40 for t in failed)
    assert all(t["exit_code"] == 3 and t["reason"] == "the trainer exited with code 3"
               for t in failed)
    assert all(t["metric"] is None for t in failed)
    assert len(study["trials"]) == 12  # no budget (0): the study goes on
    assert code == 0 and study["state"] == "succeeded"
    # each failed trial has its own run record, with the trainer's exit code
    record = json.loads((Path(failed[0]["record"]) / "status.json").read_text())
    assert record["state"] == "failed" and record["exit_code"] == 3
    assert "trainer exited with code 3" in err


def test_the_failure_budget_stops_the_study(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH", max_failed_trial_count=2, seed=1),
                   env={"MODE": "crash-odd"})
    # trials 1 and 3 crash at once; trial 2 would run a minute: it is stopped
    (tmp_path / "tuner" / "task.py").write_text(TRAINER.replace(
        'if mode == "sleep-even"', 'if mode == "crash-odd" and int(trial) % 2 == 0'))
    started = time.monotonic()
    code, study, err = run_json(cli, spec)
    assert time.monotonic() - started < 30
    assert code == 1
    assert study["state"] == "failed"
    assert study["reason"] == "2 trials failed (max_failed_trial_count 2)"
    states = {t["id"]: t["state"] for t in study["trials"]}
    assert [i for i, s in states.items() if s == "failed"] == [1, 3]
    assert states[2] == "stopped"
    assert len(states) == 3


def test_a_metric_tag_the_spec_does_not_name_fails_the_trial(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH", trials=2), env={"TAG": "acc"})
    code, study, _ = run_json(cli, spec)
    assert code == 1 and study["state"] == "failed"
    assert {t["reason"] for t in study["trials"]} == {
        "reported no finite value of metric 'score' (it reported acc)"}


def test_best_measurement_takes_the_best_report(cli, tmp_path: Path) -> None:
    block = tuning("RANDOM_SEARCH", trials=2, measurement_selection_type="BEST_MEASUREMENT")
    block["metrics"] = [{"metric_id": "score", "goal": "MINIMIZE"}]
    spec = project(tmp_path, block)
    code, study, _ = run_json(cli, spec)
    assert code == 0
    for trial in study["trials"]:  # the trainer reports score - 0.5, then score
        lr, units = float(trial["parameters"]["lr"]), int(trial["parameters"]["units"])
        assert trial["metric"] == pytest.approx(score(lr, units) - 0.5)


def _wait_for(path: Path, check: Any, timeout: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            if check(data):
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"{path} never got there")


def test_status_list_and_cancel_of_a_running_study(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH"), env={"MODE": "sleep"})
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                             "local"], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    try:
        record = tmp_path / ".jobspec" / "studies" / "toy.json"
        _wait_for(record, lambda d: sum(t["state"] == "running" for t in d["trials"]) == 2)
        status = cli("status", "toy", cwd=tmp_path)
        assert status.code == 0
        lines = status.out.splitlines()
        assert lines[0] == "study toy: running (2 running)"
        assert [line.split()[0] for line in lines[2:]] == ["1", "2"]
        listed = cli("list", "--json", cwd=tmp_path)
        rows = {r["name"]: r for r in json.loads(listed.out)}
        assert rows["toy"]["kind"] == "study" and rows["toy"]["state"] == "running"
        assert rows["toy_trial_1"]["state"] == "running"
        cancel = cli("cancel", "toy", cwd=tmp_path)
        assert cancel.code == 0
        assert "cancel requested for study toy" in cancel.err
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert out.splitlines()[0] == "study toy: interrupted (2 stopped): interrupted"
    data = json.loads(cli("status", "toy", "--json", cwd=tmp_path).out)
    assert data["state"] == "interrupted"
    assert [t["state"] for t in data["trials"]] == ["stopped", "stopped"]
    runs = json.loads((Path(data["trials"][0]["record"]) / "status.json").read_text())
    assert runs["state"] == "interrupted"
    again = cli("cancel", "toy", cwd=tmp_path)
    assert again.code == 0 and "study toy is not running (interrupted)" in again.err


def test_without_optuna_the_default_search_names_the_extra(tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("ALGORITHM_UNSPECIFIED"))
    blocker = tmp_path / "no-optuna"
    (blocker / "optuna").mkdir(parents=True)
    (blocker / "optuna" / "__init__.py").write_text(
        "raise ImportError('No module named optuna')\n")
    done = subprocess.run([sys.executable, "-m", "jobspec", "run", str(spec), "-t", "local"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": f"{blocker}{os.pathsep}{REPO}"})
    assert done.returncode == 2
    assert "the default algorithm (Bayesian search) runs locally with Optuna" in done.stderr
    assert "pip install 'jobspec[tuning]'" in done.stderr
    assert not (tmp_path / ".jobspec" / "runs").exists()  # no trial ran


def test_the_census_example_study_reports_its_accuracy(cli, tmp_path: Path) -> None:
    """specs/census-tuning.yaml (extending census.yaml) with the census trainer, one random
    trial (a census run takes seconds): its metric is the eval accuracy the trainer wrote,
    for the flags it got."""
    import shutil

    for part in ("trainer", "data/census", "specs"):
        shutil.copytree(REPO / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "pyproject.toml").write_text("[tool.census-copy]\n")
    out = cli("run", "specs/census-tuning.yaml", "--target", "local", "--json",
              "--set", "tuning.max_trial_count=1", "--set", "tuning.parallel_trial_count=1",
              "--set", "tuning.algorithm=RANDOM_SEARCH",
              cwd=tmp_path)
    assert out.code == 0, out.err
    study = json.loads(out.out)
    assert study["study"] == "census_tuning" and len(study["trials"]) == 1
    for trial in study["trials"]:
        written = json.loads((tmp_path / "output" / "census_tuning" / str(trial["id"]) /
                              "metrics.json").read_text())
        assert trial["state"] == "succeeded"
        assert trial["metric"] == pytest.approx(written["accuracy"])
        assert written["steps"] == int(trial["parameters"]["train-steps"])
        assert 0.001 <= float(trial["parameters"]["learning-rate"]) <= 1.0


def test_parallel_on_the_command_line_overrides_the_block(cli, tmp_path: Path) -> None:
    spec = project(tmp_path, tuning("RANDOM_SEARCH", trials=3, seed=2))
    code, study, err = run_json(cli, spec, "--parallel", "3")
    assert code == 0, err
    assert study["parallel_trial_count"] == 3
    assert "3 at a time" in err
    listed = cli("list", cwd=tmp_path)
    assert listed.out.splitlines()[-2].split() == ["STUDY", "STATE", "TRIALS", "STARTED"]
    assert listed.out.splitlines()[-1].split()[:3] == ["toy", "succeeded", "3"]


def test_parallel_1_on_the_command_line_runs_one_trial_at_a_time(cli, tmp_path: Path) -> None:
    """--parallel 1 is an override too (it was taken for "not given" before, and the block's
    2 at a time ran): each trial starts after the one before it ended."""
    spec = project(tmp_path, tuning("RANDOM_SEARCH", trials=3, seed=2))  # the block says 2
    code, study, err = run_json(cli, spec, "--parallel", "1")
    assert code == 0, err
    assert study["parallel_trial_count"] == 1 and "1 at a time" in err
    trials = study["trials"]
    assert [t["state"] for t in trials] == ["succeeded"] * 3
    for before, after in zip(trials, trials[1:], strict=False):
        assert before["end"] <= after["start"], trials  # ISO times in UTC sort as text
    said = [json.loads(line)["message"] for line in err.splitlines()]
    events = [m.split(":")[0] + (" starts" if ": starting " in m else " ends")
              for m in said if m.startswith("trial ")]
    assert events == ["trial 1 starts", "trial 1 ends", "trial 2 starts", "trial 2 ends",
                      "trial 3 starts", "trial 3 ends"], err
