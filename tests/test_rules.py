"""The spec owns every rule: shared constants, strict targets, env at validate, stable sweep
names, [tool.jobspec] checked like a spec."""

from __future__ import annotations

from pathlib import Path

from tests.test_cloud import FAST_POLL, _project, _run


def test_cancel_treats_every_terminal_state_as_final(cli, cloud_env, monkeypatch,
                                                     tmp_path: Path) -> None:
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    spec = _project(tmp_path, "print('done', flush=True)\n")
    assert _run(cli, spec, cloud_env.bucket, "--detach").code == 0
    (job_id,) = cloud_env.vertex.jobs
    cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_SUCCEEDED", timeout=20)
    with cloud_env.vertex.lock:  # Vertex ends a job EXPIRED when it waited too long for resources
        cloud_env.vertex._jobs[job_id].data["state"] = "JOB_STATE_EXPIRED"
    out = cli("cancel", "probe", "--bucket", cloud_env.bucket)
    assert out.code == 0, out.err
    assert "probe already ended EXPIRED; nothing to cancel" in out.err
    assert cloud_env.vertex.jobs[job_id]["state"] == "JOB_STATE_EXPIRED"
