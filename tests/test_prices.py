"""Prices: the shipped table, estimates pinned to hand-computed figures, the Catalog refresh
through the real client library against the billing stand-in, and region comparison."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobspec.errors import EXIT_CLOUD
from jobspec.prices import (
    HOURS_PER_MONTH,
    Pool,
    compare_regions,
    cost_after,
    estimate,
    for_body,
    group_total,
    max_cost,
    shipped,
    table,
    timeout_of,
    user_copy_path,
)
from jobspec.prices_data import RATES, SHAPES, SOURCES
from jobspec.prices_text import describe, to_json
from jobspec.runtimes_data import MACHINE_TYPES, SCALE_TIERS, PoolShape
from tests.standins._http import ApiError
from tests.standins.billing import BillingStandin, sku

THREE = ("us-central1", "europe-west4", "asia-east1")
SSD_100 = 100 * 0.17 / HOURS_PER_MONTH  # one default boot disk an hour in us-central1


def test_every_entry_has_a_positive_price_a_source_and_a_date() -> None:
    for kind, name, region, on_demand, spot, source in RATES:
        assert kind in ("machine", "accelerator", "disk"), name
        assert on_demand is not None or spot is not None, name
        for usd in (on_demand, spot):
            assert usd is None or usd > 0, (name, region)
        if on_demand is not None and spot is not None:
            assert spot < on_demand, (name, region)
        src = SOURCES[source]
        assert src.url.startswith("https://") and len(src.read) == 10, source
        assert src.basis in ("vertex", "compute-engine")
        if kind == "machine":
            assert name in SHAPES, name


def test_the_table_prices_shipped_machine_types_in_three_regions() -> None:
    tab = shipped()
    # n1-standard-8 is BASIC_GPU's machine; n1-highcpu-32 is complex_model_l's
    for machine in ("n1-standard-8", "n1-highcpu-32"):
        for region in THREE:
            assert tab.rate("machine", machine, region, "ON_DEMAND"), (machine, region)
            assert tab.rate("machine", machine, region, "SPOT"), (machine, region)
    # every machine jobspec maps a scale tier or a legacy machine name onto
    shipped_machines = ({p.machine_type for t in SCALE_TIERS for p in t.pools}
                        | {m.machine_type for m in MACHINE_TYPES})
    assert shipped_machines >= {"n1-standard-4", "n1-standard-8", "n1-highcpu-16"}
    for machine in shipped_machines:
        for region in THREE:
            for strategy in ("ON_DEMAND", "SPOT"):
                rate = tab.rate("machine", machine, region, strategy)
                assert rate is not None and rate.usd > 0, (machine, region, strategy)
    # BASIC_GPU's T4 too
    for region in THREE:
        assert tab.rate("accelerator", "NVIDIA_TESLA_T4", region, "ON_DEMAND"), region


def test_estimate_on_demand_and_spot_by_hand() -> None:
    pools = [PoolShape("chief", "n1-standard-8", 1), PoolShape("worker", "n1-standard-8", 2)]
    on_demand = estimate(pools, "us-central1", "ON_DEMAND")
    assert on_demand.compute_per_hour == pytest.approx(3 * 0.38)
    assert on_demand.disk_per_hour == pytest.approx(3 * SSD_100)
    assert on_demand.per_hour == pytest.approx(1.14 + 0.0698630137)
    assert [p.per_hour for p in on_demand.pools] == pytest.approx(
        [0.38 + SSD_100, 2 * (0.38 + SSD_100)])
    assert on_demand.unknown == () and on_demand.lower_bound
    spot = estimate(pools, "us-central1", "SPOT")
    assert spot.per_hour == pytest.approx(0.2889 + 0.0698630137)
    assert max_cost(on_demand, 4 * 3600) == pytest.approx(4 * 1.2098630137)


def test_spot_a100_with_its_maximum_cost() -> None:
    pool = Pool("chief", "a2-highgpu-1g", 1, "NVIDIA_TESLA_A100", 1)
    est = estimate([pool], "us-central1", "SPOT")
    assert est.per_hour == pytest.approx(0.29576 + 1.1472 + 0.0232876712)
    assert max_cost(est, 4 * 3600) == pytest.approx(4 * 1.4662476712)
    assert set(est.sources) == {"gce-catalog", "gce-disks"}


def test_cost_after_uses_the_running_time_and_spot_rates() -> None:
    pools = [PoolShape("chief", "n1-standard-8", 3)]
    spot = estimate(pools, "us-central1", "SPOT")
    cost = cost_after(spot, "2026-11-27T10:00:00Z", "2026-11-27T11:30:00.500Z")
    assert cost.seconds == 5400.5
    assert cost.usd == pytest.approx((3 * 0.0963 + 3 * SSD_100) * 5400.5 / 3600)
    assert cost.lower_bound


def test_what_the_table_lacks_is_unknown_never_guessed() -> None:
    assert estimate([Pool("chief", "x9-mega-1", 1)], "us-central1").unknown == (
        "machine x9-mega-1 is not in the price table",)
    missing = estimate([Pool("chief", "n1-highcpu-4", 1)], "us-central1", "ON_DEMAND")
    assert missing.per_hour is None and missing.unknown == (
        "no on-demand price for n1-highcpu-4 in us-central1",)
    assert estimate([Pool("chief", "n1-standard-8", 1)], "mars-north1").unknown == (
        "region mars-north1 is not in the price table",)
    flex = estimate([Pool("chief", "a3-highgpu-1g", 1, "NVIDIA_H100_80GB", 1)], "europe-west4",
                    "FLEX_START")
    assert flex.per_hour is None and max_cost(flex, 4 * 3600) is None
    assert "no flex-start price for a3-highgpu-1g in europe-west4" in flex.unknown
    # Vertex runs a3-highgpu-1g under Spot or flex-start only: no on-demand rate is kept for it
    on_demand = estimate([Pool("chief", "a3-highgpu-1g", 1)], "us-central1")
    assert on_demand.unknown == ("no on-demand price for a3-highgpu-1g in us-central1",)
    # a disk priced nowhere but us-central1: the machines still count, the total does not
    eu = estimate([Pool("chief", "n1-standard-8", 1)], "europe-west4")
    assert eu.compute_per_hour == pytest.approx(0.41834) and eu.per_hour is None
    assert eu.unknown == ("no on-demand price for pd-ssd in europe-west4",)


def test_compare_regions_cheapest_first() -> None:
    pools = [Pool("chief", "n1-standard-8", 1)]
    # equal rates (us-central1, us-east1) fall back on the region's name
    assert [e.region for e in compare_regions(pools, "ON_DEMAND")] == [
        "us-central1", "us-east1", "europe-west1", "europe-west4", "asia-east1",
        "asia-southeast1"]
    assert [e.region for e in compare_regions(pools, "SPOT")] == [
        "asia-east1", "asia-southeast1", "us-central1", "us-east1", "europe-west1",
        "europe-west4"]
    # the A100 and its machine are priced together in four regions only
    a100 = [Pool("chief", "a2-highgpu-1g", 1, "NVIDIA_TESLA_A100", 1)]
    found = compare_regions(a100, "ON_DEMAND")
    assert [e.region for e in found] == ["europe-west4", "asia-southeast1", "us-central1",
                                         "us-east1"]
    assert found[0].compute_per_hour == pytest.approx(0.81406 + 1.61365)


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user cache of the test's own: no user copy unless the test writes one. Output is a
    pipe with no COLUMNS, so tables are not cut to a width (a COLUMNS another test of the
    same worker left behind cut them once)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("COLUMNS", raising=False)
    return tmp_path


@pytest.fixture
def billing(monkeypatch: pytest.MonkeyPatch, home: Path) -> Iterator[BillingStandin]:
    standin = BillingStandin([
        sku("A1", "Vertex AI: Training on n1-standard-8 running in Americas",
            ["us-central1"], 0.43699768),
        sku("A2", "Vertex AI: Training on n1-standard-8 Spot running in Americas",
            ["us-central1"], 0.11, usage="Preemptible"),
        sku("A3", "Vertex AI: Training Nvidia Tesla T4 GPU running in EMEA",
            ["europe-west4", "europe-west1"], 0.4025, free_tier=True),
        sku("A4", "Vertex AI: Training SSD backed PD Capacity", ["us-central1"], 0.187,
            unit="GiBy.mo", family="Storage"),
        sku("A5", "Vertex AI: Online prediction on n1-standard-8", ["us-central1"], 0.5),
        sku("A6", "Vertex AI: Training on n1-standard-8 1 Year Commitment", ["us-central1"],
            0.3, usage="Commit1Yr"),
        sku("A7", "Vertex AI: Training N1 Predefined Instance Core running in Asia Pacific",
            ["asia-east1"], 0.0379),
        sku("A8", "Vertex AI: Training N1 Predefined Instance Ram running in Asia Pacific",
            ["asia-east1"], 0.0051, unit="GiBy.h"),
    ])
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING", standin.url)
    yield standin
    standin.close()


def test_refresh_reads_every_page_and_the_estimator_prefers_the_copy(cli, billing) -> None:
    out = cli("prices", "--refresh", "--json")
    assert out.code == 0, out.err
    report = json.loads(out.out)
    n1_shapes = [m for m in SHAPES if m.startswith("n1-")]
    assert report["skus"] == 8 and report["skipped"] == 2
    assert report["rates"] == 5 + len(n1_shapes)
    path = user_copy_path()
    assert report["copy"] == str(path) and path.is_file()
    # 3 services at 2 a page, 8 SKUs at 2 a page: every page was asked for
    assert sum(r.startswith("/v1/services?") for r in billing.requests) == 2
    assert sum("/skus?" in r for r in billing.requests) == 4
    tab = table()
    assert tab.copy == str(path)
    est = estimate([Pool("chief", "n1-standard-8", 1)], "us-central1")
    assert est.per_hour == pytest.approx(0.43699768 + 100 * 0.187 / HOURS_PER_MONTH)
    assert est.sources == ("catalog",) and not est.lower_bound
    t4 = estimate([Pool("chief", "n1-standard-8", 1, "NVIDIA_TESLA_T4", 2)], "europe-west1")
    assert t4.pools[0].lines[1].per_hour == pytest.approx(2 * 0.4025)
    # a family's core and RAM rates price each of its machines: vCPUs x core + GiB x RAM
    highmem = estimate([Pool("chief", "n1-highmem-8", 1)], "asia-east1")
    assert highmem.compute_per_hour == pytest.approx(8 * 0.0379 + 52 * 0.0051)
    listed = cli("prices", "--machine", "n1-standard-8", "--region", "us-central1")
    assert f"price table: {path}" in listed.out and "$0.4370" in listed.out


def test_refresh_refused_by_the_service_exits_4_without_a_traceback(cli, billing) -> None:
    billing.fail = ApiError(403, "Cloud Billing API has not been used in project 1 before or "
                            "it is disabled.", "PERMISSION_DENIED")
    out = cli("prices", "--refresh")
    assert out.code == EXIT_CLOUD
    assert "Traceback" not in out.err
    assert "cannot read the Cloud Billing Catalog" in out.err
    assert "enable the Cloud Billing API" in out.err
    assert not user_copy_path().exists()


def test_prices_lists_the_table_with_sources(cli, home) -> None:
    out = cli("prices", "--region", "asia-east1", "--machine", "n1-*")
    assert out.code == 0, out.err
    assert "price table: shipped" in out.out
    assert "n1-standard-8" in out.out and "$0.4400" in out.out and "$0.0845" in out.out
    assert "us-central1" not in out.out.split("\ngce-catalog:")[0]
    assert SOURCES["gce-catalog"].url in out.out


def test_prices_shows_flex_start_rates(cli, home) -> None:
    out = cli("prices", "--machine", "NVIDIA_H100_80GB")
    assert out.code == 0, out.err
    header, row = out.out.splitlines()[1:3]
    assert header.split() == ["kind", "name", "region", "on-demand", "spot", "flex-start", "per",
                              "source"]
    assert row.split() == ["accelerator", "NVIDIA_H100_80GB", "us-central1", "$11.2660",
                           "unknown", "$5.6702", "hour", "vertex-skus-a3"]
    assert SOURCES["vertex-skus-a3"].url in out.out


def test_compare_regions_of_a_spec(cli, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line a region, however the tests are run
    (home / "trainer").mkdir()
    (home / "trainer" / "__init__.py").write_text("")
    (home / "trainer" / "task.py").write_text("print('hi')\n")
    spec = home / "job.yaml"
    spec.write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "targets:\n  cloud:\n    bucket: my-bucket\n    project: proj\n    region: us-central1\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest\n"
        "    allow_unavailable_image: true\n    scale_tier: CUSTOM\n"
        "    chief: {machine_type: n1-standard-8}\n"
        "    workers: {machine_type: n1-standard-8, count: 2}\n")
    out = cli("prices", "--compare-regions", str(spec), "--target", "cloud", "--strategy",
              "spot", "--json")
    assert out.code == 0, out.err
    found = json.loads(out.out)
    assert [r["region"] for r in found["regions"]] == [
        "asia-east1", "asia-southeast1", "us-central1", "us-east1", "europe-west1",
        "europe-west4"]
    assert found["regions"][0]["compute_per_hour"] == pytest.approx(3 * 0.08447)
    text = cli("prices", "--compare-regions", str(spec), "--target", "cloud")
    assert text.code == 0, text.err
    rows = [line.split()[0:2] for line in text.out.splitlines()[2:]]
    assert rows[:2] == [["us-central1", "(target)"], ["us-east1", "$1.1400"]]


def test_describe_shows_pools_job_maximum_and_sources() -> None:
    est = estimate([Pool("chief", "a2-highgpu-1g", 1, "NVIDIA_TESLA_A100", 1)], "us-central1",
                   "SPOT")
    assert describe(est, 4 * 3600) == [
        "price       spot in us-central1 (shipped table, figures read 2026-11-27), USD per hour",
        "  chief      1 x a2-highgpu-1g                  $0.2958",
        "             1 x NVIDIA_TESLA_A100              $1.1472",
        "             1 x 100 GiB pd-ssd                 $0.0233",
        "  job                                           $1.4662, at least: Compute Engine "
        "rates, Vertex bills more",
        "  at most $5.8650 if it runs until its timeout (4 h)",
        f"  source gce-catalog: {SOURCES['gce-catalog'].url} (read 2026-11-27)",
        f"  source gce-disks: {SOURCES['gce-disks'].url} (read 2026-11-27)",
    ]
    data = to_json(est, 4 * 3600)
    assert data["max_cost"] == pytest.approx(4 * 1.4662476712)
    assert data["pools"][0]["lines"][1] == {"what": "1 x NVIDIA_TESLA_A100",
                                            "per_hour": 1.1472, "source": "gce-catalog",
                                            "unknown": None}


def test_a_group_costs_the_sum_of_its_members() -> None:
    est = estimate([Pool("chief", "n1-standard-8", 1)], "us-central1")
    one = cost_after(est, "2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z")
    two = cost_after(est, "2026-11-27T10:00:00Z", "2026-11-27T12:00:00Z")
    total = group_total([one, two])
    assert total.seconds == 3 * 3600 and total.usd == pytest.approx(3 * (0.38 + SSD_100))
    unknown = cost_after(estimate([Pool("chief", "x9-mega-1", 1)], "us-central1"),
                         "2026-11-27T10:00:00Z", "2026-11-27T11:00:00Z")
    assert group_total([one, unknown]).usd is None


def test_an_unreadable_user_copy_is_reported_and_the_shipped_table_used(cli, home) -> None:
    path = user_copy_path()
    path.parent.mkdir(parents=True)
    path.write_text('{"version": 1, "source": {"url": "u", "read": "r", "basis": "vertex"}, '
                    '"rates": [["machine", "n1-standard-8", "us-central1", "ON_DEMAND", -1]]}')
    tab = table()
    assert tab.copy == "shipped" and str(path) in tab.note
    assert tab.rate("machine", "n1-standard-8", "us-central1", "ON_DEMAND").usd == 0.38
    out = cli("prices", "--machine", "n1-standard-8")
    assert out.code == 0 and "is unreadable" in out.err and "--refresh" in out.err


def test_a_catalog_without_vertex_ai_exits_4(cli, billing) -> None:
    billing.services = billing.services[:2]
    out = cli("prices", "--refresh")
    assert out.code == EXIT_CLOUD and "lists no service named 'Vertex AI'" in out.err
    assert "Traceback" not in out.err


def test_refresh_without_credentials_exits_4(cli, home, monkeypatch) -> None:
    monkeypatch.delenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING", raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(home / "missing.json"))
    out = cli("prices", "--refresh")
    assert out.code == EXIT_CLOUD and "Traceback" not in out.err
    assert f"cannot use GOOGLE_APPLICATION_CREDENTIALS={home / 'missing.json'}" in out.err


def test_a_request_body_is_priced_with_its_pools_strategy_and_timeout() -> None:
    body = {"jobSpec": {"workerPoolSpecs": [
        {"machineSpec": {"machineType": "a2-highgpu-1g", "acceleratorType": "NVIDIA_TESLA_A100",
                         "acceleratorCount": 1}, "replicaCount": "1",
         "diskSpec": {"bootDiskType": "pd-standard", "bootDiskSizeGb": 200}},
        {},
        {"machineSpec": {"machineType": "n1-highmem-8"}, "replicaCount": "2"}],
        "scheduling": {"strategy": "SPOT", "timeout": "14400s"}}}
    est = for_body(body, "us-central1")
    assert [p.role for p in est.pools] == ["chief", "ps"]
    chief = 0.29576 + 1.1472 + 200 * 0.04 / HOURS_PER_MONTH
    ps = 2 * (0.11922 + SSD_100)
    assert est.strategy == "SPOT" and est.per_hour == pytest.approx(chief + ps)
    assert timeout_of(body) == 14400
    assert max_cost(est, timeout_of(body) or 0) == pytest.approx(4 * (chief + ps))
    assert timeout_of({"jobSpec": {}}) is None


def test_a_catalog_with_no_readable_sku_leaves_the_copy_alone(cli, billing) -> None:
    billing.skus = [sku("B1", "Vertex AI: Online prediction on n1-standard-8",
                        ["us-central1"], 0.5)]
    out = cli("prices", "--refresh")
    assert out.code == EXIT_CLOUD and "has no SKU jobspec can read" in out.err
    assert "the user copy is unchanged" in out.err and not user_copy_path().exists()


def test_flex_start_h100_is_priced_from_the_dws_and_management_fee_skus() -> None:
    """a3-highgpu-1g + 1 H100 under flex-start in us-central1, from the SKUs of the Google Cloud
    Japan article (prices_data vertex-skus-a3): the Compute Engine "DWS Defined Duration" SKU
    plus Vertex AI's management fee, for 26 vCPUs, 234 GiB, 750 GiB of local SSD and the GPU."""
    est = estimate([Pool("chief", "a3-highgpu-1g", 1, "NVIDIA_H100_80GB", 1)], "us-central1",
                   "FLEX_START")
    machine = 26 * (0.010934 + 0.0038247) + 234 * (0.000952 + 0.0003331) + 750 * 0.0001096
    gpu = 4.200761 + 1.4694826
    assert [ln.per_hour for ln in est.pools[0].lines] == pytest.approx([machine, gpu, SSD_100])
    # the article's own total for this machine and GPU: $6.436875 per hour
    assert machine + gpu == pytest.approx(6.436875, abs=1e-4)
    assert est.per_hour == pytest.approx(machine + gpu + SSD_100)
    assert max_cost(est, 4 * 3600) == pytest.approx(4 * (machine + gpu + SSD_100))
    assert est.sources == ("vertex-skus-a3", "gce-disks") and est.lower_bound
    # on demand, the H100's own Vertex AI Training rate in Iowa; a3-highgpu-8g is offered
    eight = estimate([Pool("chief", "a3-highgpu-8g", 1, "NVIDIA_H100_80GB", 8)], "us-central1")
    assert eight.compute_per_hour == pytest.approx(
        208 * 0.0293227 + 1872 * 0.0025534 + 8 * 11.2660332)
