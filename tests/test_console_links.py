"""Console links: `run` prints the job's page as soon as it exists and again when it ends,
`status` and `list` show it, a group shows one per member; the link is the Agent Platform
form (the Vertex SDK's `_dashboard_uri` with the `agent-platform` prefix) of the job the
stand-in really created, with the project number its resource name carries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobspec.cloud.console import build_link, job_link
from tests.standins.fixtures import PROJECT, REGION
from tests.standins.vertex import project_number

FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def _project(tmp_path: Path, body: str, more: str = "") -> Path:
    (tmp_path / ".git").mkdir()
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text(body)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        f"targets:\n  cloud:\n    bucket: placeholder-bucket\n    project: {PROJECT}\n"
        "    image: python:3.11-slim\n"
        + more)
    return spec


def _link(job_id: str) -> str:
    """What the console page of stand-in job JOB_ID is, spelled out by hand."""
    return ("https://console.cloud.google.com/agent-platform/locations/us-central1/training/"
            f"{job_id}?project={project_number(PROJECT)}")


def test_links_are_made_from_resource_names_alone() -> None:
    assert job_link("projects/123456789012/locations/europe-west4/customJobs/8812") == (
        "https://console.cloud.google.com/agent-platform/locations/europe-west4/training/8812"
        "?project=123456789012")
    assert job_link("projects/my-proj/locations/us-central1/customJobs/77") == (
        "https://console.cloud.google.com/agent-platform/locations/us-central1/training/77"
        "?project=my-proj")
    assert build_link("projects/123456789012/locations/us-central1/builds/"
                      "62cc4d4f-19d5-4ebf-abc9-23350b039a82") == (
        "https://console.cloud.google.com/cloud-build/builds;region=us-central1/"
        "62cc4d4f-19d5-4ebf-abc9-23350b039a82?project=123456789012")
    # no job yet, another kind of resource, or a name that is not one: no link, no error
    # a tuning job's page: the Vertex SDK gives HyperparameterTuningJob the same "training"
    assert job_link("projects/my-proj/locations/us-central1/hyperparameterTuningJobs/5") == (
        "https://console.cloud.google.com/agent-platform/locations/us-central1/training/5"
        "?project=my-proj")
    for name in (None, "", "projects/p/locations/r/batchPredictionJobs/1",
                 "projects/p/locations/r/customJobs/1/extra", "customJobs/1",
                 "projects/p?x=1/locations/r/customJobs/1"):
        assert job_link(name) is None, name
    assert build_link("projects/p/locations/r/customJobs/1") is None


def test_run_prints_the_link_when_the_job_is_created_and_when_it_ends(cli, cloud,
                                                                      tmp_path: Path) -> None:
    spec = _project(tmp_path, "print('hello', flush=True)\n")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    (job_id,) = cloud.vertex.jobs
    line = f"jobspec: probe in the console: {_link(job_id)}"
    lines = out.err.splitlines()
    assert lines.count(line) == 2
    first_state = next(i for i, text in enumerate(lines) if text.startswith("jobspec: probe: "))
    assert lines.index(line) < first_state  # before following: clickable while it runs
    assert lines[-1] == line  # and the last thing said when it ended
    assert lines[lines.index(line) - 1].startswith("jobspec: submitted probe: projects/")


def test_detach_status_and_list_show_the_link(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print('hello', flush=True)\n")
    cloud.vertex.run_jobs = False
    out = cli("run", str(spec), "--target", "cloud", "--detach", "--json", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    (job_id,) = cloud.vertex.jobs
    link = _link(job_id)
    assert json.loads(out.out)["console"] == link
    assert {"level": "info", "message": f"probe in the console: {link}"} in [
        json.loads(text) for text in out.err.splitlines()]
    where = ["--target", "cloud", "--spec", str(spec), "--bucket", cloud.bucket]
    status = cli("status", "probe", *where)
    assert status.code == 0, status.err
    assert status.out.splitlines()[1:3] == [
        f"  job      projects/{project_number(PROJECT)}/locations/{REGION}/customJobs/{job_id}",
        f"  console  {link}"]
    as_json = cli("status", "probe", *where, "--json")
    assert json.loads(as_json.out)["console"] == link
    listing = cli("list", "--target", "cloud", "--bucket", cloud.bucket, "--json")
    assert [(r["name"], r["console"]) for r in json.loads(listing.out)] == [("probe", link)]


def test_a_group_prints_one_link_per_member(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "print('hello', flush=True)\n", "matrix:\n  lr: [1, 2]\n")
    cloud.vertex.run_jobs = False
    out = cli("run", str(spec), "--target", "cloud", "--detach", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    links = {job["displayName"]: _link(job_id) for job_id, job in cloud.vertex.jobs.items()}
    assert sorted(links) == ["probe_lr_1", "probe_lr_2"]
    for member, link in links.items():
        assert out.err.count(f"jobspec: {member} in the console: {link}\n") == 1
    status = cli("status", "probe", "--bucket", cloud.bucket, "--json")
    assert status.code == 0, status.err
    assert {r["name"]: r["console"] for r in json.loads(status.out)["members"]} == links
    text = cli("status", "probe", "--bucket", cloud.bucket)
    assert text.out.splitlines()[-3:] == ["  console:", *(
        f"    {member}  {links[member]}" for member in ("probe_lr_1", "probe_lr_2"))]
