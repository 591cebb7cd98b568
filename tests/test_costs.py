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

from tests.conftest import REPO
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


# -- the price before the job: the two acceptance examples, planned --------------------------

EXAMPLES = REPO / "docs" / "examples"
SSD_100 = 100 * 0.17 / 730  # the default boot disk, 100 GiB pd-ssd, an hour in us-central1
FLEX_A3_1G = 26 * (0.010934 + 0.0038247) + 234 * (0.000952 + 0.0003331) + 750 * 0.0001096
FLEX_H100 = 4.200761 + 1.4694826


def _usd(value: float) -> str:
    return f"${value:,.4f}"


def _price_section(text: str) -> list[str]:
    """The plan's price lines: from `price` to the request they price."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("price       "))
    end = next(i for i, line in enumerate(lines) if line.startswith("request     POST "))
    assert start < end
    return lines[start:end]


@pytest.fixture
def shipped_table(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no user copy


def test_plan_prices_the_spot_a100_example(cli, shipped_table) -> None:
    out = cli("plan", str(EXAMPLES / "spot-a100.yaml"), "--target", "cloud")
    assert out.code == 0, out.err
    job = 0.29576 + 1.1472 + SSD_100
    assert _price_section(out.out) == [
        "price       spot in us-central1 (shipped table, figures read 2026-11-27), USD per hour",
        f"  chief      1 x a2-highgpu-1g                  {_usd(0.29576)}",
        f"             1 x NVIDIA_TESLA_A100              {_usd(1.1472)}",
        f"             1 x 100 GiB pd-ssd                 {_usd(SSD_100)}",
        f"  job                                           {_usd(job)}, at least: Compute Engine "
        "rates, Vertex bills more",
        f"  at most {_usd(4 * job)} if it runs until its timeout (4 h)",
        f"  instead    on-demand {_usd(0.73948 + 2.93391 + SSD_100)}/h; flex-start unknown (no "
        "flex-start price for a2-highgpu-1g in us-central1)",
        "  source gce-catalog: https://github.com/skypilot-org/skypilot-catalog/blob/"
        "017e2502fb63c7a28757acd94002b2d6099d3e3d/catalogs/v7/gcp/vms.csv (read 2026-11-27)",
        "  source gce-disks: https://cloud.google.com/compute/disks-image-pricing "
        "(read 2026-11-27)",
    ]
    assert _usd(job) == "$1.4662" and _usd(4 * job) == "$5.8650"


def test_plan_prices_the_flex_start_h100_example(cli, shipped_table) -> None:
    out = cli("plan", str(EXAMPLES / "flex-start-h100.yaml"), "--target", "cloud")
    assert out.code == 0, out.err
    job = FLEX_A3_1G + FLEX_H100 + SSD_100
    section = _price_section(out.out)
    assert section[:7] == [
        "price       flex-start in us-central1 (shipped table, figures read 2026-11-27), USD "
        "per hour",
        f"  chief      1 x a3-highgpu-1g                  {_usd(FLEX_A3_1G)}",
        f"             1 x NVIDIA_H100_80GB               {_usd(FLEX_H100)}",
        f"             1 x 100 GiB pd-ssd                 {_usd(SSD_100)}",
        f"  job                                           {_usd(job)}, at least: Compute Engine "
        "rates, Vertex bills more",
        f"  at most {_usd(4 * job)} if it runs until its timeout (4 h)",
        "  instead    on-demand unknown (no on-demand price for a3-highgpu-1g in us-central1); "
        "spot unknown (no spot price for NVIDIA_H100_80GB in us-central1)",
    ]
    assert section[7].startswith("  source vertex-skus-a3: https://zenn.dev/google_cloud_jp/"
                                 "articles/dws-flex-new-skus (read 2026-11-27)")
    assert _usd(job) == "$6.4602" and _usd(4 * job) == "$25.8407"

    data = json.loads(cli("plan", str(EXAMPLES / "flex-start-h100.yaml"), "--target", "cloud",
                          "--json").out)
    price = data["price"]
    assert (price["strategy"], price["region"], price["currency"]) == (
        "FLEX_START", "us-central1", "USD")
    assert price["per_hour"] == pytest.approx(job)
    assert price["max_cost"] == pytest.approx(4 * job)
    assert price["pools"][0]["lines"][1] == {"what": "1 x NVIDIA_H100_80GB",
                                             "per_hour": pytest.approx(FLEX_H100),
                                             "source": "vertex-skus-a3", "unknown": None}
    assert price["instead"]["SPOT"] == {
        "per_hour": None, "unknown": ["no spot price for NVIDIA_H100_80GB in us-central1"]}
    # what is priced is what is sent: the request body's own pool and strategy
    pool = data["request"]["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert pool == {"machineType": "a3-highgpu-1g", "acceleratorType": "NVIDIA_H100_80GB",
                    "acceleratorCount": 1}
    assert data["request"]["jobSpec"]["scheduling"]["strategy"] == "FLEX_START"


def test_plan_of_a_group_shows_its_total(cli, shipped_table, tmp_path: Path) -> None:
    spec = tmp_path / "sweep.yaml"
    spec.write_text((EXAMPLES / "spot-a100.yaml").read_text().replace(
        "package_path: ../../trainer", f"package_path: {REPO / 'trainer'}")
        + "matrix:\n  lr: [1, 2, 3]\n")
    job = 0.29576 + 1.1472 + SSD_100
    out = cli("plan", str(spec), "--target", "cloud")
    assert out.code == 0, out.err
    assert out.out.splitlines()[-1] == (
        f"price       the group's 3 jobs together: {_usd(3 * job)} per hour, at most "
        f"{_usd(3 * 4 * job)} if each runs until its timeout")
    data = json.loads(cli("plan", str(spec), "--target", "cloud", "--json").out)
    assert data["price"]["per_hour"] == pytest.approx(3 * job)
    assert data["price"]["max_cost"] == pytest.approx(12 * job)
    assert [m["price"]["per_hour"] for m in data["members"]] == pytest.approx([job] * 3)
