"""The cloud target end to end, against fake-gcs-server and the Vertex/Logging stand-in, through
the real google-cloud-storage and google-api-python-client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def _census_args(bucket: str, *more: str) -> list[str]:
    return [str(REPO / "specs/census.yaml"), "--target", "cloud",
            "--set", f"targets.cloud.bucket={bucket}", "--set", "targets.cloud.project=test",
            *more]


def _upload_data(cloud) -> None:
    for name in ("adult.data.csv", "adult.test.csv"):
        cloud.gcs.write_object(cloud.bucket, f"data/{name}",
                         (REPO / "data/census" / name).read_bytes())


def _project(tmp_path: Path, body: str, *, name: str = "probe", cloud: str = "") -> Path:
    """A tiny repo: trainer/task.py with BODY, and job.yaml with a cloud target."""
    (tmp_path / ".git").mkdir()
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(body)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"version: 1\nname: {name}\ntrainer: {{package_path: trainer, module: trainer.task}}\n"
        "targets:\n  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n"
        + cloud)
    return spec


def _run(cli, spec: Path, bucket: str, *more: str):
    return cli("run", str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={bucket}",
               *more)


def test_census_job_runs_in_the_stand_in(cli, cloud) -> None:
    _upload_data(cloud)
    out = cli("run", *_census_args(cloud.bucket))
    assert out.code == 0, out.err
    assert "jobspec: submitted census_single_1: projects/" in out.err
    assert "census_single_1: RUNNING" in out.err and "census_single_1: SUCCEEDED" in out.err
    assert "workerpool0-0 | step 1000 loss" in out.out
    assert "workerpool0-0 | eval accuracy 0.8" in out.out
    metrics = json.loads(cloud.gcs.read_object(cloud.bucket, "census_single_1/metrics.json"))
    assert metrics["accuracy"] > metrics["baseline_accuracy"] + 0.04
    (job,) = cloud.vertex.jobs.values()
    assert job["displayName"] == "census_single_1"
    # the example runs on today's Vertex: a container image, the sdist through the launcher
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    container = pool["containerSpec"]
    assert container["imageUri"] == "python:3.11-slim" and "pythonPackageSpec" not in pool
    assert container["command"][:2] == ["sh", "-c"] and container["command"][3] == "jobspec"
    assert f" /gcs/{cloud.bucket}/jobspec-staging/packages/" in container["command"][2]
    assert container["args"][-2:] == ["--job-dir", f"gs://{cloud.bucket}/census_single_1"]
    assert job["labels"]["jobspec-name"] == "census_single_1"
    claim = json.loads(cloud.gcs.read_object(cloud.bucket, "census_single_1/.jobspec/claim.json"))
    assert claim["state"] == "submitted" and claim["job"] == job["name"]
    number, job_id = job["name"].split("/")[1], job["name"].split("/")[-1]
    assert out.err.count("jobspec: census_single_1 in the console: https://console.cloud.google"
                         f".com/agent-platform/locations/us-central1/training/{job_id}"
                         f"?project={number}\n") == 2  # when created, and when it ended
    assert {"owner", "fingerprint", "package_sha256", "user", "host", "created"} <= set(claim)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert claim["commit"] == head  # the code the job came from


def test_taken_name_exits_3_before_any_upload(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print('hello from the cloud')\n")
    first = _run(cli, spec, cloud.bucket)
    assert first.code == 0, first.err
    assert "workerpool0-0 | hello from the cloud" in first.out
    before = cloud.gcs.list_object_metadata(cloud.bucket)
    again = _run(cli, spec, cloud.bucket)
    assert again.code == 3
    assert "job name 'probe' is taken: gs://" in again.err
    assert "a submitted claim by" in again.err
    assert "the next free name is probe_1" in again.err
    assert cloud.gcs.list_object_metadata(cloud.bucket) == before
    assert len(cloud.vertex.jobs) == 1


def test_name_taken_by_a_gcloud_job_dir(cli, cloud, tmp_path: Path) -> None:
    cloud.gcs.write_object(cloud.bucket, "probe/model/saved_model.pb", b"x")
    out = _run(cli, _project(tmp_path, "print(1)\n"), cloud.bucket)
    assert out.code == 3
    assert "holds gs://" in out.err and "probe/model/saved_model.pb, updated 20" in out.err
    assert cloud.vertex.jobs == {}


def test_counter_suffix_picks_the_next_free_name(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print(1)\n", cloud="    name_suffix: counter\n")
    names = []
    for _ in range(2):
        out = _run(cli, spec, cloud.bucket, "--detach")
        assert out.code == 0, out.err
        names.append(out.err.split("jobspec: submitted ")[1].split(":")[0])
    assert names == ["probe_1", "probe_2"]
    assert sorted(cloud.vertex.jobs.values(), key=lambda j: j["displayName"])[1][
        "displayName"] == "probe_2"


def test_unchanged_package_is_not_uploaded_again(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print(1)\n")
    assert _run(cli, spec, cloud.bucket, "--detach").code == 0
    staged = [o for o in cloud.gcs.list_object_metadata(cloud.bucket)
              if o["name"].startswith("jobspec-staging/")]
    out = _run(cli, spec, cloud.bucket, "--detach", "--name", "probe_again")
    assert out.code == 0, out.err
    assert "package unchanged, not uploaded" in out.err
    assert [o for o in cloud.gcs.list_object_metadata(cloud.bucket)
            if o["name"].startswith("jobspec-staging/")] == staged
    assert len(cloud.vertex.jobs) == 2


def test_failed_job_exits_1_with_its_error_and_traceback(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "def boom():\n    raise ValueError('bad input data')\nboom()\n")
    out = _run(cli, spec, cloud.bucket)
    assert out.code == 1
    assert "probe: FAILED" in out.err
    assert "probe ended FAILED: The replica workerpool0-0 exited with a non-zero status of 1" in (
        out.err)
    assert "workerpool0-0 | Traceback (most recent call last):" in out.out
    assert "workerpool0-0 | ValueError: bad input data" in out.out


def test_detach_then_follow_shows_the_whole_log(cli, cloud, tmp_path: Path) -> None:
    body = ("import time\nfor i in range(5):\n    print('line', i, flush=True)\n"
            "    time.sleep(0.2)\n")
    spec = _project(tmp_path, body)
    out = _run(cli, spec, cloud.bucket, "--detach")
    assert out.code == 0, out.err
    # the bucket came from --set: the printed commands name it, so they work as typed
    assert f"follow it with `jobspec logs probe --follow --bucket {cloud.bucket}`" in out.err
    assert f"cancel it with `jobspec cancel probe --bucket {cloud.bucket}`" in out.err
    logs = cli("logs", "probe", "--target", "cloud", "--bucket", cloud.bucket, "--follow")
    assert logs.code == 0, logs.err
    lines = [line for line in logs.out.splitlines() if "| line" in line]
    assert lines == [f"workerpool0-0 | line {i}" for i in range(5)]
    status = cli("status", "probe", "--target", "cloud", "--bucket", cloud.bucket, "--json")
    assert json.loads(status.out)["job"]["state"] == "JOB_STATE_SUCCEEDED"
    listing = cli("list", "--target", "cloud", "--bucket", cloud.bucket, "--json")
    assert [(r["name"], r["state"]) for r in json.loads(listing.out)] == [("probe", "SUCCEEDED")]
    again = cli("logs", "probe", "--target", "cloud", "--bucket", cloud.bucket)
    assert [line for line in again.out.splitlines() if "| line" in line] == lines


def test_cancel_a_running_job(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    assert _run(cli, spec, cloud.bucket, "--detach").code == 0
    (job_id,) = cloud.vertex.jobs
    cloud.vertex.wait_for_state(job_id, "JOB_STATE_RUNNING", timeout=20)
    out = cli("cancel", "probe", "--bucket", cloud.bucket)
    assert out.code == 0, out.err
    assert "cancel requested for probe" in out.err
    cloud.vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=20)
    status = cli("status", "probe", "--target", "cloud", "--bucket", cloud.bucket)
    assert status.out.startswith("probe: CANCELLED")


def test_unknown_name_is_a_clear_error(cli, cloud) -> None:
    out = cli("status", "nothing_here", "--target", "cloud", "--bucket", cloud.bucket)
    assert out.code == 2
    assert f"no job named 'nothing_here' in gs://{cloud.bucket}" in out.err


def test_missing_bucket_is_exit_4_and_no_claim(cli, cloud, tmp_path: Path) -> None:
    out = _run(cli, _project(tmp_path, "print(1)\n"), "no-such-bucket-here")
    assert out.code == 4
    assert "bucket gs://no-such-bucket-here does not exist" in out.err
    assert cloud.vertex.jobs == {}


def test_eight_concurrent_submitters_make_one_job(cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print(1)\n")
    env = {**os.environ, **cloud.env, **FAST_POLL}
    argv = [sys.executable, "-m", "jobspec", "run", str(spec), "--target", "cloud", "--detach",
            "--set", f"targets.cloud.bucket={cloud.bucket}"]
    procs = [subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, stdin=subprocess.DEVNULL) for _ in range(8)]
    results = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        results.append((proc.returncode, err))
    codes = sorted(code for code, _ in results)
    assert codes == [0] + [3] * 7, results
    assert len(cloud.vertex.jobs) == 1
    for code, err in results:
        if code == 3:
            assert "job name 'probe' is taken" in err


@pytest.mark.parametrize("fault", [
    {"method": "POST", "path_regex": r"/customJobs$", "status": 429, "times": 2},
    {"method": "POST", "path_regex": r"/customJobs$", "status": 503, "times": 1},
    {"method": "POST", "path_regex": r"/customJobs$", "drop": "after", "times": 1},
    {"method": "POST", "path_regex": r"/customJobs$", "drop": "before", "times": 1},
])
def test_create_faults_still_make_exactly_one_job(cli, cloud, tmp_path: Path, fault) -> None:
    cloud.vertex.faults.add(**fault)
    out = _run(cli, _project(tmp_path, "print('once')\n"), cloud.bucket)
    assert out.code == 0, out.err
    assert len(cloud.vertex.jobs) == 1
    assert out.out.count("workerpool0-0 | once") == 1
    claim = json.loads(cloud.gcs.read_object(cloud.bucket, "probe/.jobspec/claim.json"))
    assert claim["job"] == next(iter(cloud.vertex.jobs.values()))["name"]


def test_rejected_create_marks_the_claim_failed_and_reclaim_recovers(cli, cloud,
                                                                      tmp_path: Path) -> None:
    spec = _project(tmp_path, "print('second time lucky')\n")
    cloud.vertex.faults.add(method="POST", path_regex=r"/customJobs$", status=403, times=1)
    out = _run(cli, spec, cloud.bucket)
    assert out.code == 4
    assert "no job was created" in out.err and "--reclaim" in out.err
    claim = json.loads(cloud.gcs.read_object(cloud.bucket, "probe/.jobspec/claim.json"))
    assert claim["state"] == "failed"
    again = _run(cli, spec, cloud.bucket)
    assert again.code == 3 and "run again with --reclaim" in again.err
    fixed = _run(cli, spec, cloud.bucket, "--reclaim")
    assert fixed.code == 0, fixed.err
    assert "workerpool0-0 | second time lucky" in fixed.out
    assert len(cloud.vertex.jobs) == 1


def test_reclaim_never_takes_a_live_claim(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print(1)\n")
    assert _run(cli, spec, cloud.bucket, "--detach").code == 0
    out = _run(cli, spec, cloud.bucket, "--reclaim")
    assert out.code == 3
    assert len(cloud.vertex.jobs) == 1


def test_interrupt_while_following_detaches(cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "import time\nprint('working', flush=True)\ntime.sleep(30)\n")
    env = {**os.environ, **cloud.env, **FAST_POLL}
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                             "cloud", "--set", f"targets.cloud.bucket={cloud.bucket}"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "working" in line:
            break
    proc.send_signal(2)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "probe keeps running" in err
    (job_id,) = cloud.vertex.jobs
    assert cloud.vertex.job(job_id)["state"] == "JOB_STATE_RUNNING"


def test_no_credentials_error_says_how_to_fix(cli, cloud, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", "")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    monkeypatch.setenv("HOME", str(tmp_path))
    out = _run(cli, _project(tmp_path, "print(1)\n"), cloud.bucket)
    assert out.code == 4
    assert "gcloud auth application-default login" in out.err
    assert "GOOGLE_APPLICATION_CREDENTIALS" in out.err
    assert "Traceback" not in out.err


def test_the_cloud_runs_the_sdist_not_the_source_tree(cli, cloud, tmp_path: Path) -> None:
    """The cloud runs the staged sdist: a data file beside the module is not shipped."""
    spec = _project(tmp_path, "from pathlib import Path\n"
                    "print(Path(__file__).with_name('lookup.txt').read_text())\n")
    (tmp_path / "trainer" / "lookup.txt").write_text("table")
    out = _run(cli, spec, cloud.bucket)
    assert out.code == 1
    assert "FileNotFoundError" in out.out


def test_secret_env_reaches_the_trainer_but_is_masked_in_output(cli, cloud,
                                                               tmp_path: Path) -> None:
    spec = _project(tmp_path, "import os\nprint('token is', os.environ['API_TOKEN'])\n"
                    "print('pw is', os.environ['DB_PASS'])\n",
                    cloud="    env: {API_TOKEN: tok-123456, DB_PASS: hunter22}\n")
    text = spec.read_text().replace("targets:", "secrets: [DB_PASS]\ntargets:")
    spec.write_text(text)
    plan = cli("plan", str(spec), "--target", "cloud", "--json",
               "--set", f"targets.cloud.bucket={cloud.bucket}")
    assert "tok-123456" not in plan.out and "hunter22" not in plan.out
    out = _run(cli, spec, cloud.bucket)
    assert out.code == 0, out.err
    assert "workerpool0-0 | token is ****" in out.out
    assert "workerpool0-0 | pw is ****" in out.out
    assert "tok-123456" not in out.out + out.err and "hunter22" not in out.out + out.err
    (job,) = cloud.vertex.jobs.values()
    env = job["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["env"]
    assert {"name": "API_TOKEN", "value": "tok-123456"} in env  # the trainer got the real value
    assert cloud.vertex.job_log_lines(job["name"].rsplit("/", 1)[1])[-2:] == [
        "token is tok-123456", "pw is hunter22"]


def test_large_package_goes_up_resumably_and_intact(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "from importlib import resources\n"
                    "data = resources.files('trainer').joinpath('blob.bin').read_bytes()\n"
                    "print('blob bytes', len(data))\n")
    (tmp_path / "trainer" / "blob.bin").write_bytes(os.urandom(9 << 20))  # > 8 MiB: chunked
    out = _run(cli, spec, cloud.bucket, "--detach")
    assert out.code == 0, out.err
    plan = json.loads(cli("plan", str(spec), "--target", "cloud", "--json", "--set",
                          f"targets.cloud.bucket={cloud.bucket}").out)
    path = plan["staging_uri"].removeprefix(f"gs://{cloud.bucket}/")
    meta = cloud.gcs.object_metadata(cloud.bucket, path)
    assert int(meta["size"]) == plan["package"]["size"] > 9 << 20
    assert meta["md5Hash"] == plan["package"]["md5"]


def test_a_lost_claim_update_still_lists_the_job(cli, cloud, gcs_proxy, tmp_path: Path) -> None:
    gcs_proxy.faults.add(method="POST", path_regex=r"^/upload/", status=403, times=50,
                         query_regex=r"(^|&)ifGenerationMatch=[1-9]",
                         object_regex=r"^probe/\.jobspec/claim\.json$")
    out = _run(cli, _project(tmp_path, "print(1)\n"), cloud.bucket, "--detach")
    assert out.code == 0, out.err
    assert "the claim could not record it" in out.err
    (job,) = cloud.vertex.jobs.values()
    listing = cli("list", "--target", "cloud", "--bucket", cloud.bucket, "--json")
    (row,) = json.loads(listing.out)
    assert row["claim"] == "claimed" and row["job"] == job["name"]


def test_a_claim_that_landed_before_the_connection_broke_is_ours(
        cli, cloud, gcs_proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every answer to the claim's create is lost, though the first one landed: once the
    library gives up retrying, jobspec reads the claim back and finds its own owner token."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    monkeypatch.setattr(DEFAULT_RETRY, "_timeout", 0.3)
    monkeypatch.setattr(DEFAULT_RETRY, "_initial", 0.05)
    gcs_proxy.faults.add(method="POST", path_regex=r"^/upload/", drop="after", times=50,
                         query_regex=r"(^|&)ifGenerationMatch=0(&|$)",
                         object_regex=r"^probe/\.jobspec/claim\.json$")
    out = _run(cli, _project(tmp_path, "print(1)\n"), cloud.bucket, "--detach")
    assert out.code == 0, out.err
    assert len(cloud.vertex.jobs) == 1
