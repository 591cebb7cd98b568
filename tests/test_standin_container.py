"""containerSpec jobs on the Vertex stand-in, driven through the real google-api-python-client.

The command is jobspec's own launcher (jobspec.launcher) installing a real sdist built by
jobspec.package from its /gcs/ path, which the stand-in serves from the GCS emulator.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from google.auth.credentials import AnonymousCredentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from jobspec import launcher
from jobspec.package import build_sdist
from tests.standins.fixtures import CloudEnv

REPO = Path(__file__).resolve().parent.parent
IMAGE = "python:3.11-slim"  # any image with python3 and pip; the stand-in runs this machine's
TERMINAL = ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED")
# What the echo trainer prints: exactly what it was given and where it runs.
ECHO = """
    import json, os, sys

    names = ("GREETING", "EMPTY", "CLOUD_ML_JOB_ID", "AIP_MODEL_DIR", "TF_CONFIG",
             "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM")
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.listdir("."),
                      "env": {k: os.environ.get(k) for k in names},
                      "module": __file__}), flush=True)
"""
# Writes its --in file upper-cased to --out (creating that folder) and as it is to --copy (in
# a folder that exists only because objects lie under it), deletes --drop, prints --note.
UPPER = """
    import os, sys

    args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    with open(args["--in"]) as f:
        text = f.read()
    os.makedirs(os.path.dirname(args["--out"]), exist_ok=True)
    with open(args["--out"], "w") as f:
        f.write(text.upper())
    with open(args["--copy"], "w") as f:
        f.write(text)
    os.remove(args["--drop"])
    print("note", args["--note"], flush=True)
"""
SLEEP = """
    import os, time

    print("pid", os.getpid(), flush=True)
    time.sleep(60)
"""

_BUILT: list[Any] = []


@pytest.fixture(autouse=True)
def _close_clients() -> Iterator[None]:
    yield
    while _BUILT:  # an unclosed httplib2 connection is a ResourceWarning, hence an error
        _BUILT.pop().close()


def api(name: str, version: str, url: str) -> Any:
    service = build(name, version, static_discovery=True, credentials=AnonymousCredentials(),
                    client_options={"api_endpoint": url})
    _BUILT.append(service)
    return service


def custom_jobs(cloud: CloudEnv) -> Any:
    return api("aiplatform", "v1", cloud.vertex.url).projects().locations().customJobs()


def stage(cloud: CloudEnv, tmp_path: Path, task: str, requirements: tuple[str, ...] = (),
          name: str = "echotrainer") -> str:
    """Build a real sdist of package NAME (task.py = TASK) and stage it; returns its gs:// URI."""
    package = tmp_path / "src" / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(textwrap.dedent(task))
    sdist = build_sdist(package, requirements=requirements)
    return stage_file(cloud, f"job/packages/{sdist.sha256}/{sdist.filename}", sdist.data)


def stage_file(cloud: CloudEnv, name: str, data: bytes) -> str:
    cloud.gcs.write_object(cloud.bucket, name, data)
    return f"gs://{cloud.bucket}/{name}"


def body(command: list[str], args: list[str], env: dict[str, str] | None = None,
         output: str | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"imageUri": IMAGE, "command": command, "args": args}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    spec: dict[str, Any] = {"workerPoolSpecs": [{
        "machineSpec": {"machineType": "n1-standard-4"}, "replicaCount": "1",
        "containerSpec": container}]}
    if output:
        spec["baseOutputDirectory"] = {"outputUriPrefix": output}
    return {"displayName": "container-job", "jobSpec": spec}


def submit(cloud: CloudEnv, job: dict[str, Any]) -> tuple[str, str]:
    """Create the job through the client (the stand-in's strict checker reads the body)."""
    created = custom_jobs(cloud).create(parent=cloud.parent, body=job).execute()
    return created["name"], created["name"].rsplit("/", 1)[1]


def poll(cloud: CloudEnv, name: str) -> dict[str, Any]:
    jobs = custom_jobs(cloud)
    for _ in range(1200):
        got: dict[str, Any] = jobs.get(name=name).execute()
        if got["state"] in TERMINAL:
            return got
        time.sleep(0.05)
    raise AssertionError(f"job never ended: {got}")


def replica_lines(cloud: CloudEnv, job_id: str, severity: str | None = None) -> list[str]:
    """The replica's log lines, read through Cloud Logging with the real client."""
    logging = api("logging", "v2", cloud.vertex.url)
    request = {"resourceNames": [f"projects/{cloud.project}"], "orderBy": "timestamp asc",
               "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}" AND '
                         'resource.labels.task_name="workerpool0-0"', "pageSize": 1000}
    if severity:
        request["filter"] += f" AND severity={severity}"
    entries: list[dict[str, Any]] = []
    while True:
        page = logging.entries().list(body=request).execute()
        entries += page.get("entries", [])
        if "nextPageToken" not in page:
            return [e["textPayload"] for e in entries]
        request["pageToken"] = page["nextPageToken"]


# -- the launcher, end to end ----------------------------------------------------------------------
def test_launcher_runs_the_trainer_with_exactly_its_args_env_and_an_empty_cwd(
        cloud_env: CloudEnv, tmp_path: Path) -> None:
    uri = stage(cloud_env, tmp_path, ECHO)
    args = ["--name=a b", 'say "hi"', "it's", "$HOME", "a;b && echo pwned", "-x", "--", "",
            "*", "back\\slash", "--job-dir", f"gs://{cloud_env.bucket}/job"]
    env = {"GREETING": "hello $USER; `id`", "EMPTY": ""}
    command = launcher.command(launcher.gcs_path(uri), "echotrainer.task")
    name, job_id = submit(cloud_env, body(command, args, env,
                                          output=f"gs://{cloud_env.bucket}/job"))
    done = poll(cloud_env, name)
    lines = replica_lines(cloud_env, job_id)
    assert done["state"] == "JOB_STATE_SUCCEEDED", lines
    assert "Successfully installed echotrainer-0.0.0" in lines  # pip, from the staged sdist
    seen = json.loads(lines[-1])
    assert seen["argv"] == args
    assert seen["cwd"] == []
    assert seen["env"] == {"GREETING": "hello $USER; `id`", "EMPTY": "", "CLOUD_ML_JOB_ID": job_id,
                           "AIP_MODEL_DIR": f"gs://{cloud_env.bucket}/job/model/",
                           "TF_CONFIG": None,  # one replica
                           "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": None}  # never leaks
    # the installed package ran, in the job's own environment, not a source tree
    assert "/site-packages/echotrainer/task.py" in seen["module"]
    assert str(tmp_path) not in seen["module"]
    # the job changed nothing in the bucket but what it was given
    assert cloud_env.gcs.list_objects(cloud_env.bucket) == [uri.split("/", 3)[3]]


def test_gcs_paths_are_served_from_the_emulator_and_writes_land_there(
        cloud_env: CloudEnv, tmp_path: Path) -> None:
    gcs = cloud_env.gcs
    bucket = cloud_env.bucket
    uri = stage(cloud_env, tmp_path, UPPER, name="uppertrainer")
    gcs.write_object(bucket, "data/in.txt", "line one\nline two\n")
    gcs.write_object(bucket, "data/old.txt", "to be removed")
    gcs.write_object(bucket, "data/other.txt", "not named, not touched")
    gcs.write_object(bucket, "data/sub/keep.txt", "makes the folder data/sub/")
    command = launcher.command(launcher.gcs_path(uri), "uppertrainer.task")
    args = ["--in", f"/gcs/{bucket}/data/in.txt", "--out", f"/gcs/{bucket}/out/x",
            "--copy", f"/gcs/{bucket}/data/sub/copy.txt",
            "--drop", f"/gcs/{bucket}/data/old.txt", "--note", f"/srv/gcs/{bucket}/a"]
    name, job_id = submit(cloud_env, body(command, args))
    done = poll(cloud_env, name)
    lines = replica_lines(cloud_env, job_id)
    assert done["state"] == "JOB_STATE_SUCCEEDED", lines
    assert lines[-1] == f"note /srv/gcs/{bucket}/a"  # not a mount path: left as given
    assert gcs.read_object(bucket, "out/x") == b"LINE ONE\nLINE TWO\n"
    assert gcs.read_object(bucket, "data/sub/copy.txt") == b"line one\nline two\n"
    assert gcs.read_object(bucket, "data/in.txt") == b"line one\nline two\n"
    assert not gcs.object_exists(bucket, "data/old.txt")
    assert gcs.read_object(bucket, "data/other.txt") == b"not named, not touched"
    assert gcs.read_object(bucket, "data/sub/keep.txt") == b"makes the folder data/sub/"


# -- failures ------------------------------------------------------------------------------------
def test_missing_requirement_fails_the_job_with_pips_message(cloud_env: CloudEnv,
                                                             tmp_path: Path) -> None:
    uri = stage(cloud_env, tmp_path, ECHO, requirements=("no-such-dist-jobspec>=1",))
    command = launcher.command(launcher.gcs_path(uri), "echotrainer.task")
    name, job_id = submit(cloud_env, body(command, ["--x"]))
    done = poll(cloud_env, name)
    assert done["state"] == "JOB_STATE_FAILED"
    assert done["error"]["message"].startswith(
        "The replica workerpool0-0 exited with a non-zero status of 1.")
    errors = replica_lines(cloud_env, job_id, "ERROR")
    assert "ERROR: No matching distribution found for no-such-dist-jobspec>=1" in errors
    assert not any(line.startswith("{") for line in replica_lines(cloud_env, job_id))


def test_missing_package_object_fails_the_job(cloud_env: CloudEnv) -> None:
    uri = f"gs://{cloud_env.bucket}/job/packages/0123/echotrainer-0.0.0.tar.gz"  # never staged
    command = launcher.command(launcher.gcs_path(uri), "echotrainer.task")
    name, job_id = submit(cloud_env, body(command, []))
    done = poll(cloud_env, name)
    assert done["state"] == "JOB_STATE_FAILED"
    assert "non-zero status of 1." in done["error"]["message"]
    errors = replica_lines(cloud_env, job_id, "ERROR")
    assert any("echotrainer-0.0.0.tar.gz" in line for line in errors), errors


def test_image_the_registry_does_not_have_fails_before_running(cloud_env: CloudEnv) -> None:
    asked: list[str] = []
    cloud_env.vertex.image_exists = lambda image: asked.append(image) or False
    name, job_id = submit(cloud_env, body(["sh", "-c", "echo ran"], []))
    done = poll(cloud_env, name)
    assert done["state"] == "JOB_STATE_FAILED"
    assert "startTime" not in done
    assert IMAGE in done["error"]["message"]
    assert asked == [IMAGE]
    assert replica_lines(cloud_env, job_id) == []


def test_command_not_in_the_image_fails_the_job(cloud_env: CloudEnv) -> None:
    name, job_id = submit(cloud_env, body(["no-such-program-jobspec"], ["a"]))
    done = poll(cloud_env, name)
    assert done["state"] == "JOB_STATE_FAILED"
    assert "non-zero status of 127." in done["error"]["message"]
    assert replica_lines(cloud_env, job_id) == [
        'exec: "no-such-program-jobspec": executable file not found in $PATH']


def test_cancel_kills_the_container_job(cloud_env: CloudEnv, tmp_path: Path) -> None:
    uri = stage(cloud_env, tmp_path, SLEEP)
    command = launcher.command(launcher.gcs_path(uri), "echotrainer.task")
    name, job_id = submit(cloud_env, body(command, []))
    vertex = cloud_env.vertex
    for _ in range(600):
        pids = [line for line in vertex.job_log_lines(job_id) if line.startswith("pid ")]
        if pids:
            break
        time.sleep(0.02)
    assert pids, vertex.job_log_lines(job_id)
    assert custom_jobs(cloud_env).cancel(name=name).execute() == {}
    done = vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=10)
    assert done["error"] == {"code": 1, "message": "CANCELED"}
    with pytest.raises(ProcessLookupError):  # exec'd by sh: the trainer is the job's process
        os.kill(int(pids[0].split()[1]), 0)
    with pytest.raises(HttpError):
        custom_jobs(cloud_env).cancel(name=name).execute()


# -- the census example --------------------------------------------------------------------------
def test_census_trainer_runs_through_the_launcher_and_writes_its_metrics(
        cloud_env: CloudEnv) -> None:
    gcs, bucket = cloud_env.gcs, cloud_env.bucket
    sdist = build_sdist(REPO / "trainer", requirements=("numpy", "google-cloud-storage"))
    uri = stage_file(cloud_env, f"census_single_1/packages/{sdist.sha256}/{sdist.filename}",
                     sdist.data)
    for split in ("data", "test"):
        gcs.write_object(bucket, f"data/adult.{split}.csv",
                         (REPO / "data" / "census" / f"adult.{split}.csv").read_bytes())
    base = f"gs://{bucket}/census_single_1"
    args = [f"--train-files=gs://{bucket}/data/adult.data.csv",
            f"--eval-files=gs://{bucket}/data/adult.test.csv", "--train-steps=50",
            "--job-dir", base]
    command = launcher.command(launcher.gcs_path(uri), "trainer.task")
    name, job_id = submit(cloud_env, body(command, args, output=base))
    done = poll(cloud_env, name)
    lines = replica_lines(cloud_env, job_id)
    assert done["state"] == "JOB_STATE_SUCCEEDED", lines
    assert f"wrote {base}/metrics.json" in lines
    metrics = json.loads(gcs.read_object(bucket, "census_single_1/metrics.json"))
    rows = {split: sum(1 for line in (REPO / "data" / "census" / f"adult.{split}.csv")
                       .read_text().splitlines() if line.strip())
            for split in ("data", "test")}
    assert metrics["steps"] == 50
    assert (metrics["train_rows"], metrics["eval_rows"]) == (rows["data"], rows["test"])
    assert 0.5 < metrics["accuracy"] <= 1
    model = json.loads(gcs.read_object(bucket, "census_single_1/model/model.json"))
    assert model  # AIP_MODEL_DIR = <base>/model/, as Vertex sets it
