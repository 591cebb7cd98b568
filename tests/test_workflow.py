"""Repo workflow: `extends:` across files and matrix sweeps, locally and against the stand-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}

TRAINER = """\
import json, os, sys
out = os.environ["AIP_MODEL_DIR"]
print("args", " ".join(sys.argv[1:]), flush=True)
if not out.startswith("gs://"):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "args.json"), "w") as fh:
        json.dump(sys.argv[1:], fh)
"""


def _repo(tmp_path: Path) -> Path:
    (tmp_path / ".git").mkdir()
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(TRAINER)
    (tmp_path / "specs").mkdir()
    (tmp_path / "base.yaml").write_text(
        "version: 1\nname: base_job\ntrainer:\n  package_path: trainer\n  module: trainer.task\n"
        "args: [--from-base]\nenv: {A: base, B: base}\n"
        "targets:\n  local:\n    job_dir: out/${name}\n    env: {C: base}\n"
        "  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n")
    return tmp_path


def test_extends_merges_deeply_and_keeps_each_value_in_its_file(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    child = repo / "specs" / "child.yaml"
    child.write_text("extends: ../base.yaml\nname: child_job\nenv: {B: child}\n"
                     "args: [--from-child]\ntargets:\n  local:\n    env: {D: child}\n")
    out = cli("plan", str(child), "--target", "local", "--json")
    assert out.code == 0, out.err
    (proc,) = json.loads(out.out)["processes"]
    # lists replace, mappings merge, the base's package_path still finds trainer/
    assert proc["argv"][1:] == ["-m", "trainer.task", "--from-child", "--job-dir",
                                "out/child_job"]
    assert {k: proc["env"][k] for k in "ABCD"} == {"A": "base", "B": "child", "C": "base",
                                                  "D": "child"}
    assert proc["cwd"] == str(repo)


def test_an_error_in_the_base_file_points_at_the_base_file(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    text = (repo / "base.yaml").read_text().replace("module: trainer.task", "modul: trainer.task")
    (repo / "base.yaml").write_text(text)
    child = repo / "specs" / "child.yaml"
    child.write_text("extends: ../base.yaml\nname: child_job\n")
    out = cli("validate", str(child))
    assert out.code == 2
    base = repo / "base.yaml"
    assert f"{base}:5:3: trainer.modul: unknown key (did you mean 'module'?)" in out.err
    assert "    5 |   modul: trainer.task" in out.err


def test_extends_cycle_is_an_error(cli, tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("extends: b.yaml\n")
    (tmp_path / "b.yaml").write_text("extends: a.yaml\n")
    out = cli("validate", str(tmp_path / "a.yaml"))
    assert out.code == 2
    assert "extends: extends forms a cycle:" in out.err
    assert "a.yaml -> " in out.err and "b.yaml -> " in out.err


SWEEP = """\
extends: ../base.yaml
name: sweep
matrix:
  lr: [0.1, 0.01]
  bs: [8, 16]
args:
  - --lr=${matrix.lr}
  - --bs=${matrix.bs}
"""


def test_matrix_plans_one_job_per_combination(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    spec = repo / "specs" / "sweep.yaml"
    spec.write_text(SWEEP + "  - --tag=${name}\n")
    out = cli("plan", str(spec), "--target", "local", "--json")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    assert plan["group"] == "sweep"
    argvs = [m["processes"][0]["argv"][3:] for m in plan["members"]]
    assert argvs == [
        ["--lr=0.1", "--bs=8", "--tag=sweep_lr_0p1_bs_8", "--job-dir", "out/sweep_lr_0p1_bs_8"],
        ["--lr=0.1", "--bs=16", "--tag=sweep_lr_0p1_bs_16", "--job-dir",
         "out/sweep_lr_0p1_bs_16"],
        ["--lr=0.01", "--bs=8", "--tag=sweep_lr_0p01_bs_8", "--job-dir",
         "out/sweep_lr_0p01_bs_8"],
        ["--lr=0.01", "--bs=16", "--tag=sweep_lr_0p01_bs_16", "--job-dir",
         "out/sweep_lr_0p01_bs_16"],
    ]
    text = cli("plan", str(spec), "--target", "local").out
    assert "group       sweep: 4 jobs" in text
    assert "=== sweep_lr_0p01_bs_16 (lr=0.01, bs=16) ===" in text


def test_matrix_include_and_exclude(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    spec = repo / "specs" / "sweep.yaml"
    spec.write_text(SWEEP.replace("  bs: [8, 16]\n", "  bs: [8, 16]\n  exclude: [{lr: 0.01, "
                                  "bs: 16}]\n  include: [{lr: 0.5, bs: 4}, {lr: 0.1, opt: adam}]\n")
                    + "  - --opt=${matrix.opt}\n")
    out = cli("plan", str(spec), "--target", "local", "--json")
    assert out.code == 2  # members without `opt` cannot use ${matrix.opt}
    assert "the matrix has no 'opt'" in out.err
    spec.write_text(SWEEP.replace("  bs: [8, 16]\n", "  bs: [8, 16]\n  exclude: [{lr: 0.01, "
                                  "bs: 16}]\n  include: [{lr: 0.5, bs: 4}]\n"))
    plan = json.loads(cli("plan", str(spec), "--target", "local", "--json").out)
    assert [m["processes"][0]["argv"][3:5] for m in plan["members"]] == [
        ["--lr=0.1", "--bs=8"], ["--lr=0.1", "--bs=16"], ["--lr=0.01", "--bs=8"],
        ["--lr=0.5", "--bs=4"]]


@pytest.mark.parametrize("parallel", ["1", "2"])
def test_matrix_runs_locally_and_group_status_shows_all(cli, tmp_path: Path,
                                                        parallel: str) -> None:
    repo = _repo(tmp_path)
    spec = repo / "specs" / "sweep.yaml"
    spec.write_text(SWEEP)
    out = cli("run", str(spec), "--target", "local", "--parallel", parallel)
    assert out.code == 0, out.err
    names = []
    for lr, bs in [("0.1", "8"), ("0.1", "16"), ("0.01", "8"), ("0.01", "16")]:
        names.append(f"sweep_lr_{lr.replace('.', 'p')}_bs_{bs}")
        written = json.loads((repo / f"out/{names[-1]}/model/args.json").read_text())
        assert written == [f"--lr={lr}", f"--bs={bs}", "--job-dir", f"out/{names[-1]}"]
    if parallel == "2":
        assert "sweep_lr_0p1_bs_8 | args --lr=0.1 --bs=8" in out.out
    status = cli("status", "sweep", "--target", "local", "--spec", str(spec), "--json")
    assert status.code == 0, status.err
    rows = json.loads(status.out)["members"]
    assert [(r["name"], r["state"]) for r in rows] == [(n, "succeeded") for n in names]


def test_matrix_against_the_cloud_stand_ins(cli, cloud_env, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    repo = _repo(tmp_path)
    (repo / "trainer" / "task.py").write_text(
        "import sys, time\nprint('args', *sys.argv[1:3], flush=True)\n"
        "time.sleep(30 if '--bs=16' in sys.argv else 0)\n")
    spec = repo / "specs" / "sweep.yaml"
    spec.write_text(SWEEP)
    bucket = ["--set", f"targets.cloud.bucket={cloud_env.bucket}"]
    out = cli("run", str(spec), "--target", "cloud", "--detach", *bucket)
    assert out.code == 0, out.err
    assert "submitted 4 jobs in group sweep" in out.err
    jobs = cloud_env.vertex.jobs
    assert sorted(j["displayName"] for j in jobs.values()) == [
        "sweep_lr_0p01_bs_16", "sweep_lr_0p01_bs_8", "sweep_lr_0p1_bs_16", "sweep_lr_0p1_bs_8"]
    uploads = [o for o in cloud_env.gcs.list_objects(cloud_env.bucket)
               if o.startswith("jobspec-staging/")]
    assert len(uploads) == 1  # one package for the whole group
    for job_id, job in jobs.items():
        if "--bs=16" not in job["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["args"]:
            cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_SUCCEEDED", timeout=30)
        else:
            cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_RUNNING", timeout=30)
    status = cli("status", "sweep", "--target", "cloud", "--bucket", cloud_env.bucket, "--json")
    assert status.code == 0, status.err
    states = {r["name"]: r["state"] for r in json.loads(status.out)["members"]}
    assert states == {"sweep_lr_0p1_bs_8": "SUCCEEDED", "sweep_lr_0p1_bs_16": "RUNNING",
                      "sweep_lr_0p01_bs_8": "SUCCEEDED", "sweep_lr_0p01_bs_16": "RUNNING"}
    cancel = cli("cancel", "sweep", "--bucket", cloud_env.bucket)
    assert cancel.code == 0, cancel.err
    assert "cancel requested for sweep_lr_0p1_bs_16" in cancel.err
    assert "cancel requested for sweep_lr_0p01_bs_16" in cancel.err
    assert "sweep_lr_0p1_bs_8" not in cancel.err  # finished members are left alone
    for job_id, job in jobs.items():
        if job["displayName"] in ("sweep_lr_0p1_bs_16", "sweep_lr_0p01_bs_16"):
            cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=30)
    again = cli("run", str(spec), "--target", "cloud", "--detach", *bucket)
    assert again.code == 3 and "group name 'sweep' is taken" in again.err


def test_an_inherited_mistake_is_reported_once(cli, tmp_path: Path) -> None:
    repo = _repo(tmp_path)
    spec = repo / "specs" / "job.yaml"
    spec.write_text("extends: ../base.yaml\ntargets:\n  cloud:\n    regoin: us-east1\n"
                    "  cloud-gpu:\n    kind: cloud\n    extends: cloud\n"
                    "    scale_tier: BASIC_GPU\n")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert out.err.splitlines()[0] == (
        f"{spec}:4:5: targets.cloud.regoin: unknown key (did you mean 'region'?)")
    assert out.err.count("regoin") == 2  # the message and its source line, once
    assert out.err.splitlines()[-1] == "1 problem(s) in 1 file(s)"


def test_matrix_run_on_the_cloud_follows_every_member(cli, cloud_env, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    repo = _repo(tmp_path)
    (repo / "trainer" / "task.py").write_text(
        "import os, sys\nprint('lr', sys.argv[1], 'key', os.environ['API_TOKEN'], flush=True)\n")
    spec = repo / "specs" / "sweep.yaml"
    spec.write_text("extends: ../base.yaml\nname: sweep\nenv: {API_TOKEN: tok-98765}\n"
                    "matrix:\n  lr: [0.1, 0.2]\nargs:\n  - --lr=${matrix.lr}\n")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud_env.bucket}")
    assert out.code == 0, out.err
    assert "sweep_lr_0p1/workerpool0-0 | lr --lr=0.1 key ****" in out.out
    assert "sweep_lr_0p2/workerpool0-0 | lr --lr=0.2 key ****" in out.out
    assert "tok-98765" not in out.out + out.err
    assert "sweep_lr_0p1: SUCCEEDED" in out.err and "sweep_lr_0p2: SUCCEEDED" in out.err
