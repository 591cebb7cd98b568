"""The cloud stand-ins, proven with the real google-cloud-storage and google-api-python-client."""

from __future__ import annotations

import http.client
import io
import json
import socket
import subprocess
import sys
import tarfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httplib2
import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from tests.standins import VertexStandin, netguard
from tests.standins.fixtures import CloudEnv

pytest_plugins = ["tests.standins.fixtures"]

MACHINE = {"machineType": "n1-standard-4"}
TERMINAL = ["JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"]


# -- helpers -------------------------------------------------------------------------------------
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


def sdist(modules: dict[str, str], install_requires: tuple[str, ...] = ()) -> bytes:
    """trainer-0.0.0.tar.gz with a generated setup.py, as gcloud builds it."""
    setup = ("from setuptools import find_packages, setup\n"
             f"setup(name='trainer', version='0.0.0', packages=find_packages(), "
             f"install_requires={list(install_requires)!r})\n")
    files = {"setup.py": setup, "trainer/__init__.py": "", **{
        f"trainer/{name}.py": textwrap.dedent(code) for name, code in modules.items()}}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"trainer-0.0.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def upload(cloud: CloudEnv, name: str, data: bytes) -> str:
    client = storage.Client(project=cloud.project, credentials=AnonymousCredentials())
    client.bucket(cloud.bucket).blob(name).upload_from_string(data)
    return f"gs://{cloud.bucket}/{name}"


def job_body(package_uri: str, module: str = "trainer.task", output: str | None = None,
             **extra: Any) -> dict[str, Any]:
    pool = {"machineSpec": dict(MACHINE), "replicaCount": 1, "pythonPackageSpec": {
        "executorImageUri": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest",
        "packageUris": [package_uri], "pythonModule": module, "args": extra.pop("args", [])}}
    body: dict[str, Any] = {"displayName": "job", "jobSpec": {"workerPoolSpecs": [pool]}}
    if output:
        body["jobSpec"]["baseOutputDirectory"] = {"outputUriPrefix": output}
    body.update(extra)
    return body


def run_job(cloud: CloudEnv, modules: dict[str, str], requires: tuple[str, ...] = (),
            pools: tuple[dict[str, Any], ...] = (), **extra: Any) -> tuple[dict[str, Any], str]:
    uri = upload(cloud, "job/packages/trainer-0.0.0.tar.gz", sdist(modules, requires))
    body = job_body(uri, **extra)
    body["jobSpec"]["workerPoolSpecs"] += list(pools)
    job = custom_jobs(cloud).create(parent=cloud.parent, body=body).execute()
    return job, job["name"].rsplit("/", 1)[1]


def poll(cloud: CloudEnv, name: str) -> dict[str, Any]:
    """Poll through the real client, as jobspec will, until the job ends."""
    jobs = custom_jobs(cloud)
    for _ in range(600):
        got: dict[str, Any] = jobs.get(name=name).execute()
        if got["state"] in TERMINAL:
            return got
        time.sleep(0.05)
    raise AssertionError(f"job never ended: {got}")


def log_entries(cloud: CloudEnv, job_id: str, extra: str = "", **body: Any) -> list[dict]:
    logging = api("logging", "v2", cloud.vertex.url)
    request = {"resourceNames": [f"projects/{cloud.project}"], "orderBy": "timestamp asc",
               "filter": f'resource.type="ml_job" AND resource.labels.job_id="{job_id}"{extra}',
               **body}
    entries: list[dict] = []
    while True:
        page = logging.entries().list(body=request).execute()
        entries += page.get("entries", [])
        if "nextPageToken" not in page:
            return entries
        request["pageToken"] = page["nextPageToken"]


def trainer_lines(entries: list[dict], severity: str = "INFO") -> list[str]:
    """What the trainer itself printed: replica lines after the stand-in starts the module."""
    replica = [e for e in entries if e["resource"]["labels"]["task_name"] == "workerpool0-0"]
    starts = [i for i, e in enumerate(replica) if e["textPayload"].startswith(
        "Running command: python3 -m ") and " -m pip " not in e["textPayload"]]
    assert starts, [e["textPayload"] for e in replica]
    return [e["textPayload"] for e in replica[starts[0] + 1:] if e["severity"] == severity]


def error_of(err: HttpError) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(err.content)["error"]
    return body


# -- GCS -----------------------------------------------------------------------------------------
def test_gcs_emulator_with_real_client_and_create_if_absent(cloud_env: CloudEnv) -> None:
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    blob = client.bucket(cloud_env.bucket).blob("name/.jobspec/claim.json")
    blob.upload_from_string(b'{"owner": "a"}', if_generation_match=0)
    with pytest.raises(gexc.PreconditionFailed) as info:
        client.bucket(cloud_env.bucket).blob("name/.jobspec/claim.json").upload_from_string(
            b'{"owner": "b"}', if_generation_match=0)
    assert info.value.code == 412
    gcs = cloud_env.gcs
    assert gcs.read_object(cloud_env.bucket, "name/.jobspec/claim.json") == b'{"owner": "a"}'
    gcs.write_object(cloud_env.bucket, "other/x", b"1")
    assert gcs.list_objects(cloud_env.bucket, prefix="name/") == ["name/.jobspec/claim.json"]
    assert gcs.count_objects(cloud_env.bucket) == 2
    assert gcs.object_exists(cloud_env.bucket, "other/x")
    gcs.delete_bucket(cloud_env.bucket)
    assert not gcs.bucket_exists(cloud_env.bucket)


# -- jobs that really run ------------------------------------------------------------------------
TASK_OK = """
    import json, os, sys
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage
    print("step one", sys.argv[1:], flush=True)
    print("cwd", os.listdir("."), flush=True)
    for key in ("AIP_MODEL_DIR", "CLOUD_ML_JOB_ID", "GOOGLE_CLOUD_PROJECT"):
        print(key, os.environ.get(key), flush=True)
    print("cluster", sorted(json.loads(os.environ["TF_CONFIG"])["cluster"]), flush=True)
    bucket, _, prefix = os.environ["AIP_MODEL_DIR"][5:].partition("/")
    client = storage.Client(project="test", credentials=AnonymousCredentials())
    client.bucket(bucket).blob(prefix + "saved.txt").upload_from_string("model")
    print("leaked", "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM" in os.environ, flush=True)
    print("step two", flush=True)
"""


def test_job_runs_to_success_with_its_lines_in_logging(cloud_env: CloudEnv) -> None:
    workers = {"machineSpec": MACHINE, "replicaCount": 2, "pythonPackageSpec": {
        "executorImageUri": "img", "packageUris": ["gs://b/p.tar.gz"],
        "pythonModule": "trainer.task"}}
    job, job_id = run_job(cloud_env, {"task": TASK_OK}, ("packaging",), pools=(workers,),
                          args=["--steps", "3"], labels={"jobspec-run": "r1"},
                          output=f"gs://{cloud_env.bucket}/out")
    assert job["state"] == "JOB_STATE_QUEUED"
    assert job["name"].startswith("projects/") and job_id.isdigit()
    assert job["jobSpec"]["workerPoolSpecs"][0]["replicaCount"] == "1"  # int64 as a string
    done = poll(cloud_env, job["name"])
    assert done["state"] == "JOB_STATE_SUCCEEDED", cloud_env.vertex.job_log_lines(job_id)
    assert done["startTime"] <= done["endTime"] and "error" not in done
    entries = log_entries(cloud_env, job_id)
    assert trainer_lines(entries) == [
        "step one ['--steps', '3']", "cwd []", f"AIP_MODEL_DIR gs://{cloud_env.bucket}/out/model/",
        f"CLOUD_ML_JOB_ID {job_id}", "GOOGLE_CLOUD_PROJECT test", "cluster ['chief', 'worker']",
        "leaked False", "step two"]
    stamps = [e["timestamp"] for e in entries]
    assert stamps == sorted(stamps) and len({e["insertId"] for e in entries}) == len(entries)
    first = entries[0]
    assert first["resource"] == {"type": "ml_job", "labels": {
        "job_id": job_id, "task_name": first["labels"]["ml.googleapis.com/task_name"],
        "project_id": "test"}}
    assert cloud_env.gcs.read_object(cloud_env.bucket, "out/model/saved.txt") == b"model"
    # paging, descending order and a timestamp bound give the same entries
    assert log_entries(cloud_env, job_id, pageSize=3) == entries
    desc = log_entries(cloud_env, job_id, orderBy="timestamp desc")
    assert desc == entries[::-1]
    later = log_entries(cloud_env, job_id, f' AND timestamp>"{entries[4]["timestamp"]}"')
    assert later == entries[5:]


TASK_FAIL = """
    print("about to fail", flush=True)
    raise ValueError("boom")
"""


def test_failing_module_fails_the_job_with_its_traceback_in_logs(cloud_env: CloudEnv) -> None:
    job, job_id = run_job(cloud_env, {"task": TASK_FAIL})
    done = poll(cloud_env, job["name"])
    assert done["state"] == "JOB_STATE_FAILED"
    assert done["error"]["message"].startswith(
        "The replica workerpool0-0 exited with a non-zero status of 1.")
    entries = log_entries(cloud_env, job_id)
    assert trainer_lines(entries) == ["about to fail"]
    errors = trainer_lines(entries, "ERROR")
    assert errors[0] == "Traceback (most recent call last):"
    assert errors[-1] == "ValueError: boom"
    # more of the Logging query language: severity order, quoted label keys, project number
    assert log_entries(cloud_env, job_id, " AND severity>=ERROR") == [
        e for e in entries if e["severity"] == "ERROR"]
    service = log_entries(cloud_env, job_id, ' labels."ml.googleapis.com/task_name"="service"')
    assert service and all(e["resource"]["labels"]["task_name"] == "service" for e in service)
    assert service[-1]["textPayload"] == done["error"]["message"]
    number = done["name"].split("/")[1]
    assert log_entries(cloud_env, job_id, resourceNames=[f"projects/{number}"]) == entries


def test_unmet_requirement_fails_like_pip_in_the_cloud(cloud_env: CloudEnv) -> None:
    job, job_id = run_job(cloud_env, {"task": "print('never')"}, ("no-such-dist-jobspec>=1",))
    done = poll(cloud_env, job["name"])
    assert done["state"] == "JOB_STATE_FAILED"
    lines = cloud_env.vertex.job_log_lines(job_id)
    assert "ERROR: No matching distribution found for no-such-dist-jobspec>=1" in lines
    assert "never" not in lines


def test_cancel_kills_the_running_trainer(cloud_env: CloudEnv, tmp_path: Path) -> None:
    task = """
        import os, time
        print("pid", os.getpid(), flush=True)
        time.sleep(60)
    """
    job, job_id = run_job(cloud_env, {"task": task})
    vertex = cloud_env.vertex
    for _ in range(400):
        pids = [line for line in vertex.job_log_lines(job_id) if line.startswith("pid ")]
        if pids:
            break
        time.sleep(0.02)
    assert pids, vertex.job_log_lines(job_id)
    jobs = custom_jobs(cloud_env)
    assert jobs.cancel(name=job["name"]).execute() == {}
    assert jobs.get(name=job["name"]).execute()["state"] in ("JOB_STATE_CANCELLING",
                                                            "JOB_STATE_CANCELLED")
    done = vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=10)
    assert done["error"] == {"code": 1, "message": "CANCELED"}
    with pytest.raises(ProcessLookupError):
        import os

        os.kill(int(pids[0].split()[1]), 0)
    with pytest.raises(HttpError) as info:
        jobs.cancel(name=job["name"]).execute()
    assert error_of(info.value)["status"] == "FAILED_PRECONDITION"


def test_cancel_while_queued_never_runs(cloud_env: CloudEnv) -> None:
    cloud_env.vertex.queued_delay = 30
    job, job_id = run_job(cloud_env, {"task": "print('ran')"})
    custom_jobs(cloud_env).cancel(name=job["name"]).execute()
    done = cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=5)
    assert "startTime" not in done
    assert cloud_env.vertex.job_log_lines(job_id) == []


# -- strict create -------------------------------------------------------------------------------
def _with(path: str, value: Any) -> dict[str, Any]:
    body = job_body("gs://b/p.tar.gz")
    node: Any = body
    keys = path.split(".")
    for key in keys[:-1]:
        node = node[int(key)] if key.isdigit() else node[key]
    if value is KeyError:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return body


@pytest.mark.parametrize(("body", "message"), [
    (_with("bogusField", 1), 'Unknown name "bogusField" at \'custom_job\': Cannot find field.'),
    (_with("jobSpec.workerPoolSpecs.0.machineSpec.gpus", 1),
     "Unknown name \"gpus\" at 'custom_job.job_spec.worker_pool_specs[0].machine_spec'"),
    (_with("displayName", 5), "Invalid value at 'custom_job.display_name' (TYPE_STRING), 5"),
    (_with("jobSpec.workerPoolSpecs.0.replicaCount", "two"),
     "Invalid value at 'custom_job.job_spec.worker_pool_specs[0].replica_count' (TYPE_INT64)"),
    (_with("displayName", KeyError),
     "List of found errors:\t1.Field: custom_job.display_name; Message: Required field is not "
     "set.\t"),
    (_with("jobSpec.workerPoolSpecs", []), "custom_job.job_spec.worker_pool_specs; Message: "
                                           "Required field is not set."),
    (_with("jobSpec.workerPoolSpecs.0.replicaCount", 2), "must be 1"),
    (_with("jobSpec.workerPoolSpecs.0.machineSpec", {}), "machine_spec.machine_type; Message: "
                                                         "Required field is not set."),
    (_with("jobSpec.workerPoolSpecs.0.pythonPackageSpec.pythonModule", ""),
     "python_package_spec.python_module; Message: Required field is not set."),
    (_with("labels", {"Bad Key": "v"}), "Invalid label key: 'Bad Key'"),
    (_with("labels", {"k": "UPPER"}), "Invalid label value: 'UPPER'"),
])
def test_create_rejects_what_vertex_rejects(cloud_env: CloudEnv, body: dict[str, Any],
                                            message: str) -> None:
    with pytest.raises(HttpError) as info:
        custom_jobs(cloud_env).create(parent=cloud_env.parent, body=body).execute()
    error = error_of(info.value)
    assert info.value.resp.status == 400 and error["status"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert cloud_env.vertex.jobs == {}


def test_create_accepts_snake_case_and_ignores_output_only_fields(cloud_env: CloudEnv) -> None:
    cloud_env.vertex.run_jobs = False
    body = job_body("gs://b/p.tar.gz", state="JOB_STATE_SUCCEEDED")
    body["display_name"] = body.pop("displayName")
    job = custom_jobs(cloud_env).create(parent=cloud_env.parent, body=body).execute()
    assert job["displayName"] == "job" and job["state"] == "JOB_STATE_QUEUED"


# -- list with filters ---------------------------------------------------------------------------
def test_list_filters_by_label_and_display_name_with_paging(cloud_env: CloudEnv) -> None:
    cloud_env.vertex.run_jobs = False
    jobs = custom_jobs(cloud_env)
    made = {}
    for name, run in [("a", "r1"), ("b", "r1"), ("a", "r2"), ("c", "r1")]:
        job = jobs.create(parent=cloud_env.parent, body=job_body(
            "gs://b/p.tar.gz", displayName=name, labels={"jobspec-run": run})).execute()
        made[job["name"]] = (name, run)

    def names(filter_: str, page_size: int = 0) -> list[str]:
        out, token = [], None
        while True:
            page = jobs.list(parent=cloud_env.parent, filter=filter_, pageSize=page_size,
                             pageToken=token).execute()
            out += [j["name"] for j in page.get("customJobs", [])]
            token = page.get("nextPageToken")
            if not token:
                return out

    r1 = [n for n, (_, run) in made.items() if run == "r1"][::-1]  # newest first
    assert names('labels.jobspec-run="r1"') == r1
    assert names("labels.jobspec-run=r1", page_size=1) == r1
    assert names('labels.jobspec-run="r1" AND display_name="a"') == r1[-1:]
    assert names('labels.jobspec-run="none"') == []
    for bad in ('labels.a="1" OR labels.b="2"', 'colour="red"'):
        with pytest.raises(HttpError) as info:
            names(bad)
        assert info.value.resp.status == 400


# -- faults --------------------------------------------------------------------------------------
@pytest.fixture
def idle_jobs(cloud_env: CloudEnv) -> Iterator[Any]:
    cloud_env.vertex.run_jobs = False
    yield custom_jobs(cloud_env)


def test_fault_status_then_client_retry(cloud_env: CloudEnv, idle_jobs: Any) -> None:
    vertex = cloud_env.vertex
    fault = vertex.faults.add("POST", r"/customJobs$", status=503, times=1)
    with pytest.raises(HttpError) as info:
        idle_jobs.create(parent=cloud_env.parent, body=job_body("gs://b/p")).execute()
    assert info.value.resp.status == 503 and error_of(info.value)["status"] == "UNAVAILABLE"
    assert fault.hits == 1 and vertex.jobs == {}
    vertex.faults.add("POST", r"/customJobs$", status=503, times=1)
    request = idle_jobs.create(parent=cloud_env.parent, body=job_body("gs://b/p"))
    request._sleep = lambda seconds: None  # no back-off wait in a test
    request.execute(num_retries=2)
    assert [r.outcome for r in vertex.requests if r.method == "POST"] == [503, 503, 200]
    assert len(vertex.jobs) == 1


def test_fault_delay_trips_a_client_timeout(cloud_env: CloudEnv, idle_jobs: Any) -> None:
    import google_auth_httplib2

    job = idle_jobs.create(parent=cloud_env.parent, body=job_body("gs://b/p")).execute()
    fault = cloud_env.vertex.faults.add("GET", r"/customJobs/\d+$", delay=1.0)
    http = google_auth_httplib2.AuthorizedHttp(AnonymousCredentials(),
                                               http=httplib2.Http(timeout=0.2))
    impatient = build("aiplatform", "v1", static_discovery=True, http=http,
                      client_options={"api_endpoint": cloud_env.vertex.url})
    _BUILT.append(impatient)
    with pytest.raises(TimeoutError):
        impatient.projects().locations().customJobs().get(name=job["name"]).execute()
    assert fault.hits == 1
    assert idle_jobs.get(name=job["name"]).execute()["name"] == job["name"]


def test_fault_drop_before_is_hidden_by_httplib2_resend(cloud_env: CloudEnv,
                                                       idle_jobs: Any) -> None:
    cloud_env.vertex.faults.add("POST", r"/customJobs$", drop="before")
    job = idle_jobs.create(parent=cloud_env.parent, body=job_body("gs://b/p")).execute()
    assert [r.outcome for r in cloud_env.vertex.requests] == ["dropped-before", 200]
    assert list(cloud_env.vertex.jobs) == [job["name"].rsplit("/", 1)[1]]


@pytest.mark.parametrize("retries", [2, 1])
def test_fault_drop_after_creates_a_hidden_duplicate(cloud_env: CloudEnv, idle_jobs: Any,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    retries: int) -> None:
    # httplib2 re-sends once after a dropped answer "regardless of RETRIES": even
    # httplib2.RETRIES = 1 does not stop it. Only a label lookup finds the duplicate.
    monkeypatch.setattr(httplib2, "RETRIES", retries)
    cloud_env.vertex.faults.add("POST", r"/customJobs$", drop="after")
    body = job_body("gs://b/p", labels={"jobspec-submit": "s1"})
    job = idle_jobs.create(parent=cloud_env.parent, body=body).execute()
    assert [r.outcome for r in cloud_env.vertex.requests] == ["dropped-after", 200]
    found = idle_jobs.list(parent=cloud_env.parent,
                           filter='labels.jobspec-submit="s1"').execute()["customJobs"]
    assert len(found) == 2 and job["name"] in {j["name"] for j in found}


def test_fault_drop_after_twice_surfaces_an_error(cloud_env: CloudEnv, idle_jobs: Any) -> None:
    cloud_env.vertex.faults.add("POST", r"/customJobs$", drop="after", times=2)
    with pytest.raises(http.client.RemoteDisconnected):
        idle_jobs.create(parent=cloud_env.parent, body=job_body("gs://b/p")).execute()
    assert len(cloud_env.vertex.jobs) == 2  # the outcome was unknown, yet both landed


# -- other routes and strictness -----------------------------------------------------------------
def raw(vertex: VertexStandin, method: str, path: str, data: bytes | None = None) -> tuple[int,
                                                                                         dict]:
    req = urllib.request.Request(vertex.url.rstrip("/") + path, data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def test_unknown_route_bad_json_and_unknown_query_parameter(vertex: VertexStandin) -> None:
    status, body = raw(vertex, "GET", "/v1/projects/p/locations/us-central1/nothing")
    assert status == 404 and body["error"]["status"] == "NOT_FOUND"
    status, body = raw(vertex, "POST", "/v1/projects/p/locations/us-central1/customJobs", b"{x")
    assert status == 400 and body["error"]["message"].startswith("Invalid JSON payload")
    status, body = raw(vertex, "GET", "/v1/projects/p/locations/us-central1/customJobs?bogus=1")
    assert status == 400 and "Cannot bind query parameter" in body["error"]["message"]
    status, body = raw(vertex, "POST", "/v2/entries:list", b"{}")
    assert status == 400 and "resource_names" in body["error"]["message"]
    assert vertex.counters["unknown"] == 1


def test_legacy_ml_v1_submit_and_get(vertex: VertexStandin) -> None:
    ml = api("ml", "v1", vertex.url).projects().jobs()
    body = {"jobId": "census_single_7", "trainingInput": {
        "scaleTier": "BASIC", "packageUris": ["gs://b/trainer-0.0.0.tar.gz"],
        "pythonModule": "trainer.task", "region": "us-central1", "runtimeVersion": "1.2"}}
    job = ml.create(parent="projects/p", body=body).execute()
    assert job["state"] == "QUEUED" and job["trainingInput"]["scaleTier"] == "BASIC"
    got = ml.get(name="projects/p/jobs/census_single_7").execute()
    assert got["jobId"] == "census_single_7"
    with pytest.raises(HttpError) as info:
        ml.create(parent="projects/p", body=body).execute()
    assert info.value.resp.status == 409


# -- the network guard ---------------------------------------------------------------------------
def test_network_guard_refuses_non_loopback(guarded_hosts: Any, vertex: VertexStandin) -> None:
    assert netguard.installed()  # else the attempts below would really leave the machine
    with pytest.raises(RuntimeError, match="test tried to reach the network: 8.8.8.8:53"):
        socket.create_connection(("8.8.8.8", 53), timeout=1)
    with socket.socket() as sock, pytest.raises(RuntimeError, match="8.8.8.8:53"):
        sock.connect(("8.8.8.8", 53))
    with pytest.raises(RuntimeError, match="aiplatform.googleapis.com:443"):
        socket.getaddrinfo("aiplatform.googleapis.com", 443)
    assert list(guarded_hosts) == ["8.8.8.8:53", "8.8.8.8:53", "aiplatform.googleapis.com:443"]
    socket.create_connection(("127.0.0.1", vertex.port), timeout=1).close()  # loopback is fine
    script = ("import socket, sys, _jobspec_netguard as g\n"
              "assert g.installed(), 'guard missing'\n"
              "socket.getaddrinfo('oauth2.googleapis.com', 443)\n")
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode != 0
    assert "test tried to reach the network: oauth2.googleapis.com:443" in proc.stderr
    assert "oauth2.googleapis.com:443" in guarded_hosts.from_subprocesses()
