"""`jobspec import`: gcloud command lines in, specs out, each spec checked by `jobspec validate`
and read back by the loader and the planner. Real files in a temporary repo holding a copy of
trainer/; gcloud itself (when installed) is the reference for flags and for the local run."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import googleapiclient
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from jobspec import runtimes
from jobspec.errors import JobspecError, UsageError
from jobspec.importer import config as import_config
from jobspec.importer import flags as import_flags
from jobspec.importer import import_gcloud
from jobspec.importer import machine as import_machine
from jobspec.importer.words import literal, split_text
from jobspec.loader import load
from tests.conftest import REPO, Outcome

GCLOUD = shutil.which("gcloud")
# the one kind of Google prebuilt training image still available (the TensorFlow ones ended)
IMAGE = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
EXPIRED = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
SEED_SUBMIT = ("gcloud ml-engine jobs submit training census_single_7 --job-dir "
               "gs://$BUCKET_NAME/$JOB_NAME --module-name trainer.oops --package-path trainer/ "
               "--region us-central1 --runtime-version 1.2")
CUSTOM_JOB = ["gcloud", "ai", "custom-jobs", "create", "--region=europe-west4",
              "--display-name=census_vertex",
              "--worker-pool-spec=machine-type=n1-standard-4,replica-count=1,"
              f"executor-image-uri={IMAGE},python-module=trainer.task,local-package-path=trainer",
              "--args=--train-steps=1000,--learning-rate=0.1"]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(REPO / "trainer", root / "trainer",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "tests" / "probe" / "probe", root / "probe",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(REPO / "jobspec.schema.json", root / "jobspec.schema.json")
    (root / "pyproject.toml").write_text('[project]\nname = "census"\n', encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("BUCKET_NAME", "JOB_NAME", "EVAL_DATA", "GOOGLE_CLOUD_PROJECT",
                "CLOUDSDK_CORE_PROJECT"):
        monkeypatch.delenv(var, raising=False)


def imported(cli: Any, repo: Path, *args: str, spec: str = "specs/job.yaml") -> tuple[Path,
                                                                                      Outcome]:
    """Import into SPEC, check the header and that `jobspec validate` accepts the result."""
    out = cli("import", "-o", spec, *args, cwd=repo)
    assert out.code == 0, out.err
    assert "Traceback" not in out.err and "does not validate yet" not in out.err
    path = repo / spec
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# yaml-language-server: $schema=../jobspec.schema.json\n")
    valid = cli("validate", str(path), cwd=repo)
    assert valid.code == 0, valid.err
    return path, out


def local_plan(cli: Any, repo: Path, spec: Path) -> dict[str, Any]:
    out = cli("plan", str(spec), "--target", "local", "--json", cwd=repo)
    assert out.code == 0, out.err
    plan: dict[str, Any] = json.loads(out.out)
    return plan


def fails(cli: Any, repo: Path, *args: str) -> Outcome:
    out = cli("import", *args, cwd=repo)
    assert out.code == 2, (out.out, out.err)
    assert "Traceback" not in out.err
    return out


# --- local train ------------------------------------------------------------------------------


def test_local_train_seed_command(cli: Any, repo: Path) -> None:
    spec, out = imported(cli, repo, "--", "gcloud", "ml-engine", "local", "train",
                         "--module-name", "trainer.oops", "--package-path", "trainer")
    assert out.out == ""
    loaded = load(spec, target="local")
    assert loaded.spec.trainer.package_path == "../trainer"
    assert loaded.spec.trainer.module == "trainer.oops"
    assert loaded.spec.args == []
    plan = local_plan(cli, repo, spec)
    assert plan["module"] == "trainer.oops"
    assert plan["package_path"] == str(repo / "trainer")
    assert plan["job_dir"] is None
    [proc] = plan["processes"]
    assert proc["argv"][1:] == ["-m", "trainer.oops"]
    assert proc["cwd"] == str(repo)


def test_local_train_with_user_args(cli: Any, repo: Path) -> None:
    user = ["--train-files", "data/census/adult.data.csv", "--eval-files",
            "data/census/adult.test.csv", "--train-steps", "1000", "--job-dir", "output/census"]
    spec, _ = imported(cli, repo, "--", "gcloud", "ml-engine", "local", "train",
                       "--module-name", "trainer.oops", "--package-path", "trainer", "--", *user)
    assert load(spec, target="local").spec.args == user
    [proc] = local_plan(cli, repo, spec)["processes"]
    assert proc["argv"][1:] == ["-m", "trainer.oops", *user]  # as written, nothing added


def test_local_job_dir_and_distributed_defaults(cli: Any, repo: Path) -> None:
    spec, out = imported(cli, repo, "--", "gcloud", "ai-platform", "local", "train",
                         "--module-name", "trainer.oops", "--package-path", "trainer",
                         "--job-dir", "out dir", "--distributed", "--worker-count", "1",
                         "--", "--x", "1")
    target = load(spec, target="local").spec.targets["local"]
    assert "#       --job-dir 'out dir' \\\n" in spec.read_text()  # the header re-quotes
    assert target.job_dir == "out dir"
    assert target.distributed is not None
    # gcloud: 2 parameter servers unless told otherwise
    assert target.distributed.model_dump() == {"workers": 1, "parameter_servers": 2,
                                               "evaluators": 0, "start_port": 27182}
    plan = local_plan(cli, repo, spec)
    assert [p["task"] for p in plan["processes"]] == ["chief-0", "ps-0", "ps-1", "worker-0"]
    assert plan["processes"][0]["argv"][3:] == ["--x", "1", "--job-dir", "out dir"]


def test_local_counts_without_distributed_are_reported(cli: Any, repo: Path) -> None:
    spec, out = imported(cli, repo, "--", "gcloud", "ml-engine", "local", "train",
                         "--module-name", "trainer.oops", "--package-path", "trainer",
                         "--worker-count", "3", "--project", "p")
    assert load(spec, target="local").spec.targets["local"].distributed is None
    assert "--worker-count is ignored: it only applies with --distributed" in out.err
    assert "--project is ignored: a local run uses no project" in out.err


def _gcloud_env(tmp_path: Path, out: Path) -> dict[str, str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    (tmp_path / "gcloud-config").mkdir()
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "CLOUDSDK_CONFIG": str(tmp_path / "gcloud-config"),
            "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_METRICS_ENVIRONMENT": "test",
            "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false", "PROBE_OUT": str(out)}


@pytest.mark.skipif(GCLOUD is None, reason="gcloud is not on PATH")
def test_imported_local_run_matches_gcloud(cli: Any, jobspec_proc: Any, repo: Path,
                                           tmp_path: Path) -> None:
    command = ("gcloud ai-platform local train --module-name probe.dump --package-path probe/ "
               "--job-dir 'out dir' -- --a 1 --b 'two words'")
    theirs, ours = tmp_path / "theirs", tmp_path / "ours"
    theirs.mkdir()
    ours.mkdir()
    done = subprocess.run(shlex.split(command), cwd=repo, env=_gcloud_env(tmp_path, theirs),
                          capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    spec, _ = imported(cli, repo, "--string", command)
    run = jobspec_proc("run", str(spec), "--target", "local", cwd=repo,
                       env={"PROBE_OUT": str(ours)})
    assert run.code == 0, run.err
    mine = json.loads((ours / "single-0.json").read_text())
    gcloud = json.loads((theirs / "single-0.json").read_text())
    assert mine["argv"][1:] == gcloud["argv"][1:] == ["--a", "1", "--b", "two words",
                                                       "--job-dir", "out dir"]
    assert mine["cwd"] == gcloud["cwd"] == str(repo)
    assert json.loads(mine["env"]["TF_CONFIG"]) == json.loads(gcloud["env"]["TF_CONFIG"])


# --- jobs submit training -----------------------------------------------------------------


@pytest.mark.parametrize("form", ["string", "argv"])
def test_submit_training_seed_command(cli: Any, repo: Path, monkeypatch: pytest.MonkeyPatch,
                                      form: str) -> None:
    args = ["--string", SEED_SUBMIT] if form == "string" else ["--", *shlex.split(SEED_SUBMIT)]
    monkeypatch.setenv("BUCKET_NAME", "census-bucket")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    spec, out = imported(cli, repo, *args)
    text = spec.read_text()
    # the legacy runtime stays as written, the image that replaces it (one that exists today,
    # the runtime table's, as `plan` names it) is the commented line below it
    assert ("    runtime_version: '1.2'\n    # image: tensorflow/tensorflow:2.17.0  # TensorFlow"
            " 2.17: use instead of runtime_version\n") in text
    assert "vertex-ai/training" not in text
    assert "bucket: ${BUCKET_NAME}" in text and "job_dir: gs://${bucket}/${name}" in text
    assert "runtime_version '1.2' is an AI Platform Training runtime" in out.err
    assert "Use instead `image: tensorflow/tensorflow:2.17.0`" in out.err
    assert "keeps runtime_version '1.2' as written" in out.err
    assert "took ${JOB_NAME} in the job dir to be the job name" in out.err
    loaded = load(spec, target="cloud")
    cloud = loaded.spec.targets["cloud"]
    assert loaded.spec.name == "census_single_7"
    assert (loaded.spec.trainer.module, loaded.spec.trainer.package_path) == ("trainer.oops",
                                                                               "../trainer")
    assert (cloud.bucket, cloud.region, cloud.runtime_version) == ("census-bucket",
                                                                   "us-central1", "1.2")
    assert cloud.job_dir == "gs://census-bucket/census_single_7"
    plan = local_plan(cli, repo, spec)
    assert (plan["module"], plan["package_path"]) == ("trainer.oops", str(repo / "trainer"))
    # by policy a legacy runtime cannot be planned for the cloud; the error names the way out
    cloud_plan = cli("plan", str(spec), "--target", "cloud", cwd=repo)
    assert cloud_plan.code == 2 and "shut down on 2025-01-31" in cloud_plan.err
    # taking the proposal gives a plan that runs on that image through the launcher
    spec.write_text(text.replace("    runtime_version: '1.2'\n    # image:", "    image:"))
    done = cli("plan", str(spec), "--target", "cloud", "--json", cwd=repo)
    assert done.code == 0, done.err
    container = json.loads(done.out)["request"]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
    assert container["imageUri"] == "tensorflow/tensorflow:2.17.0"


@pytest.mark.parametrize("group", [["ml-engine"], ["ai-platform"], ["beta", "ai-platform"],
                                   ["alpha", "ml-engine"]])
def test_command_variants_give_the_same_spec(cli: Any, repo: Path, group: list[str],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUCKET_NAME", "census-bucket")
    submit = shlex.split(SEED_SUBMIT)
    spec, _ = imported(cli, repo, "--", "gcloud", *group, *submit[2:], "--", "--steps", "5")
    local, _ = imported(cli, repo, "--", "gcloud", *group, "local", "train", "--module-name",
                        "trainer.oops", "--package-path", "trainer", spec="specs/local.yaml")
    dumped = load(spec, target="cloud").spec.model_dump()
    assert dumped["args"] == ["--steps", "5"]
    assert dumped["targets"]["cloud"]["job_dir"] == "gs://census-bucket/census_single_7"
    assert dumped["description"] == f"Imported from `gcloud {' '.join(group)} jobs submit training`"
    assert load(local, target="local").spec.trainer.module == "trainer.oops"


def test_unset_variable_is_reported_after_writing(cli: Any, repo: Path) -> None:
    out = cli("import", "-o", "specs/job.yaml", "--string", SEED_SUBMIT, cwd=repo)
    assert out.code == 0, out.err
    assert ("specs/job.yaml needs variables that are not set here before `jobspec plan` or `run` "
            "(`jobspec validate --strict-env specs/job.yaml`)") in out.err
    assert "environment variable BUCKET_NAME is not set" in out.err


def test_submit_training_flags(cli: Any, repo: Path) -> None:
    spec, out = imported(
        cli, repo, "--", "gcloud", "beta", "ai-platform", "jobs", "submit", "training", "j1",
        "--staging-bucket", "gs://stage-bkt", "--job-dir", "gs://out-bkt/j1/run",
        "--module-name", "trainer.task", "--package-path", "trainer", "--region",
        "europe-west4", "--runtime-version", "2.15", "--python-version", "3.7",
        "--scale-tier", "custom", "--master-machine-type", "n1-standard-8",
        "--master-accelerator", "type=nvidia-tesla-t4,count=2", "--worker-machine-type",
        "complex_model_m", "--worker-count", "3", "--labels", "team=ml", "--labels=env=dev",
        "--network", "projects/1/global/networks/n", "--service-account",
        "sa@p.iam.gserviceaccount.com", "--project", "my-proj", "--stream-logs", "--quiet",
        "--packages", "dep-1.0.tar.gz", "--", "--lr", "0.1")
    cloud = load(spec, target="cloud").spec.targets["cloud"]
    assert (cloud.bucket, cloud.job_dir) == ("stage-bkt", "gs://out-bkt/j1/run")
    assert "job_dir: gs://out-bkt/${name}/run" in spec.read_text()
    assert (cloud.region, cloud.runtime_version, cloud.python_version) == ("europe-west4",
                                                                           "2.15", "3.7")
    assert cloud.scale_tier == "CUSTOM" and cloud.chief is not None and cloud.workers is not None
    assert cloud.chief.machine_type == "n1-standard-8"
    assert cloud.chief.accelerator is not None
    assert (cloud.chief.accelerator.type, cloud.chief.accelerator.count) == ("NVIDIA_TESLA_T4", 2)
    assert (cloud.workers.machine_type, cloud.workers.count) == ("complex_model_m", 3)
    assert cloud.labels == {"team": "ml", "env": "dev"}
    assert cloud.network == "projects/1/global/networks/n"
    assert cloud.service_account == "sa@p.iam.gserviceaccount.com"
    assert cloud.project == "my-proj"
    # 2.15 only had Google's expired images: the nearest newer maintained one, with CUDA for
    # the accelerators
    assert "    # image: tensorflow/tensorflow:2.17.0-gpu  # TensorFlow 2.17" in spec.read_text()
    assert "the only image of TensorFlow 2.15 jobspec knows is the Vertex AI prebuilt" in out.err
    assert "--stream-logs is what `jobspec run` does by default" in out.err
    assert "--quiet is ignored" in out.err
    assert "--packages is not supported: dep-1.0.tar.gz is a prebuilt archive" in out.err


def test_network_is_a_pre_ga_flag(cli: Any, repo: Path) -> None:
    out = fails(cli, repo, "--", "gcloud", "ml-engine", "jobs", "submit", "training", "j",
                "--module-name", "trainer.task", "--package-path", "trainer", "--network", "n")
    assert "unknown flag --network for `gcloud ml-engine jobs submit training`" in out.err


def test_submit_training_config(cli: Any, repo: Path) -> None:
    (repo / "config.yaml").write_text("""\
jobId: not_this_one
labels: {team: ml}
trainingInput:
  scaleTier: CUSTOM
  masterType: n1-highmem-8
  masterConfig:
    acceleratorConfig: {count: 1, type: NVIDIA_TESLA_T4}
  workerType: n1-standard-4
  workerCount: 2
  parameterServerType: large_model
  parameterServerCount: "1"
  args: [--train-steps, "1000"]
  region: europe-west1
  runtimeVersion: "2.15"
  pythonVersion: "3.10"
  jobDir: gs://cfg-bucket/census_cfg
  hyperparameters: {goal: MAXIMIZE}
  scheduling: {maxRunningTime: 7200s}
""", encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai-platform", "jobs", "submit",
                         "training", "census_cfg", "--config", "config.yaml", "--module-name",
                         "trainer.task", "--package-path", "trainer/", "--region",
                         "us-central1")
    loaded = load(spec, target="cloud")
    cloud = loaded.spec.targets["cloud"]
    assert loaded.spec.name == "census_cfg" and loaded.spec.args == ["--train-steps", "1000"]
    assert cloud.region == "us-central1"  # the command line overrides the file, as in gcloud
    assert (cloud.bucket, cloud.job_dir) == ("cfg-bucket", "gs://cfg-bucket/census_cfg")
    assert "job_dir: gs://${bucket}/${name}" in spec.read_text()
    assert cloud.scale_tier == "CUSTOM"
    options = {"tpu_topology", "boot_disk", "reservation"}  # none in this config
    assert [p.model_dump(exclude=options) if p else None
            for p in (cloud.chief, cloud.workers, cloud.parameter_servers)] == [
        {"machine_type": "n1-highmem-8", "count": 1,
         "accelerator": {"type": "NVIDIA_TESLA_T4", "count": 1}},
        {"machine_type": "n1-standard-4", "count": 2, "accelerator": None},
        {"machine_type": "large_model", "count": 1, "accelerator": None}]
    assert cloud.timeout_seconds() == 7200 and cloud.labels == {"team": "ml"}
    assert "config.yaml:17: trainingInput.hyperparameters is not supported" in out.err
    assert "config.yaml:1: jobId is ignored" in out.err
    # runtimeVersion from the file goes through the same table as --runtime-version
    assert cloud.runtime_version == "2.15"
    assert "    # image: tensorflow/tensorflow:2.17.0-gpu  # TensorFlow 2.17" in spec.read_text()


def test_submit_training_without_a_runtime_runs_on_the_newest_tensorflow_image(
        cli: Any, repo: Path) -> None:
    spec, out = imported(cli, repo, "--", "gcloud", "ai-platform", "jobs", "submit",
                         "training", "j2", "--module-name", "trainer.task", "--package-path",
                         "trainer", "--staging-bucket", "gs://stage-bkt")
    cloud = load(spec, target="cloud").spec.targets["cloud"]
    assert (cloud.image, cloud.executor_image) == ("tensorflow/tensorflow:2.20.0", None)
    assert ("the spec runs the package on TensorFlow's own image tensorflow/tensorflow:2.20.0"
            " (TensorFlow 2.20, the newest jobspec knows)") in out.err


def test_config_unknown_key_points_at_it(cli: Any, repo: Path) -> None:
    (repo / "config.yaml").write_text("trainingInput:\n  scaleTier: BASIC\n  regoin: x\n",
                                      encoding="utf-8")
    out = fails(cli, repo, "--", "gcloud", "ml-engine", "jobs", "submit", "training", "j",
                "--config", "config.yaml", "--module-name", "m", "--package-path", "trainer")
    assert out.err.startswith("config.yaml:3:3: trainingInput.regoin: unknown key "
                              "(did you mean 'region'?)\n")
    assert "    3 |   regoin: x" in out.err


# --- ai custom-jobs create ---------------------------------------------------------------


def test_custom_job(cli: Any, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec, out = imported(cli, repo, "--", *CUSTOM_JOB)
    loaded = load(spec, target="cloud")
    cloud = loaded.spec.targets["cloud"]
    assert loaded.spec.name == "census_vertex"
    assert loaded.spec.args == ["--train-steps=1000", "--learning-rate=0.1"]
    assert (loaded.spec.trainer.module, loaded.spec.trainer.package_path) == ("trainer.task",
                                                                               "../trainer")
    assert (cloud.executor_image, cloud.region, cloud.scale_tier) == (IMAGE, "europe-west4",
                                                                      "BASIC")
    assert "local-package-path 'trainer' is itself the package" in out.err
    assert "edit targets.cloud.bucket" in out.err  # custom-jobs create names no bucket
    known = runtimes.resolve(runtime_version=None, executor_image=IMAGE, region="europe-west4",
                             gpu=False, today=date.today())
    assert all(w in out.err for w in known.warnings)  # e.g. past its end of availability
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    done = cli("plan", str(spec), "--target", "cloud", "--json", cwd=repo)
    assert done.code == 0, done.err
    plan = json.loads(done.out)
    [pool] = plan["request"]["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"] == {"machineType": "n1-standard-4"}
    python = pool["pythonPackageSpec"]
    assert (python["pythonModule"], python["executorImageUri"]) == ("trainer.task", IMAGE)
    assert python["args"][:2] == ["--train-steps=1000", "--learning-rate=0.1"]
    assert plan["region"] == "europe-west4"


def test_custom_job_on_an_expired_image_proposes_one_that_exists(
        cli: Any, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    command = [w.replace(IMAGE, EXPIRED) for w in CUSTOM_JOB]
    spec, out = imported(cli, repo, "--", *command)
    text = spec.read_text()
    assert (f"    executor_image: {EXPIRED}\n    # image: tensorflow/tensorflow:2.17.0  #"
            " TensorFlow 2.17, the same version: use instead of executor_image\n") in text
    assert "executor_image tf-cpu.2-17.py310 reached its end of availability" in out.err
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    refused = cli("plan", str(spec), "--target", "cloud", cwd=repo)
    assert refused.code == 2 and "allow_unavailable_image: true" in refused.err


def test_custom_job_pools_and_workdir(cli: Any, repo: Path) -> None:
    chief = f"machine-type=n1-standard-8,executor-image-uri={IMAGE},python-module=trainer.task"
    spec, out = imported(
        cli, repo, "--", "gcloud", "ai", "custom-jobs", "create", "--display-name", "two pools",
        f"--worker-pool-spec={chief},local-package-path=.,requirements=numpy;pandas>=2",
        "--worker-pool-spec=machine-type=n1-standard-4,replica-count=2,accelerator-type="
        "NVIDIA_TESLA_T4,accelerator-count=1", "--args=^;^--a=1,2;--b", "--labels=team=ml",
        "--service-account=sa@p.iam.gserviceaccount.com", "--enable-web-access")
    loaded = load(spec, target="cloud")
    cloud = loaded.spec.targets["cloud"]
    assert loaded.spec.name == "two_pools"  # display names are free text: made valid, warned
    assert "the job name 'two pools' is not a valid spec name" in out.err
    assert loaded.spec.trainer.package_path == "../trainer"  # local-package-path is the workdir
    assert loaded.spec.trainer.requirements == ["numpy", "pandas>=2"]
    assert loaded.spec.args == ["--a=1,2", "--b"]
    assert cloud.scale_tier == "CUSTOM" and cloud.workers is not None
    assert (cloud.workers.count, cloud.workers.accelerator.type if cloud.workers.accelerator
            else None) == (2, "NVIDIA_TESLA_T4")
    assert cloud.labels == {"team": "ml"}
    assert cloud.enable_web_access  # the interactive shell: a spec setting now


def test_custom_job_config(cli: Any, repo: Path) -> None:
    (repo / "job.yaml").write_text(f"""\
serviceAccount: trainer@p.iam.gserviceaccount.com
network: projects/123/global/networks/vpc
baseOutputDirectory: {{outputUriPrefix: gs://vertex-out/census_v}}
scheduling: {{timeout: 3600s, restartJobOnWorkerRestart: true}}
workerPoolSpecs:
  - machineSpec: {{machineType: n1-standard-4}}
    replicaCount: 1
    pythonPackageSpec:
      executorImageUri: {IMAGE}
      pythonModule: trainer.task
      packageUris: [gs://vertex-out/staging/trainer-0.0.0.tar.gz]
      args: [--train-steps=10]
      env: [{{name: MODE, value: fast}}]
""", encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create",
                         "--region=us-east1", "--display-name=census_v", "--config=job.yaml")
    loaded = load(spec, target="cloud")
    cloud = loaded.spec.targets["cloud"]
    assert loaded.spec.args == ["--train-steps=10"] and loaded.spec.env == {"MODE": "fast"}
    assert loaded.spec.trainer.package_path == "../trainer"  # the folder gcloud built it from
    assert "trainer-0.0.0.tar.gz is built from ./trainer" in out.err
    assert (cloud.bucket, cloud.job_dir) == ("vertex-out", "gs://vertex-out/census_v")
    assert (cloud.service_account, cloud.network) == ("trainer@p.iam.gserviceaccount.com",
                                                      "projects/123/global/networks/vpc")
    assert cloud.timeout_seconds() == 3600 and cloud.scale_tier == "BASIC"
    assert cloud.scheduling is not None and cloud.scheduling.restart_job_on_worker_restart


BYOI = "europe-docker.pkg.dev/proj/repo/trainer:1"
OWN_IMAGE = ["gcloud", "ai", "custom-jobs", "create", "--region=us-central1",
             "--display-name=own_image",
             f"--worker-pool-spec=machine-type=n1-standard-4,container-image-uri={BYOI}",
             "--worker-pool-spec=machine-type=n1-standard-8,replica-count=2,accelerator-type="
             f"NVIDIA_TESLA_T4,accelerator-count=1,container-image-uri={BYOI}",
             "--command=python3,-u,-m,trainer.task", "--args=^;^--steps=10;--note=a,b c"]
OWN_IMAGE_CONFIG = f"""\
baseOutputDirectory: {{outputUriPrefix: gs://my-bucket/own_image}}
workerPoolSpecs:
  - machineSpec:
      machineType: n1-standard-8
      reservationAffinity:
        reservationAffinityType: SPECIFIC_RESERVATION
        key: compute.googleapis.com/reservation-name
        values: [projects/proj/zones/us-central1-a/reservations/r1]
    diskSpec: {{bootDiskType: pd-standard, bootDiskSizeGb: 200}}
    replicaCount: 1
    containerSpec: &run
      imageUri: {BYOI}
      command: [python3, -m, trainer.task]
      args: [--steps, "10", --mode=$fast]
      env: [{{name: MODE, value: fast}}, {{name: EMPTY}}]
  - machineSpec:
      machineType: ct5lp-hightpu-4t
      acceleratorType: TPU_V5_LITEPOD
      acceleratorCount: 4
      tpuTopology: 2x2
      reservationAffinity: {{reservationAffinityType: ANY_RESERVATION}}
    diskSpec: {{bootDiskType: pd-standard, bootDiskSizeGb: 200}}
    replicaCount: 2
    containerSpec: *run
"""


_TPU_MACHINE = """\
      machineType: ct5lp-hightpu-4t
      acceleratorType: TPU_V5_LITEPOD
      acceleratorCount: 4
      tpuTopology: 2x2
"""


def _body(spec: Path) -> str:
    return "".join(line + "\n" for line in spec.read_text().splitlines()
                   if not line.startswith("#"))


def test_custom_job_on_its_own_image(cli: Any, repo: Path) -> None:
    spec, out = imported(cli, repo, "--", *OWN_IMAGE)
    assert _body(spec) == f"""\
version: 1
name: own_image
description: Imported from `gcloud ai custom-jobs create`
trainer:
  package_path: ../trainer
  module: trainer.task
args:
- --steps=10
- --note=a,b c
targets:
  local: {{}}
  cloud:
    bucket: replace-with-your-bucket
    region: us-central1
    image: {BYOI}
    command:
    - python3
    - -u
    - -m
    - trainer.task
    scale_tier: CUSTOM
    chief:
      machine_type: n1-standard-4
    workers:
      machine_type: n1-standard-8
      count: 2
      accelerator:
        type: NVIDIA_TESLA_T4
        count: 1
"""
    assert ("note: bring your own image: the cloud job runs `python3 -u -m trainer.task` in "
            f"{BYOI}, which holds the trainer, and nothing is packaged or staged") in out.err
    assert "the program must accept --job-dir" in out.err


def test_custom_job_config_on_its_own_image_with_machine_options(
        cli: Any, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "job.yaml").write_text(OWN_IMAGE_CONFIG, encoding="utf-8")
    spec, _ = imported(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create",
                       "--display-name=own_image", "--config=job.yaml")
    assert _body(spec) == f"""\
version: 1
name: own_image
description: Imported from `gcloud ai custom-jobs create`
trainer:
  package_path: ../trainer
  module: trainer.task
args:
- --steps
- '10'
- --mode=$$fast
env:
  MODE: fast
  EMPTY: ''
targets:
  local: {{}}
  cloud:
    bucket: my-bucket
    image: {BYOI}
    command:
    - python3
    - -m
    - trainer.task
    scale_tier: CUSTOM
    chief:
      machine_type: n1-standard-8
      count: 1
      reservation:
        name: projects/proj/zones/us-central1-a/reservations/r1
    workers:
      machine_type: ct5lp-hightpu-4t
      count: 2
      accelerator:
        type: TPU_V5_LITEPOD
        count: 4
      tpu_topology: 2x2
      reservation:
        affinity: ANY_RESERVATION
    boot_disk:
      type: pd-standard
      size_gb: 200
    job_dir: gs://${{bucket}}/${{name}}
"""
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    done = cli("plan", str(spec), "--target", "cloud", "--json", cwd=repo)
    assert done.code == 0, done.err
    chief, workers = json.loads(done.out)["request"]["jobSpec"]["workerPoolSpecs"]
    assert workers["machineSpec"] == {
        "machineType": "ct5lp-hightpu-4t", "acceleratorType": "TPU_V5_LITEPOD",
        "acceleratorCount": 4, "tpuTopology": "2x2",
        "reservationAffinity": {"reservationAffinityType": "ANY_RESERVATION"}}
    assert chief["diskSpec"] == workers["diskSpec"] == {"bootDiskType": "pd-standard",
                                                        "bootDiskSizeGb": 200}


def _same_job(cli: Any, vertex: Any, repo: Path, tmp_path: Path, command: list[str]) -> None:
    """The original gcloud command, run against the Vertex stand-in, and `jobspec plan` of its
    import make the same pools: jobspec only adds `--job-dir JOB_DIR` to the args."""
    from tests.standins._schema import with_disk_defaults
    from tests.test_container_plan import _gcloud_creates

    before = len(vertex.requests)
    made = _gcloud_creates([GCLOUD or "gcloud", *command[1:]], vertex.url, tmp_path)
    [sent] = [r.body for r in vertex.requests[before:] if r.method == "POST"]
    assert made["displayName"] == sent["displayName"]
    spec, _ = imported(cli, repo, "--", *command)
    out = cli("plan", str(spec), "--target", "cloud", "--json", cwd=repo)
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    planned = with_disk_defaults(plan["request"])["jobSpec"]["workerPoolSpecs"]
    theirs = with_disk_defaults(sent)["jobSpec"]["workerPoolSpecs"]
    for mine, gcloud in zip(planned, theirs, strict=True):
        run = dict(gcloud["containerSpec"])
        run["args"] = [*run.get("args", []), "--job-dir", plan["job_dir"]]
        assert mine["containerSpec"] == run
        for key in ("machineSpec", "diskSpec"):
            assert mine[key] == gcloud[key], key
        assert int(mine["replicaCount"]) == int(gcloud["replicaCount"])


@pytest.mark.skipif(GCLOUD is None, reason="gcloud is not on PATH")
def test_own_image_flags_plan_the_job_gcloud_makes(cli: Any, vertex: Any, repo: Path,
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    _same_job(cli, vertex, repo, tmp_path, OWN_IMAGE)


@pytest.mark.skipif(GCLOUD is None, reason="gcloud is not on PATH")
def test_own_image_config_plans_the_job_gcloud_makes(cli: Any, vertex: Any, repo: Path,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "proj")
    config = repo / "job.yaml"
    # the stand-in knows no TPU machine types: the TPU pool's keys are pinned by the test above
    # gcloud sends {name: EMPTY} as it is, jobspec {name: EMPTY, value: ''}: the same variable
    config.write_text(OWN_IMAGE_CONFIG.replace("--mode=$fast", "--mode=fast").replace(
        ", {name: EMPTY}", "").replace(
        _TPU_MACHINE, "      machineType: n1-standard-8\n"), encoding="utf-8")
    _same_job(cli, vertex, repo, tmp_path, ["gcloud", "ai", "custom-jobs", "create",
                                            "--region=us-central1", "--display-name=own_image",
                                            f"--config={config}"])


def test_own_image_needs_a_python_module_command(cli: Any, repo: Path) -> None:
    pool = f"--worker-pool-spec=machine-type=n1-standard-4,container-image-uri={BYOI}"
    base = ["--", "gcloud", "ai", "custom-jobs", "create", "--display-name=x", pool]
    out = fails(cli, repo, *base)
    assert out.err == (f"the job runs {BYOI} with the image's own entrypoint (no --command, no "
                       "containerSpec.command), and a spec's command: must say what runs: add "
                       "--command with the image's entrypoint (`docker inspect` shows it)\n")
    out = fails(cli, repo, *base, "--command=/app/train.sh,--fast")
    assert out.err.startswith("the image's command `/app/train.sh --fast` does not run a Python "
                              "module (python3 -m MODULE)")
    out = fails(cli, repo, *base, "--command=python3,-m,trainer.task", "--args=--a,1,--b,1")
    assert out.err.startswith('--args: "1" is given twice, and gcloud refuses that')


@pytest.mark.parametrize(("pools", "said"), [
    ([f"executor-image-uri={IMAGE},python-module=trainer.task", f"container-image-uri={BYOI}"],
     f"worker pool 1 (workers) runs the container image {BYOI}, and worker pool 0 (chief) "
     f"runs a Python package (python-module=trainer.task): a spec runs one image in every "
     "pool"),
    ([f"container-image-uri={BYOI}", "container-image-uri=gcr.io/proj/other:2"],
     f"worker pool 1 (workers): container-image-uri=gcr.io/proj/other:2 differs from {BYOI} in "
     "worker pool 0 (chief): a spec has one image per target"),
    ([f"container-image-uri={BYOI},python-module=trainer.task"],
     f"worker pool 0 (chief): container-image-uri={BYOI} with python-module: gcloud refuses "
     "that too"),
])
def test_one_image_per_target(cli: Any, repo: Path, pools: list[str], said: str) -> None:
    out = fails(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create", "--display-name=x",
                "--command=python3,-m,trainer.task",
                *[f"--worker-pool-spec=machine-type=n1-standard-4,{p}" for p in pools])
    assert said in out.err


def test_config_pools_must_agree_on_args(cli: Any, repo: Path) -> None:
    (repo / "job.yaml").write_text(OWN_IMAGE_CONFIG.replace("containerSpec: *run", """\
containerSpec:
      imageUri: {BYOI}
      command: [python3, -m, trainer.task]
      args: [--steps, "20"]
      env: [{name: MODE, value: fast}, {name: EMPTY}]""".replace("{BYOI}", BYOI)),
        encoding="utf-8")
    command = ["--", "gcloud", "ai", "custom-jobs", "create", "--display-name=x",
               "--config=job.yaml"]
    out = fails(cli, repo, *command)
    assert ("worker pool 1 (workers) has args ['--steps', '20'], and worker pool 0 (chief) has "
            "['--steps', '10', '--mode=$$fast']: a spec gives every pool the same args"
            in out.err)
    # --args replaces every pool's args in gcloud, and then they agree
    spec, _ = imported(cli, repo, *command, "--args=--steps=30")
    assert load(spec, target="cloud").spec.args == ["--steps=30"]
    (repo / "job.yaml").write_text(OWN_IMAGE_CONFIG.replace("containerSpec: *run", f"""\
containerSpec:
      imageUri: {BYOI}
      command: [python3, -m, trainer.task]
      args: [--steps, "10", --mode=$fast]
      env: [{{name: MODE, value: s3cr3t}}, {{name: EMPTY}}]"""), encoding="utf-8")
    out = fails(cli, repo, *command)
    assert out.err == ("worker pool 1 (workers) has env MODE set differently from worker pool "
                       "0 (chief): a spec gives every pool the same env\n")  # no values


def test_pools_keep_their_own_disks_and_ml_engine_disk_configs(cli: Any, repo: Path) -> None:
    (repo / "job.yaml").write_text(OWN_IMAGE_CONFIG.replace(
        "bootDiskSizeGb: 200}\n    replicaCount: 2", "bootDiskSizeGb: 300}\n    replicaCount: 2"),
        encoding="utf-8")
    spec, _ = imported(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create",
                       "--display-name=x", "--config=job.yaml")
    cloud = load(spec, target="cloud").spec.targets["cloud"]
    assert cloud.boot_disk is None
    assert cloud.chief is not None and cloud.workers is not None
    assert cloud.chief.boot_disk is not None and cloud.workers.boot_disk is not None
    assert (cloud.chief.boot_disk.size_gb, cloud.workers.boot_disk.size_gb) == (200, 300)
    (repo / "ml.yaml").write_text("""\
trainingInput:
  scaleTier: CUSTOM
  masterType: n1-standard-8
  masterConfig: {diskConfig: {bootDiskType: pd-ssd, bootDiskSizeGb: 150}}
  workerType: n1-standard-4
  workerCount: 2
  workerConfig: {diskConfig: {bootDiskSizeGb: 50}, tpuTfVersion: "2.1"}
""", encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai-platform", "jobs", "submit", "training",
                         "ml_job", "--module-name=trainer.task", "--package-path=trainer",
                         "--job-dir=gs://ml-bucket/ml_job", "--config=ml.yaml",
                         "--runtime-version=2.11",
                         spec="specs/ml.yaml")
    text = spec.read_text()
    assert ("    chief:\n      machine_type: n1-standard-8\n      boot_disk:\n"
            "        type: pd-ssd\n        size_gb: 150\n") in text
    assert ("    workers:\n      machine_type: n1-standard-4\n      count: 2\n      boot_disk:\n"
            "        size_gb: 50\n") in text
    assert "trainingInput.workerConfig.tpuTfVersion is not supported" in out.err


def test_a_reservation_for_any_pool_is_one_for_the_target(cli: Any, repo: Path,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    (repo / "job.yaml").write_text(f"""\
workerPoolSpecs:
  - machineSpec:
      machineType: n1-standard-4
      reservationAffinity:
        reservationAffinityType: SPECIFIC_RESERVATION
        key: team
        values: [ml, research]
    replicaCount: 1
    pythonPackageSpec:
      executorImageUri: {IMAGE}
      pythonModule: trainer.task
      packageUris: [gs://b/trainer-0.0.0.tar.gz]
""", encoding="utf-8")
    spec, out = imported(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create",
                         "--display-name=x", "--config=job.yaml")
    text = _body(spec)
    assert "    scale_tier: BASIC\n    reservation:\n      key: team\n      values:\n" in text
    assert "the worker pools are exactly scale tier BASIC" in out.err
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "p")
    done = cli("plan", str(spec), "--target", "cloud", "--json", cwd=repo)
    assert done.code == 0, done.err
    [pool] = json.loads(done.out)["request"]["jobSpec"]["workerPoolSpecs"]
    assert pool["machineSpec"]["reservationAffinity"] == {
        "reservationAffinityType": "SPECIFIC_RESERVATION", "key": "team",
        "values": ["ml", "research"]}


def test_reservation_errors_point_at_the_config(cli: Any, repo: Path) -> None:
    (repo / "job.yaml").write_text(OWN_IMAGE_CONFIG.replace(
        "{reservationAffinityType: ANY_RESERVATION}",
        "{reservationAffinityType: ANY_RESERVATION, key: team}"), encoding="utf-8")
    out = fails(cli, repo, "--", "gcloud", "ai", "custom-jobs", "create", "--display-name=x",
                "--config=job.yaml")
    assert out.err.startswith(
        "job.yaml:21:71: workerPoolSpecs[1].machineSpec.reservationAffinity.key: ANY_RESERVATION "
        "consumes no particular reservation")


@pytest.mark.parametrize(("command", "module"), [
    (["python3", "-m", "trainer.task"], "trainer.task"),
    (["/usr/bin/python3.11", "-u", "-W", "ignore", "-mtrainer.task", "--x"], "trainer.task"),
    (["python", "-c", "import x"], None), (["python3", "trainer/task.py"], None),
    (["sh", "-c", "python3 -m trainer.task"], None), (["python3", "-m"], None)])
def test_module_of_a_command(command: list[str], module: str | None) -> None:
    from jobspec.importer.container import module_of

    assert module_of(command) == module


# --- input forms --------------------------------------------------------------------------

PASTED = """\
# submit the census job
$ gcloud ml-engine jobs submit training "$JOB_NAME" \\
    --job-dir "gs://${BUCKET_NAME}/$JOB_NAME" \\
    --module-name trainer.task --package-path trainer/ \\
    --region us-central1 --runtime-version 1.2 \\
    -- --train-files 'gs://data/adult data.csv' --note 'costs $5' --eval-files "$EVAL_DATA"
"""


@pytest.mark.parametrize("form", ["--file", "--string"])
def test_pasted_command_with_quotes_and_continuations(cli: Any, repo: Path, form: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    (repo / "cmd.sh").write_text(PASTED, encoding="utf-8")
    monkeypatch.setenv("BUCKET_NAME", "census-bucket")
    monkeypatch.setenv("EVAL_DATA", "gs://data/adult.test.csv")
    spec, out = imported(cli, repo, form, "cmd.sh" if form == "--file" else PASTED)
    text = spec.read_text()
    assert "- costs $$5\n" in text and "- ${EVAL_DATA}\n" in text
    assert "the job name '\"$JOB_NAME\"' is a variable" in out.err
    loaded = load(spec, target="cloud")
    assert loaded.spec.name == "trainer_task"
    assert loaded.spec.args == ["--train-files", "gs://data/adult data.csv", "--note",
                                "costs $5", "--eval-files", "gs://data/adult.test.csv"]
    assert loaded.spec.targets["cloud"].job_dir == "gs://census-bucket/trainer_task"
    named, _ = imported(cli, repo, "--name", "census", form,
                        "cmd.sh" if form == "--file" else PASTED, spec="specs/named.yaml")
    assert load(named, target="cloud").spec.targets["cloud"].job_dir == (
        "gs://census-bucket/census")


def test_assignments_before_the_command_are_filled_in(cli: Any, repo: Path) -> None:
    (repo / "submit.sh").write_text("""\
#!/bin/bash
set -euo pipefail
BUCKET_NAME=census-bucket
export JOB_NAME=census_single_7

gcloud ml-engine jobs submit training $JOB_NAME --job-dir gs://$BUCKET_NAME/$JOB_NAME \\
  --module-name trainer.oops --package-path trainer/ --region us-central1 --runtime-version 1.2
""", encoding="utf-8")
    spec, out = imported(cli, repo, "--file", "submit.sh")  # validates with no variables set
    text = spec.read_text()
    assert "bucket: census-bucket\n" in text and "job_dir: gs://${bucket}/${name}\n" in text
    assert load(spec, target="cloud").spec.name == "census_single_7"
    assert "BUCKET_NAME=census-bucket, JOB_NAME=census_single_7" in out.err
    assert "submit.sh:2: ignored the shell setting `set -euo pipefail`" in out.err


def test_print_to_stdout_and_no_overwrite(cli: Any, repo: Path) -> None:
    out = cli("import", "--", "gcloud", "ml-engine", "local", "train", "--module-name",
              "trainer.oops", "--package-path", "./trainer", cwd=repo)
    assert out.code == 0, out.err
    assert out.out.startswith("# yaml-language-server: $schema=jobspec.schema.json\n")
    assert "  package_path: trainer\n" in out.out  # relative to the cwd when printing
    (repo / "job.yaml").write_text(out.out, encoding="utf-8")
    assert cli("validate", "job.yaml", cwd=repo).code == 0
    again = fails(cli, repo, "-o", "job.yaml", "--", "gcloud", "ml-engine", "local", "train",
                  "--module-name", "trainer.oops")
    assert "job.yaml already exists: pass --force" in again.err


# --- failures -------------------------------------------------------------------------------


def test_unknown_flag_is_reported(cli: Any, repo: Path) -> None:
    out = fails(cli, repo, "-o", "specs/x.yaml", "--", "gcloud", "ml-engine", "jobs", "submit",
                "training", "j", "--module-name", "trainer.task", "--package-path", "trainer",
                "--regoin", "us-central1")
    assert out.err.startswith("unknown flag --regoin for `gcloud ml-engine jobs submit "
                              "training` (did you mean '--region'?)\n")
    assert not (repo / "specs").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--", "python", "train.py"], "not a gcloud command: it starts with 'python'"),
    (["--", "gcloud", "compute", "instances", "create", "x"],
     "`gcloud compute` is not a command jobspec import reads"),
    (["--", "gcloud", "ml-engine", "jobs", "submit", "trainin", "j"],
     "(did you mean 'training'?)"),
    (["--", "gcloud", "ml-engine", "jobs"], "`gcloud ml-engine jobs` is incomplete"),
    (["--", "gcloud", "ml-engine", "local", "train", "--module-name"],
     "--module-name needs a value"),
    (["--", "gcloud", "ml-engine", "local", "train", "--package-path", "trainer"],
     "needs --module-name"),
    (["--", "gcloud", "ml-engine", "local", "train", "--module-name", "m", "--distributed=yes"],
     "--distributed takes no value"),
    (["--", "gcloud", "ml-engine", "local", "train", "--module-name", "m", "extra"],
     "takes no positional argument, got 'extra'"),
    (["--", "gcloud", "ml-engine", "jobs", "submit", "training", "--module-name", "m"],
     "needs the job name"),
    (["--", "gcloud", "ml-engine", "jobs", "submit", "training", "j", "--module-name", "m",
      "--package-path", "trainer", "--async", "--stream-logs"], "cannot both be given"),
    (["--", "gcloud", "ml-engine", "jobs", "submit", "training", "j", "--module-name", "m",
      "--package-path", "trainer", "--worker-count", "2"], "--worker-count needs "
     "--worker-machine-type too"),
    (["--string", 'gcloud ml-engine local train --module-name "trainer.task'],
     "--string:1: unbalanced quote"),
    (["--string", "gcloud ml-engine local train --module-name m | tee log"],
     "shell operator '|'"),
    (["--string", "gcloud ml-engine jobs submit training job_$(date +%s) --module-name m"],
     "command substitution '$(...)' cannot be imported"),
    (["--string", "gcloud ml-engine local train --module-name a\ngcloud ml-engine local train"],
     "2 commands (line 1: gcloud ml-engine local train ...; line 2:"),
    (["--string", "gcloud ml-engine local train --module-name m \\"], "ends with '\\'"),
    (["--string", "gcloud ml-engine local train --module-name m --job-dir out/$name"],
     "$name cannot be imported: in a spec, ${name} means the spec's own name"),
    ([], "no gcloud command given"),
    (["--string", "x", "--", "gcloud"], "give the gcloud command once"),
])
def test_malformed_commands_get_a_clear_error(cli: Any, repo: Path, args: list[str],
                                              message: str) -> None:
    assert message in fails(cli, repo, *args).err


# --- every flag is mapped or reported --------------------------------------------------------

_BASES = {
    "local": ["gcloud", "ml-engine", "local", "train", "--module-name", "trainer.task",
              "--package-path", "trainer"],
    "submit": ["gcloud", "beta", "ml-engine", "jobs", "submit", "training", "j",
               "--module-name", "trainer.task", "--package-path", "trainer",
               "--runtime-version", "2.17", "--job-dir", "gs://b/j"],
    "custom": CUSTOM_JOB,
}
_SAMPLES = {  # a value gcloud accepts for each flag; switches have none
    "--job-dir": "gs://other/x", "--region": "asia-east1", "--labels": "k=v",
    "--master-accelerator": "type=nvidia-tesla-t4,count=1", "--scale-tier": "basic-gpu",
    "--worker-accelerator": "type=nvidia-tesla-t4,count=1", "--use-chief-in-tf-config": "true",
    "--parameter-server-accelerator": "type=nvidia-tesla-t4,count=1", "--packages": "a.tar.gz",
    "--staging-bucket": "gs://stage", "--worker-count": "3", "--parameter-server-count": "3",
    "--evaluator-count": "1", "--start-port": "30000", "--package-path": "probe",
    "--module-name": "trainer.other", "--display-name": "other", "--args": "--x",
    "--worker-pool-spec": f"machine-type=n1-standard-8,executor-image-uri={IMAGE},"
                          "python-module=trainer.task,local-package-path=trainer",
}


def _every_flag() -> list[tuple[str, str]]:
    tables = {"local": import_flags.LOCAL_TRAIN,
              "submit": {**import_flags.SUBMIT_TRAINING, **import_flags.SUBMIT_TRAINING_PRE_GA},
              "custom": import_flags.CUSTOM_JOBS_CREATE}
    skip = {"--help", "--flags-file", "--config"}  # refused, and --config has its own tests
    return [(base, flag) for base, table in tables.items()
            for flag in sorted({**table, **import_flags.GLOBAL}) if flag not in skip]


@pytest.mark.parametrize(("base", "flag"), _every_flag())
def test_every_flag_is_mapped_or_reported(repo: Path, base: str, flag: str) -> None:
    table = {**import_flags.GLOBAL, **import_flags.LOCAL_TRAIN, **import_flags.SUBMIT_TRAINING,
             **import_flags.SUBMIT_TRAINING_PRE_GA, **import_flags.CUSTOM_JOBS_CREATE}
    extra = [flag] if not table[flag].value else [f"{flag}={_SAMPLES.get(flag, 'some-value')}"]
    context = []  # valid on their own: in both runs, so only FLAG differs
    pairs = {"--worker-count": "--worker-machine-type",
             "--parameter-server-count": "--parameter-server-machine-type"}
    partners = {**pairs, **{v: k for k, v in pairs.items()}}
    if base == "submit" and flag in partners:  # gcloud needs both of a pair
        other = partners[flag]
        extra.append(f"{other}={'2' if other.endswith('count') else 'n1-standard-4'}")
    if base == "submit" and flag.startswith(("--worker-", "--parameter-server-",
                                             "--master-accelerator")):
        context.append("--master-machine-type=n1-standard-8")  # CUSTOM pools need a chief
    if base == "local" and flag in (*pairs, "--evaluator-count", "--start-port"):
        context.append("--distributed")
    before = import_gcloud(argv=[*_BASES[base], *context], cwd=repo)
    after = import_gcloud(argv=[*_BASES[base], *context, *extra], cwd=repo)
    said = " ".join(after.notes + after.warnings)

    def body(text: str) -> str:  # without the header, which quotes the command
        return "\n".join(line for line in text.splitlines() if not line.startswith("#"))

    assert body(after.text) != body(before.text) or flag in said, (
        f"{flag} changed nothing and was not reported")


_VOCABULARY = sorted({*import_flags.GLOBAL, *import_flags.LOCAL_TRAIN,
                      *import_flags.SUBMIT_TRAINING, *import_flags.CUSTOM_JOBS_CREATE,
                      "--", "-q", "-h", "", "x", "1", "-1", "0", "trainer", "trainer.task",
                      "gs://b/j", "gs://$B/$JOB_NAME", "type=a,count=1", "count=0", "k=v",
                      "=", "^;^a;b", "custom", "basic-tpu", "${X:-d}", "$", "machine-type=",
                      "python-module=m,executor-image-uri=i,local-package-path=.,machine-type=m"})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([["gcloud", "ml-engine", "local", "train"],
                        ["gcloud", "ai-platform", "jobs", "submit", "training"],
                        ["gcloud", "ai", "custom-jobs", "create"]]),
       st.lists(st.sampled_from(_VOCABULARY), max_size=12))
def test_any_command_line_imports_or_fails_cleanly(command: list[str], words: list[str]) -> None:
    with contextlib.suppress(JobspecError):  # anything else is a crash
        import_gcloud(argv=[*command, *words], cwd=REPO)


def test_import_loads_no_cloud_library(repo: Path) -> None:
    probe = ("import sys\nfrom jobspec.cli import main\ntry:\n    main(sys.argv[1:])\n"
             "except SystemExit as e:\n    code = e.code\nprint(code, sorted(m for m in "
             "sys.modules if m.startswith(('google', 'googleapiclient'))), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", probe, "import", "--string", SEED_SUBMIT],
                          cwd=repo, capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert done.stderr.splitlines()[-1] == "0 []", done.stderr
    assert done.stdout.startswith("# yaml-language-server:")


def test_help_and_flags_file_are_refused(repo: Path) -> None:
    for extra in (["--help"], ["--flags-file", "f.yaml"]):
        with pytest.raises(UsageError):
            import_gcloud(argv=[*_BASES["local"], *extra], cwd=repo)


def _gcloud_flags(command: str, tmp_path: Path) -> tuple[set[str], set[str]]:
    """(the command's own flags, the gcloud-wide flags) from `gcloud COMMAND --help`."""
    assert GCLOUD is not None
    env = {**_gcloud_env(tmp_path, tmp_path), "PAGER": "cat"}
    done = subprocess.run([GCLOUD, *command.split(), "--help"], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    text = re.sub(r"\x1b\[[0-9;]*m", "", done.stdout)
    own = set(re.findall(r"^ {5,}(?:-[a-z], )?(--[a-z][a-z0-9-]*)", text, re.M))
    wide = text.split("GCLOUD WIDE FLAGS", 1)[1].split("\n\n", 1)[0]
    return own, set(re.findall(r"--[a-z][a-z-]*", wide))


@pytest.mark.skipif(GCLOUD is None, reason="gcloud is not on PATH")
@pytest.mark.parametrize(("command", "table"), [
    ("ai-platform local train", import_flags.LOCAL_TRAIN),
    ("ml-engine jobs submit training", import_flags.SUBMIT_TRAINING),
    ("beta ai-platform jobs submit training",
     {**import_flags.SUBMIT_TRAINING, **import_flags.SUBMIT_TRAINING_PRE_GA}),
    ("ai custom-jobs create", import_flags.CUSTOM_JOBS_CREATE),
])
def test_flag_tables_match_gcloud(command: str, table: dict[str, Any], tmp_path: Path) -> None:
    own, wide = _gcloud_flags(command, tmp_path)
    assert own - {"--project"} == set(table)  # custom-jobs lists the global --project too
    assert wide <= set(import_flags.GLOBAL)


def test_config_keys_match_the_api_discovery_documents() -> None:
    docs = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    ml = json.loads((docs / "ml.v1.json").read_text())["schemas"]
    vertex = json.loads((docs / "aiplatform.v1.json").read_text())["schemas"]
    pairs = [(ml["GoogleCloudMlV1__Job"], import_config.JOB_KEYS),
             (ml["GoogleCloudMlV1__TrainingInput"], import_config.TRAINING_INPUT_KEYS),
             (ml["GoogleCloudMlV1__ReplicaConfig"], import_config.REPLICA_CONFIG_KEYS),
             (ml["GoogleCloudMlV1__Scheduling"], import_config.ML_SCHEDULING_KEYS),
             (vertex["GoogleCloudAiplatformV1CustomJobSpec"], import_config.CUSTOM_JOB_SPEC_KEYS),
             (vertex["GoogleCloudAiplatformV1WorkerPoolSpec"],
              import_config.WORKER_POOL_SPEC_KEYS),
             (vertex["GoogleCloudAiplatformV1MachineSpec"], import_config.MACHINE_SPEC_KEYS),
             (vertex["GoogleCloudAiplatformV1PythonPackageSpec"],
              import_config.PYTHON_PACKAGE_SPEC_KEYS),
             (vertex["GoogleCloudAiplatformV1ContainerSpec"], import_config.CONTAINER_SPEC_KEYS),
             (vertex["GoogleCloudAiplatformV1DiskSpec"], import_machine.DISK_KEYS),
             (ml["GoogleCloudMlV1__DiskConfig"], import_machine.DISK_KEYS),
             (vertex["GoogleCloudAiplatformV1ReservationAffinity"],
              import_machine.RESERVATION_KEYS),
             (vertex["GoogleCloudAiplatformV1Scheduling"], import_config.VERTEX_SCHEDULING_KEYS)]
    for schema, keys in pairs:
        assert set(schema["properties"]) == set(keys), schema["id"]


# --- the word splitter reads quoting like shlex -----------------------------------------------


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab -=\t\n\\'\"", max_size=40))
def test_words_split_like_shlex(text: str) -> None:
    if "\\\n" in text:  # a shell joins lines there; shlex keeps the newline
        return
    try:
        expected: list[str] | None = shlex.split(text)
    except ValueError:
        expected = None
    try:
        words = [w for command in split_text(text, "t") for w in command]
    except UsageError:
        assert expected is None
        return
    assert expected is not None
    assert [literal(w.text) for w in words] == expected
