"""The CustomJob options (jobspec/joboptions.py): each one, alone and together, makes a request
body the strict discovery checker accepts, with the exact aiplatform v1 field; bad values are
refused at their line; the enum lists jobspec carries equal the shipped discovery document's;
`status` shows what the stand-in reports back (web access URIs, schedule)."""

# ruff: noqa: E501 - the pinned messages are the long lines users see; wrapping would hide them

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from jobspec import aiplatform_enums
from tests.standins._schema import Validator, check_custom_job, discovery

IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
PARENT = "projects/proj/locations/us-central1"
FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}


def _spec(tmp_path: Path, cloud: str, *, body: str = "print('hi')\n") -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "trainer").mkdir(exist_ok=True)
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text(body)
    path = tmp_path / "spec.yaml"
    path.write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "targets:\n  cloud:\n    bucket: my-bucket\n    project: proj\n"
        f"    executor_image: {IMAGE}\n    allow_unavailable_image: true\n" + cloud)
    return path


def _plan(cli, tmp_path: Path, cloud: str) -> dict[str, Any]:
    out = cli("plan", str(_spec(tmp_path, cloud)), "--target", "cloud", "--json")
    assert out.code == 0, out.err
    plan: dict[str, Any] = json.loads(out.out)
    return plan


def _accepted(body: dict[str, Any], *, semantic: bool = True) -> dict[str, Any]:
    """BODY as the strict checker reads it (unknown fields, wrong types, bad enum values and
    durations are 400s), plus Vertex's semantic checks of customJobs.create."""
    job = Validator("aiplatform.v1").message(body, "GoogleCloudAiplatformV1CustomJob",
                                             "custom_job")
    if semantic:
        check_custom_job(job)
    return job


def _enum(schema: str, prop: str) -> list[tuple[str, bool, str]]:
    """(value, deprecated, description) of an enum of the shipped aiplatform v1 document."""
    field = discovery("aiplatform.v1")["schemas"][schema]["properties"][prop]
    deprecated = field.get("enumDeprecated") or [False] * len(field["enum"])
    return [(v, d, text) for v, d, text in zip(field["enum"], deprecated,
                                                field["enumDescriptions"], strict=True)
            if not v.endswith("UNSPECIFIED")]


def _ids(value: object) -> str:
    return value if isinstance(value, str) and value.isupper() else ""


# -- the enum data jobspec carries -------------------------------------------------------------
@pytest.mark.parametrize(("table", "schema", "prop"), [
    ("ACCELERATOR_TYPES", "GoogleCloudAiplatformV1MachineSpec", "acceleratorType"),
    ("SCHEDULING_STRATEGIES", "GoogleCloudAiplatformV1Scheduling", "strategy"),
    ("RESERVATION_AFFINITY_TYPES", "GoogleCloudAiplatformV1ReservationAffinity",
     "reservationAffinityType"),
])
def test_enum_data_equals_the_shipped_discovery_document(table: str, schema: str,
                                                         prop: str) -> None:
    carried = getattr(aiplatform_enums, table)
    shipped = {value: (deprecated, text) for value, deprecated, text in _enum(schema, prop)}
    assert carried == shipped, (
        f"aiplatform_enums.{table} (revision {aiplatform_enums.REVISION}) differs from the "
        f"shipped aiplatform.v1.json (revision {discovery('aiplatform.v1')['revision']})")


def test_boot_disk_types_are_the_ones_the_document_names() -> None:
    text = discovery("aiplatform.v1")["schemas"]["GoogleCloudAiplatformV1DiskSpec"][
        "properties"]["bootDiskType"]["description"]
    assert re.findall(r'"([a-z-]+)" \(|or "([a-z-]+)"', text)
    named = {a or b for a, b in re.findall(r'"([a-z-]+)" \(|or "([a-z-]+)"', text)}
    assert named == set(aiplatform_enums.BOOT_DISK_TYPES)


# -- every enum value, read from the document at test time ---------------------------------------
_GPU_MACHINES = {"NVIDIA_TESLA_A100": "a2-highgpu-1g", "NVIDIA_A100_80GB": "a2-ultragpu-1g",
                 "NVIDIA_L4": "g2-standard-8", "NVIDIA_H100_80GB": "a3-highgpu-8g",
                 "NVIDIA_H100_MEGA_80GB": "a3-megagpu-8g", "NVIDIA_H200_141GB": "a3-ultragpu-8g"}


@pytest.mark.parametrize(("accel", "deprecated", "text"),
                         _enum("GoogleCloudAiplatformV1MachineSpec", "acceleratorType"),
                         ids=_ids)
def test_every_accelerator_type_of_the_document(cli, tmp_path: Path, accel: str,
                                                deprecated: bool, text: str) -> None:
    tpu = accel.startswith("TPU_")
    machine = "cloud-tpu" if tpu else _GPU_MACHINES.get(accel, "n1-standard-8")
    topology = "\n      tpu_topology: 2x2" if tpu else ""
    spec = _spec(tmp_path, f"    scale_tier: CUSTOM\n    chief:\n      machine_type: {machine}\n"
                 f"      accelerator: {{type: {accel}, count: 4}}{topology}\n")
    out = cli("plan", str(spec), "--target", "cloud", "--json")
    if deprecated:  # the document says the service no longer takes it
        assert out.code == 2
        assert f"spec.yaml:13:27: targets.cloud.chief.accelerator.type: accelerator type {accel} is deprecated in the aiplatform v1 API ({text!r})" in out.err
        return
    assert out.code == 0, out.err
    body = json.loads(out.out)["request"]
    # the stand-in's machine table knows n1/a2/a3/g2 hosts only: TPU hosts and newer GPU
    # families get the discovery checks (enum, types, unknown fields), not the pairing check
    job = _accepted(body, semantic=not tpu and machine.split("-")[0] in ("n1", "a2", "a3", "g2"))
    spec_ = job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert spec_ == {"machineType": machine, "acceleratorType": accel, "acceleratorCount": 4,
                     **({"tpuTopology": "2x2"} if tpu else {})}


@pytest.mark.parametrize(("value", "deprecated", "text"),
                         _enum("GoogleCloudAiplatformV1Scheduling", "strategy"),
                         ids=_ids)
def test_every_scheduling_strategy_of_the_document(cli, tmp_path: Path, value: str,
                                                   deprecated: bool, text: str) -> None:
    spec = _spec(tmp_path, f"    scheduling: {{strategy: {value}}}\n")
    out = cli("plan", str(spec), "--target", "cloud", "--json")
    if value == "LOW_COST":  # deprecated, and not the seed's word: refused with what to use
        assert out.code == 2
        assert f"targets.cloud.scheduling.strategy: strategy LOW_COST is deprecated in the aiplatform v1 API ({text!r}): use SPOT" in out.err
        return
    assert out.code == 0, out.err
    job = _accepted(json.loads(out.out)["request"])
    # ON_DEMAND, the spec's word, is sent as STANDARD: the document's current on-demand value
    sent = job["jobSpec"].get("scheduling", {}).get("strategy")
    assert sent == ("STANDARD" if value == "STANDARD" else None if value == "ON_DEMAND"
                    else value)
    assert deprecated == (value == "ON_DEMAND")


@pytest.mark.parametrize(("value", "deprecated", "text"),
                         _enum("GoogleCloudAiplatformV1ReservationAffinity",
                               "reservationAffinityType"),
                         ids=_ids)
def test_every_reservation_affinity_of_the_document(cli, tmp_path: Path, value: str,
                                                    deprecated: bool, text: str) -> None:
    name = ", name: projects/proj/zones/us-central1-a/reservations/r1" if (
        value == "SPECIFIC_RESERVATION") else ""
    job = _accepted(_plan(cli, tmp_path, f"    reservation: {{affinity: {value}{name}}}\n")[
        "request"])
    affinity = job["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]["reservationAffinity"]
    assert affinity["reservationAffinityType"] == value
    if name:
        assert affinity["key"] == "compute.googleapis.com/reservation-name"
        assert affinity["values"] == ["projects/proj/zones/us-central1-a/reservations/r1"]


# -- each option alone ---------------------------------------------------------------------------
_CUSTOM = "    scale_tier: CUSTOM\n    chief:\n      machine_type: n1-standard-8\n"
_ALONE = [
    ("spot", "    scheduling: {strategy: SPOT}\n", ("jobSpec", "scheduling"), {"strategy": "SPOT"}),
    ("flex-start-max-wait", "    scheduling: {strategy: FLEX_START, max_wait: 2h}\n",
     ("jobSpec", "scheduling"), {"strategy": "FLEX_START", "maxWaitDuration": "7200s"}),
    ("flex-start-wait-forever", "    scheduling: {strategy: FLEX_START, max_wait: 0}\n",
     ("jobSpec", "scheduling"), {"strategy": "FLEX_START", "maxWaitDuration": "0s"}),
    ("timeout", "    scheduling: {timeout: 4h}\n", ("jobSpec", "scheduling"),
     {"timeout": "14400s"}),
    ("legacy-max-running-time", "    max_running_time: 90m\n", ("jobSpec", "scheduling"),
     {"timeout": "5400s"}),
    ("restart-job", "    scheduling: {restart_job_on_worker_restart: true}\n",
     ("jobSpec", "scheduling"), {"restartJobOnWorkerRestart": True}),
    ("disable-retries", "    scheduling: {disable_retries: true}\n", ("jobSpec", "scheduling"),
     {"disableRetries": True}),
    ("boot-disk", "    boot_disk: {type: hyperdisk-balanced, size_gb: 500}\n",
     ("jobSpec", "workerPoolSpecs", 0, "diskSpec"),
     {"bootDiskType": "hyperdisk-balanced", "bootDiskSizeGb": 500}),
    ("pool-boot-disk-over-target", "    boot_disk: {type: pd-standard, size_gb: 200}\n"
     + _CUSTOM + "      boot_disk: {size_gb: 1000}\n",
     ("jobSpec", "workerPoolSpecs", 0, "diskSpec"),
     {"bootDiskType": "pd-standard", "bootDiskSizeGb": 1000}),
    ("reservation-any", "    reservation: {affinity: ANY_RESERVATION}\n",
     ("jobSpec", "workerPoolSpecs", 0, "machineSpec", "reservationAffinity"),
     {"reservationAffinityType": "ANY_RESERVATION"}),
    ("reservation-by-label", _CUSTOM + "      reservation: {key: team, values: [ml, research]}\n",
     ("jobSpec", "workerPoolSpecs", 0, "machineSpec", "reservationAffinity"),
     {"reservationAffinityType": "SPECIFIC_RESERVATION", "key": "team",
      "values": ["ml", "research"]}),
    ("persistent-resource", "    persistent_resource_id: my-cluster-1\n",
     ("jobSpec", "persistentResourceId"), "my-cluster-1"),
    ("service-account", "    service_account: trainer@proj.iam.gserviceaccount.com\n",
     ("jobSpec", "serviceAccount"), "trainer@proj.iam.gserviceaccount.com"),
    ("network-and-ranges", "    network: projects/123/global/networks/vpc\n"
     "    reserved_ip_ranges: [vertex-range, spare-range]\n",
     ("jobSpec", "reservedIpRanges"), ["vertex-range", "spare-range"]),
    ("psc-interface", "    psc_interface:\n      network_attachment: projects/proj/regions/"
     "us-central1/networkAttachments/att\n      dns_peering:\n        - {domain: corp.example., "
     "target_project: host-project, target_network: shared-vpc}\n",
     ("jobSpec", "pscInterfaceConfig"),
     {"networkAttachment": "projects/proj/regions/us-central1/networkAttachments/att",
      "dnsPeeringConfigs": [{"domain": "corp.example.", "targetProject": "host-project",
                             "targetNetwork": "shared-vpc"}]}),
    ("tensorboard-id", "    tensorboard: '4567'\n", ("jobSpec", "tensorboard"),
     f"{PARENT}/tensorboards/4567"),
    ("tensorboard-name", "    tensorboard: projects/other/locations/us-east1/tensorboards/9\n",
     ("jobSpec", "tensorboard"), "projects/other/locations/us-east1/tensorboards/9"),
    ("experiment", "    experiment: churn-model\n", ("jobSpec", "experiment"),
     f"{PARENT}/metadataStores/default/contexts/churn-model"),
    ("experiment-run", "    experiment: churn-model\n    experiment_run: run-7\n",
     ("jobSpec", "experimentRun"), f"{PARENT}/metadataStores/default/contexts/churn-model-run-7"),
    ("web-access", "    enable_web_access: true\n", ("jobSpec", "enableWebAccess"), True),
    ("dashboard-access", "    enable_dashboard_access: true\n",
     ("jobSpec", "enableDashboardAccess"), True),
    ("cmek", "    kms_key: projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key\n",
     ("encryptionSpec",),
     {"kmsKeyName": "projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key"}),
    ("labels", "    labels: {team: ml, cost-center: r-and-d}\n", ("labels", "cost-center"),
     "r-and-d"),
]


@pytest.mark.parametrize(("snippet", "path", "expected"), [c[1:] for c in _ALONE],
                         ids=[c[0] for c in _ALONE])
def test_each_option_alone_maps_onto_its_field(cli, tmp_path: Path, snippet: str,
                                               path: tuple[Any, ...], expected: Any) -> None:
    job = _accepted(_plan(cli, tmp_path, snippet)["request"])
    value: Any = job
    for part in path:
        value = value[part]
    assert value == expected


def test_every_option_together(cli, tmp_path: Path) -> None:
    cloud = (
        "    scheduling: {strategy: FLEX_START, max_wait: 30m, timeout: 4h,\n"
        "                 restart_job_on_worker_restart: true, disable_retries: true}\n"
        "    boot_disk: {type: pd-ssd, size_gb: 200}\n"
        "    reservation: {affinity: NO_RESERVATION}\n"
        "    scale_tier: CUSTOM\n"
        "    chief:\n      machine_type: a3-highgpu-8g\n"
        "      accelerator: {type: NVIDIA_H100_80GB, count: 8}\n"
        "      boot_disk: {type: hyperdisk-balanced}\n"
        "    workers:\n      machine_type: a3-highgpu-8g\n      count: 3\n"
        "      accelerator: {type: NVIDIA_H100_80GB, count: 8}\n"
        "      reservation: {name: projects/proj/zones/us-central1-a/reservations/h100}\n"
        "    persistent_resource_id: h100-pool\n"
        "    service_account: trainer@proj.iam.gserviceaccount.com\n"
        "    network: projects/123/global/networks/vpc\n"
        "    reserved_ip_ranges: [vertex-range]\n"
        "    psc_interface: {network_attachment: att}\n"
        "    tensorboard: '42'\n    experiment: llm\n    experiment_run: sweep-3\n"
        "    enable_web_access: true\n    enable_dashboard_access: true\n"
        "    kms_key: projects/proj/locations/us-central1/keyRings/r/cryptoKeys/k\n"
        "    labels: {team: ml}\n")
    plan = _plan(cli, tmp_path, cloud)
    job = _accepted(plan["request"])
    spec = job["jobSpec"]
    chief, workers = spec["workerPoolSpecs"]
    assert chief["machineSpec"] == {
        "machineType": "a3-highgpu-8g", "acceleratorType": "NVIDIA_H100_80GB",
        "acceleratorCount": 8, "reservationAffinity": {"reservationAffinityType": "NO_RESERVATION"}}
    assert chief["diskSpec"] == {"bootDiskType": "hyperdisk-balanced", "bootDiskSizeGb": 200}
    assert workers["machineSpec"]["reservationAffinity"] == {
        "reservationAffinityType": "SPECIFIC_RESERVATION",
        "key": "compute.googleapis.com/reservation-name",
        "values": ["projects/proj/zones/us-central1-a/reservations/h100"]}
    assert workers["diskSpec"] == {"bootDiskType": "pd-ssd", "bootDiskSizeGb": 200}
    assert {k: v for k, v in spec.items() if k not in ("workerPoolSpecs",
                                                       "baseOutputDirectory")} == {
        "scheduling": {"strategy": "FLEX_START", "maxWaitDuration": "1800s",
                       "timeout": "14400s", "restartJobOnWorkerRestart": True,
                       "disableRetries": True},
        "persistentResourceId": "h100-pool",
        "serviceAccount": "trainer@proj.iam.gserviceaccount.com",
        "network": "projects/123/global/networks/vpc",
        "reservedIpRanges": ["vertex-range"],
        "pscInterfaceConfig": {"networkAttachment": "att"},
        "tensorboard": f"{PARENT}/tensorboards/42",
        "experiment": f"{PARENT}/metadataStores/default/contexts/llm",
        "experimentRun": f"{PARENT}/metadataStores/default/contexts/llm-sweep-3",
        "enableWebAccess": True, "enableDashboardAccess": True}
    assert job["encryptionSpec"] == {
        "kmsKeyName": "projects/proj/locations/us-central1/keyRings/r/cryptoKeys/k"}
    # the equivalent gcloud line carries the flags gcloud 528 has for these options
    gcloud = plan["gcloud"]
    assert gcloud[-4:] == ["--enable-web-access", "--enable-dashboard-access",
                           "--persistent-resource-id=h100-pool",
                           "--kms-key=projects/proj/locations/us-central1/keyRings/r/cryptoKeys/k"]


def test_no_options_leaves_the_body_as_before(cli, tmp_path: Path) -> None:
    job = _plan(cli, tmp_path, "")["request"]["jobSpec"]
    assert set(job) == {"workerPoolSpecs", "baseOutputDirectory"}
    assert set(job["workerPoolSpecs"][0]) == {"machineSpec", "replicaCount", "pythonPackageSpec"}


# -- bad values, at their line -------------------------------------------------------------------
_BAD = [
    ("unknown-accelerator", _CUSTOM + "      accelerator: {type: NVIDIA_TESLA_T5}\n",
     "spec.yaml:13:27: targets.cloud.chief.accelerator.type: NVIDIA_TESLA_T5 is not an accelerator type of the aiplatform v1 API (did you mean 'NVIDIA_TESLA_T4'?); expected one of NVIDIA_TESLA_P100, NVIDIA_TESLA_V100, NVIDIA_TESLA_P4, NVIDIA_TESLA_T4, NVIDIA_TESLA_A100, NVIDIA_A100_80GB, NVIDIA_L4, NVIDIA_H100_80GB, NVIDIA_H100_MEGA_80GB, NVIDIA_H200_141GB, NVIDIA_B200, NVIDIA_GB200, NVIDIA_RTX_PRO_6000, TPU_V2, TPU_V3, TPU_V4_POD, TPU_V5_LITEPOD"),
    ("topology-on-a-gpu", _CUSTOM + "      accelerator: {type: NVIDIA_TESLA_T4}\n      tpu_topology: 2x2\n",
     "spec.yaml:14:21: targets.cloud.chief.tpu_topology: tpu_topology applies to TPU pools: set accelerator.type to one of TPU_V2, TPU_V3, TPU_V4_POD, TPU_V5_LITEPOD (this pool has NVIDIA_TESLA_T4)"),
    ("bad-topology", _CUSTOM + "      accelerator: {type: TPU_V5_LITEPOD, count: 4}\n      tpu_topology: 2by2\n",
     "spec.yaml:14:21: targets.cloud.chief.tpu_topology: expected a TPU topology like \"2x2\" or \"2x2x1\", got '2by2'"),
    ("strategy-typo", "    scheduling: {strategy: SPOTT}\n",
     "spec.yaml:10:28: targets.cloud.scheduling.strategy: expected one of ON_DEMAND, STANDARD, SPOT, FLEX_START, got 'SPOTT' (did you mean 'SPOT'?)"),
    ("max-wait-without-flex-start", "    scheduling: {strategy: SPOT, max_wait: 1h}\n",
     "spec.yaml:10:44: targets.cloud.scheduling.max_wait: max_wait is how long a FLEX_START job waits for its machines: set strategy: FLEX_START, or drop max_wait (strategy is SPOT)"),
    ("timeout-zero", "    scheduling: {timeout: 0}\n",
     'spec.yaml:10:27: targets.cloud.scheduling.timeout: expected a number of seconds (at least 1) or a duration like "90m", "2h", got 0'),
    ("timeout-and-legacy", "    max_running_time: 2h\n    scheduling:\n      timeout: 3h\n",
     "spec.yaml:12:16: targets.cloud.scheduling.timeout: scheduling.timeout and max_running_time (its legacy name) are both set: keep scheduling.timeout"),
    ("disk-type", "    boot_disk: {type: pd-balanced}\n",
     "spec.yaml:10:23: targets.cloud.boot_disk.type: expected one of pd-ssd, pd-standard, hyperdisk-balanced, got the string 'pd-balanced' (did you mean 'hyperdisk-balanced'?)"),
    ("disk-size", "    boot_disk: {size_gb: 0}\n",
     "spec.yaml:10:26: targets.cloud.boot_disk.size_gb: expected a number >= 1, got the number 0"),
    ("reservation-any-with-name", "    reservation: {affinity: ANY_RESERVATION, name: r}\n",
     "spec.yaml:10:29: targets.cloud.reservation.affinity: ANY_RESERVATION consumes no particular reservation: drop name/key, or use SPECIFIC_RESERVATION"),
    ("ranges-without-network", "    reserved_ip_ranges: [r1]\n",
     "spec.yaml:10:25: targets.cloud.reserved_ip_ranges: reserved IP ranges are ranges of the job's VPC network: set network as well"),
    ("run-without-experiment", "    experiment_run: r1\n",
     "spec.yaml:10:21: targets.cloud.experiment_run: an experiment run belongs to an experiment: set experiment as well"),
    ("kms-key", "    kms_key: my-key\n",
     "spec.yaml:10:14: targets.cloud.kms_key: expected a Cloud KMS key like projects/P/locations/REGION/keyRings/RING/cryptoKeys/KEY, got 'my-key'"),
    ("persistent-resource", "    persistent_resource_id: My_PR\n",
     "spec.yaml:10:29: targets.cloud.persistent_resource_id: expected a persistent resource id: a lowercase letter, then up to 62 lowercase letters, digits or '-' (not ending in '-'), got 'My_PR'"),
    ("dns-domain", "    psc_interface:\n      network_attachment: att\n      dns_peering: [{domain: corp.example, target_project: host-project, target_network: vpc}]\n",
     "spec.yaml:12:30: targets.cloud.psc_interface.dns_peering[0].domain: expected a DNS name ending with a dot, like \"corp.example.\", got 'corp.example'"),
    ("web-access-not-a-bool", "    enable_web_access: yes please\n",
     "spec.yaml:10:24: targets.cloud.enable_web_access: expected true or false, got the string 'yes please'"),
]


@pytest.mark.parametrize(("snippet", "expected"), [c[1:] for c in _BAD], ids=[c[0] for c in _BAD])
def test_bad_option_values_are_refused_at_their_line(cli, tmp_path: Path, snippet: str,
                                                     expected: str) -> None:
    out = cli("validate", str(_spec(tmp_path, snippet)))
    assert out.code == 2
    assert out.err.splitlines()[0].endswith(expected), out.err


# -- what the service reports back ---------------------------------------------------------------
@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def test_status_shows_the_shell_uris_and_the_schedule(cli, cloud, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    enable_web_access: true\n"
                 "    scheduling: {strategy: SPOT, timeout: 2h, restart_job_on_worker_restart: "
                 "true}\n", body="print('trained')\n")
    out = cli("run", str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={cloud.bucket}",
              "--set", "targets.cloud.project=test")
    assert out.code == 0, out.err
    (job_id,) = cloud.vertex.jobs
    uri = cloud.vertex.job(job_id)["webAccessUris"]["workerpool0-0"]
    assert re.fullmatch(r"https://[0-9a-f]{16}-dot-us-central1\.aiplatform-training\."
                        r"googleusercontent\.com/", uri)
    status = cli("status", "probe", "--bucket", cloud.bucket)
    assert status.code == 0, status.err
    assert f"  shell    workerpool0-0  {uri}" in status.out.splitlines()
    assert ("  schedule SPOT, timeout 2h, whole job restarts when a worker restarts"
            in status.out.splitlines())
    assert re.search(r"^  waited   \d+ s for its machines \(created to running\)$", status.out,
                     re.MULTILINE)
    data = json.loads(cli("status", "probe", "--bucket", cloud.bucket, "--json").out)["job"]
    assert data["webAccessUris"] == {"workerpool0-0": uri}
    assert data["scheduling"] == {"strategy": "SPOT", "timeout": "7200s",
                                  "restartJobOnWorkerRestart": True}


def test_status_of_a_flex_start_job_waiting_for_machines(cli, cloud, tmp_path: Path) -> None:
    cloud.vertex.queued_delay = 30  # the service has not found the machines yet
    spec = _spec(tmp_path, "    scheduling: {strategy: FLEX_START, max_wait: 4h}\n")
    out = cli("run", str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={cloud.bucket}",
              "--set", "targets.cloud.project=test", "--detach")
    assert out.code == 0, out.err
    status = cli("status", "probe", "--bucket", cloud.bucket)
    assert status.out.splitlines()[0] == "probe: QUEUED"
    assert "  schedule FLEX_START, max wait 4h" in status.out.splitlines()
    assert ("  waiting  for its machines (flex-start queues until all are free)"
            in status.out.splitlines())
    assert cli("cancel", "probe", "--bucket", cloud.bucket).code == 0


def test_status_of_a_job_without_options_adds_no_option_lines(cli, cloud,
                                                              tmp_path: Path) -> None:
    spec = _spec(tmp_path, "")
    assert cli("run", str(spec), "--target", "cloud", "--set",
               f"targets.cloud.bucket={cloud.bucket}", "--set",
               "targets.cloud.project=test").code == 0
    status = cli("status", "probe", "--bucket", cloud.bucket)
    assert "shell" not in status.out and "schedule" not in status.out
    assert "webAccessUris" not in json.loads(
        cli("status", "probe", "--bucket", cloud.bucket, "--json").out)["job"]


# -- `jobspec import` --------------------------------------------------------------------------
def test_import_maps_the_gcloud_option_flags(cli, tmp_path: Path) -> None:
    _spec(tmp_path, "")
    out = cli("import", "-o", "imported.yaml", "--", "gcloud", "ai", "custom-jobs", "create",
              "--region=us-central1", "--project=proj", "--display-name=shell_job",
              f"--worker-pool-spec=machine-type=n1-standard-4,executor-image-uri={IMAGE},"
              "python-module=trainer.task,local-package-path=.",
              "--enable-web-access", "--enable-dashboard-access",
              "--persistent-resource-id=my-pool", "--kms-key=key", "--kms-keyring=ring",
              "--kms-location=us-central1", cwd=tmp_path)
    assert out.code == 0, out.err
    text = (tmp_path / "imported.yaml").read_text()
    for line in ("persistent_resource_id: my-pool", "enable_web_access: true",
                 "enable_dashboard_access: true",
                 "kms_key: projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key"):
        assert f"    {line}\n" in text
    plan = cli("plan", str(tmp_path / "imported.yaml"), "--target", "cloud", "--json",
               "--set", "targets.cloud.bucket=my-bucket", "--set",
               "targets.cloud.allow_unavailable_image=true")
    assert plan.code == 0, plan.err
    job = _accepted(json.loads(plan.out)["request"])
    assert (job["jobSpec"]["enableWebAccess"], job["jobSpec"]["enableDashboardAccess"],
            job["jobSpec"]["persistentResourceId"]) == (True, True, "my-pool")
    assert job["encryptionSpec"] == {
        "kmsKeyName": "projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key"}


def test_import_reports_a_kms_key_id_it_cannot_complete(cli, tmp_path: Path) -> None:
    _spec(tmp_path, "")
    out = cli("import", "-o", "imported.yaml", "--", "gcloud", "ai", "custom-jobs", "create",
              "--region=us-central1", "--display-name=k",
              f"--worker-pool-spec=machine-type=n1-standard-4,executor-image-uri={IMAGE},"
              "python-module=trainer.task,local-package-path=.", "--kms-key=key", cwd=tmp_path)
    assert out.code == 0, out.err
    assert ("--kms-key key is not supported: a key ID needs --kms-keyring and --kms-location "
            "and --kms-project (or --project) as well" in " ".join(out.err.split()))
    assert "kms_key" not in (tmp_path / "imported.yaml").read_text()


def test_import_maps_the_option_keys_of_a_config_file(cli, tmp_path: Path) -> None:
    _spec(tmp_path, "")
    (tmp_path / "job.yaml").write_text(f"""\
network: projects/123/global/networks/vpc
reservedIpRanges: [vertex-range]
persistentResourceId: my-pool
tensorboard: {PARENT}/tensorboards/7
experiment: {PARENT}/metadataStores/default/contexts/exp
experimentRun: {PARENT}/metadataStores/default/contexts/exp-run-1
enableWebAccess: true
enableDashboardAccess: false
scheduling: {{strategy: FLEX_START, maxWaitDuration: 3600s, timeout: 7200s,
             restartJobOnWorkerRestart: true, disableRetries: true}}
workerPoolSpecs:
  - machineSpec: {{machineType: n1-standard-4}}
    replicaCount: 1
    pythonPackageSpec: {{executorImageUri: {IMAGE}, pythonModule: trainer.task,
                        packageUris: [gs://my-bucket/staging/trainer-0.0.0.tar.gz]}}
""")
    out = cli("import", "-o", "imported.yaml", "--", "gcloud", "ai", "custom-jobs", "create",
              "--region=us-central1", "--project=proj", "--display-name=cfg", "--config=job.yaml",
              cwd=tmp_path)
    assert out.code == 0, out.err
    assert "not supported" not in out.err, out.err
    plan = cli("plan", str(tmp_path / "imported.yaml"), "--target", "cloud", "--json",
               "--set", "targets.cloud.allow_unavailable_image=true")
    assert plan.code == 0, plan.err
    job = _accepted(json.loads(plan.out)["request"])["jobSpec"]
    assert {k: v for k, v in job.items() if k not in ("workerPoolSpecs",
                                                      "baseOutputDirectory")} == {
        "network": "projects/123/global/networks/vpc", "reservedIpRanges": ["vertex-range"],
        "persistentResourceId": "my-pool", "tensorboard": f"{PARENT}/tensorboards/7",
        "experiment": f"{PARENT}/metadataStores/default/contexts/exp",
        "experimentRun": f"{PARENT}/metadataStores/default/contexts/exp-run-1",
        "enableWebAccess": True,
        "scheduling": {"strategy": "FLEX_START", "maxWaitDuration": "3600s", "timeout": "7200s",
                       "restartJobOnWorkerRestart": True, "disableRetries": True}}


def test_import_maps_ml_engine_web_access_and_cmek(cli, tmp_path: Path) -> None:
    _spec(tmp_path, "")
    key = "projects/proj/locations/us-central1/keyRings/ring/cryptoKeys/key"
    out = cli("import", "-o", "imported.yaml", "--", "gcloud", "ai-platform", "jobs", "submit",
              "training", "census", "--module-name", "trainer.task", "--package-path",
              "trainer", "--runtime-version", "2.15", "--region", "us-central1", "--job-dir",
              "gs://my-bucket/census", "--enable-web-access", f"--kms-key={key}", cwd=tmp_path)
    assert out.code == 0, out.err
    text = (tmp_path / "imported.yaml").read_text()
    assert "    enable_web_access: true\n" in text and f"    kms_key: {key}\n" in text
