"""The cost after the job: `run`, `status` and `list` show an ended cloud job's running time and
estimated cost, computed from the startTime and endTime the Vertex stand-in reports, times the
rates of its pools (Spot where it ran on Spot); a matrix group shows its total. Every expected
figure below is worked out by hand from the stand-in's times and the rates of the shipped table
(jobspec/prices_data.py), written out as literals."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from tests.standins.fixtures import PROJECT

FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}

# Spot in us-central1 (shipped table, gce-catalog and gce-disks rows): a2-highgpu-1g, one
# NVIDIA_TESLA_A100, and Vertex's default boot disk (100 GiB pd-ssd at $0.17 per GiB-month over
# the 730-hour month).
SPOT_A100_PER_HOUR = 0.29576 + 1.1472 + 100 * 0.17 / 730
# On-demand in us-central1: n1-standard-4 (Vertex AI's own rate) and the same boot disk.
N1_PER_HOUR = 0.21849885 + 100 * 0.17 / 730

_SPOT_A100 = ("    scale_tier: CUSTOM\n    scheduling: {strategy: SPOT}\n"
              "    chief:\n      machine_type: a2-highgpu-1g\n"
              "      accelerator: {type: NVIDIA_TESLA_A100, count: 1}\n")


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no user copy: shipped rates
    return cloud_env


def _project(tmp_path: Path, cloud: str, more: str = "", name: str = "probe") -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "trainer").mkdir(exist_ok=True)
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("import time\ntime.sleep(0.3)\nprint('done')\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"version: 1\nname: {name}\ntrainer: {{package_path: trainer, module: trainer.task}}\n"
        f"targets:\n  local: {{}}\n  cloud:\n    bucket: placeholder-bucket\n"
        f"    project: {PROJECT}\n    region: us-central1\n    image: python:3.11-slim\n"
        + cloud + more)
    return spec


def _seconds(job: dict) -> float:
    """The job's running time from the stand-in's own startTime and endTime."""
    def when(text: str) -> datetime:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))

    return (when(job["endTime"]) - when(job["startTime"])).total_seconds()


def _last_json(text: str) -> dict:
    """The outcome `run --json` prints last, after the log's JSON lines."""
    lines = text.splitlines()
    start = max(i for i, line in enumerate(lines) if line.startswith("{"))
    data: dict = json.loads("\n".join(lines[start:]))
    return data


def _money(usd: float) -> str:
    return f"${usd:.6f}" if usd < 0.01 else f"${usd:,.4f}"


def test_run_status_and_list_show_a_spot_jobs_cost(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, _SPOT_A100)
    where = ("--bucket", cloud.bucket)
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    (job,) = cloud.vertex.jobs.values()
    seconds = _seconds(job)
    assert seconds > 0.2  # the trainer sleeps 0.3 s: the stand-in's times bracket its run
    usd = seconds * SPOT_A100_PER_HOUR / 3600
    line = (f"jobspec: probe ran {seconds:.1f}s, estimated cost {_money(usd)} (spot in "
            "us-central1, at least: Compute Engine rates, Vertex bills more; shipped table read "
            "2026-11-27)")
    assert line in out.err.splitlines(), out.err

    status = cli("status", "probe", *where, "--json")
    assert status.code == 0, status.err
    cost = json.loads(status.out)["cost"]
    assert cost["seconds"] == pytest.approx(seconds)
    assert cost["usd"] == pytest.approx(usd)
    assert cost["per_hour"] == pytest.approx(SPOT_A100_PER_HOUR)
    assert (cost["strategy"], cost["region"], cost["currency"]) == ("SPOT", "us-central1", "USD")
    assert cost["lower_bound"] is True and cost["unknown"] == []
    assert set(cost["sources"]) == {"gce-catalog", "gce-disks"}
    text = cli("status", "probe", *where)
    assert f"  cost     ran {seconds:.1f}s, estimated cost {_money(usd)} (spot" in text.out

    listed = cli("list", *where, "--json")
    (row,) = json.loads(listed.out)
    assert row["cost"]["usd"] == pytest.approx(usd)
    table = cli("list", *where).out.splitlines()
    assert table[0].split() == ["NAME", "STATE", "CLAIM", "CREATED", "COST"]
    assert table[1].split()[0] == "probe" and table[1].split()[-1] == _money(usd)


def test_run_json_carries_the_cost(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "")  # BASIC: one n1-standard-4, on demand
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}", "--json")
    assert out.code == 0, out.err
    outcome = _last_json(out.out)
    (job,) = cloud.vertex.jobs.values()
    seconds = _seconds(job)
    assert outcome["cost"]["seconds"] == pytest.approx(seconds)
    assert outcome["cost"]["usd"] == pytest.approx(seconds * N1_PER_HOUR / 3600)
    assert outcome["cost"]["strategy"] == "ON_DEMAND"
    # a Vertex AI rate for the machine, a Compute Engine one for the disk: still a lower bound
    assert outcome["cost"]["sources"].keys() == {"vertex-page", "gce-disks"}


def test_a_job_that_has_not_ended_has_no_cost_yet(cli, cloud, tmp_path: Path) -> None:
    cloud.vertex.run_jobs = False  # the job stays queued: no startTime, no endTime
    spec = _project(tmp_path, "")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}", "--detach")
    assert out.code == 0, out.err
    status = cli("status", "probe", "--bucket", cloud.bucket, "--json")
    assert json.loads(status.out)["cost"] is None
    assert "cost" not in cli("status", "probe", "--bucket", cloud.bucket).out
    (row,) = json.loads(cli("list", "--bucket", cloud.bucket, "--json").out)
    assert row["cost"] is None
    assert cli("list", "--bucket", cloud.bucket).out.splitlines()[1].split()[-1] == "-"


def test_a_machine_the_table_lacks_says_the_cost_is_unknown(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, "    scale_tier: CUSTOM\n    chief:\n"
                    "      machine_type: e2-standard-4\n")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    (job,) = cloud.vertex.jobs.values()
    assert (f"jobspec: probe ran {_seconds(job):.1f}s, cost unknown (on-demand in us-central1: "
            "machine e2-standard-4 is not in the price table)") in out.err.splitlines()
    cost = json.loads(cli("status", "probe", "--bucket", cloud.bucket, "--json").out)["cost"]
    assert cost["usd"] is None and cost["seconds"] == pytest.approx(_seconds(job))


def test_a_group_shows_each_members_cost_and_the_total(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, _SPOT_A100, "matrix:\n  lr: [1, 2]\nargs:\n  - --lr=${matrix.lr}\n",
                    name="sweep")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}")
    assert out.code == 0, out.err
    jobs = {j["displayName"]: j for j in cloud.vertex.jobs.values()}
    assert sorted(jobs) == ["sweep_lr_1", "sweep_lr_2"]
    each = {name: _seconds(job) * SPOT_A100_PER_HOUR / 3600 for name, job in jobs.items()}
    total = sum(each.values())
    lines = out.err.splitlines()
    for name, usd in each.items():
        assert any(x.startswith(f"jobspec: {name} ran ") and f"estimated cost {_money(usd)} "
                   in x for x in lines), out.err
    total_seconds = sum(_seconds(j) for j in jobs.values())
    assert (f"jobspec: the group ran {total_seconds:.1f}s in all, estimated cost "
            f"{_money(total)}, at least") in lines

    status = json.loads(cli("status", "sweep", "--bucket", cloud.bucket, "--json").out)
    assert status["cost"]["usd"] == pytest.approx(total)
    assert status["cost"]["ended"] == status["cost"]["members"] == 2
    assert {m["name"]: m["cost"]["usd"] for m in status["members"]} == pytest.approx(each)
    text = cli("status", "sweep", "--bucket", cloud.bucket).out
    assert text.splitlines()[1].split() == ["NAME", "STATE", "JOB", "COST"]
    assert f"the group ran {total_seconds:.1f}s in all, estimated cost {_money(total)}" in text


def test_a_local_run_shows_no_cost(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, _SPOT_A100)
    out = cli("run", str(spec), "--target", "local", "--json")
    assert out.code == 0, out.err
    assert "cost" not in out.err
    assert "cost" not in _last_json(out.out)
