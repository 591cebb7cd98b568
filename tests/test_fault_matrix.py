"""The fault matrix: every step of a cloud submission × every fault, against the stand-ins.

The cases and the rules they check are in tests/fault_cases.py (shared with
bench/fault_matrix.py, which writes docs/reliability.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fault_cases import (
    CASES,
    EXPECTED,
    FAST,
    NAME,
    Harness,
    case_id,
    run_case,
    write_project,
)


@pytest.mark.parametrize(("step", "fault"), CASES, ids=[case_id(s, f) for s, f in CASES])
def test_fault_matrix(step, fault, cli, cloud_env, gcs_proxy, tmp_path: Path,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    harness = Harness(cli=cli, vertex=cloud_env.vertex, proxy=gcs_proxy, gcs=cloud_env.gcs,
                      bucket=cloud_env.bucket, workdir=tmp_path / "project")
    result = run_case(harness, step, fault)
    assert result.problems == [], result.describe()
    assert result.outcome == EXPECTED[step.key, fault.key], result.describe()
    if fault.permanent:  # the error names the status and the service's message, nothing raw
        assert fault.key in result.said or result.outcome == "ok", result.said
        assert "injected fault" in result.said or result.outcome == "ok", result.said
        assert '{"error"' not in result.said and "Request failed" not in result.said


def test_reclaim_after_an_unknown_create_outcome_never_makes_a_second_job(
        cli, cloud_env, gcs_proxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two faults: the create lands but its answer is lost, and the look-up by submission
    label fails too. The claim says the outcome is unknown; --reclaim finds the job by its
    label and adopts it into the claim instead of making a second one."""
    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    vertex = cloud_env.vertex
    vertex.run_jobs = False
    spec = write_project(tmp_path / "project")
    run = ["run", str(spec), "--target", "cloud", "--detach",
           "--set", f"targets.cloud.bucket={cloud_env.bucket}"]
    vertex.faults.add("POST", r"/customJobs$", drop="after")
    vertex.faults.add("GET", r"/customJobs$", status=503, times=None)
    first = cli(*run)
    assert first.code == 4 and "a job may exist" in first.err, first.err
    assert "run again with --reclaim: it looks the job up by its submission label" in first.err
    claim = json.loads(cloud_env.gcs.read_object(cloud_env.bucket, f"{NAME}/.jobspec/claim.json"))
    assert claim["state"] == "unknown" and claim["job"] is None
    assert claim["region"] == "us-central1" and claim["project"] == "test"
    vertex.faults.clear()
    (job,) = vertex.jobs.values()
    again = cli(*run, "--reclaim")
    assert again.code == 0, again.err
    assert f"the earlier submission of '{NAME}' (unknown) did create a job: {job['name']}" in (
        again.err)
    claim = json.loads(cloud_env.gcs.read_object(cloud_env.bucket, f"{NAME}/.jobspec/claim.json"))
    assert claim["state"] == "submitted" and claim["job"] == job["name"]
    status = cli("status", NAME, "--json", "--target", "cloud", "--bucket", cloud_env.bucket)
    assert status.code == 0 and json.loads(status.out)["job"]["name"] == job["name"]
    assert len(vertex.jobs) == 1
    assert "Traceback" not in first.err + again.err + status.err


@pytest.mark.parametrize(("fault", "said"), [
    ({"status": 503}, "503 backendError: injected fault: HTTP 503"),
    ({"drop": "before"}, "connection failed: ('Connection aborted.', ConnectionResetError("),
], ids=["503", "reset"])
def test_storage_that_never_recovers_is_a_clean_exit_4(
        fault, said: str, cli, cloud_env, gcs_proxy, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """google-cloud-storage retries 5xx and resets (for 120 s by default), then raises
    RetryError (not an API error). jobspec stops it after JOBSPEC_STORAGE_DEADLINE (60 s; here
    0.3 s), says so on the first retry, and the failure is a clean exit 4."""
    from google.cloud.storage.retry import DEFAULT_RETRY

    for key, value in FAST.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("JOBSPEC_STORAGE_DEADLINE", "0.3")
    monkeypatch.setattr(DEFAULT_RETRY, "_initial", 0.05)
    cloud_env.vertex.run_jobs = False
    spec = write_project(tmp_path / "project")
    run = ["run", str(spec), "--target", "cloud", "--detach",
           "--set", f"targets.cloud.bucket={cloud_env.bucket}"]
    gcs_proxy.faults.add("POST", r"^/upload/", object_regex=r"/\.jobspec/claim\.json$",
                         times=None, **fault)
    first = cli(*run)
    assert first.code == 4, first.err
    assert "Traceback" not in first.err
    assert (f"cannot claim gs://{cloud_env.bucket}/{NAME}/: gave up after retrying for 0.3 s: "
            f"{said}") in first.err
    assert f"jobspec: claiming '{NAME}': {said}" in first.err and "retrying for up to 0.3 s" in (
        first.err)
    assert "run the same command again" in first.err
    assert len(gcs_proxy.requests_for(r"claim\.json$")) > 1  # the library did retry
    gcs_proxy.faults.clear()
    again = cli(*run)
    assert again.code == 0, again.err
    assert len(cloud_env.vertex.jobs) == 1
