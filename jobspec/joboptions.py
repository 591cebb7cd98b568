"""The CustomJob options a Vertex user reaches for: scheduling (Spot, flex-start, timeout,
restarts), per-pool boot disks, reservations and TPU topologies, and the job's persistent
resource, networking, TensorBoard, experiment, interactive shell and CMEK key.

The models check the spec's words; ``apply_options`` maps them onto the aiplatform v1 request
body, field for field (googleapiclient's aiplatform.v1.json, revision 20261106, read 2026-11-27;
enum values in aiplatform_enums.py). ``gcloud_flags`` gives the flags `gcloud ai custom-jobs
create` (gcloud 528) has for them. Imports stay light: this module is on `validate`'s path.
"""

from __future__ import annotations

import copy
import re
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from jobspec.aiplatform_enums import ACCELERATOR_TYPES, SCHEDULING_STRATEGIES
from jobspec.diagnostics import did_you_mean
from jobspec.spectypes import DURATION_RE, Accelerator, FieldError, Model, Pool, no_control

if TYPE_CHECKING:
    from jobspec.spec import CloudTarget

# the spec's strategy words -> Scheduling.strategy. ON_DEMAND is the seed's word; the document
# marks its ON_DEMAND deprecated and names regular on-demand provisioning STANDARD
STRATEGIES = {"ON_DEMAND": "STANDARD", "STANDARD": "STANDARD", "SPOT": "SPOT",
              "FLEX_START": "FLEX_START"}
TPU_TYPES = tuple(name for name in ACCELERATOR_TYPES if name.startswith("TPU_"))
RESERVATION_NAME_KEY = "compute.googleapis.com/reservation-name"  # ReservationAffinity.key doc

TPU_TOPOLOGY_RE = re.compile(r"[1-9][0-9]{0,3}(?:x[1-9][0-9]{0,3}){1,2}")
# PersistentResource ids: the document's persistentResources.create persistentResourceId rule
PERSISTENT_RESOURCE_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
# a Compute Engine resource name (an IP range, a network attachment, a network)
GCE_NAME_RE = re.compile(r"[a-z](?:[a-z0-9-]{0,61}[a-z0-9])?")
NETWORK_ATTACHMENT_RE = re.compile(
    r"(?:projects/[a-z0-9.:-]+/regions/[a-z]+-[a-z]+[0-9]+/networkAttachments/)?"
    + GCE_NAME_RE.pattern)
# one segment of a resource name: no '/', no whitespace or control characters
_SEG = r"[A-Za-z0-9._:-]+"
TENSORBOARD_RE = re.compile(rf"projects/{_SEG}/locations/{_SEG}/tensorboards/[0-9]+")
# a metadata Context id (experiment, experiment run): the document's contexts.create contextId
CONTEXT_ID_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,127}")
EXPERIMENT_RE = re.compile(
    rf"projects/{_SEG}/locations/{_SEG}/metadataStores/{_SEG}/contexts/[a-z0-9][a-z0-9-]*")
KMS_KEY_RE = re.compile(rf"projects/{_SEG}/locations/{_SEG}/keyRings/{_SEG}/cryptoKeys/{_SEG}")
DNS_DOMAIN_RE = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+")
PROJECT_ID_RE = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]")


def seconds(value: str | int) -> int:
    """A validated duration (seconds, or "90m", "2h", "1d") in seconds."""
    if isinstance(value, int):
        return value
    match = DURATION_RE.fullmatch(value)
    assert match is not None
    return int(match.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[match.group(2) or "s"]


def _duration(least: int) -> Any:
    def check(value: Any) -> Any:
        match = DURATION_RE.fullmatch(value) if isinstance(value, str) else None
        number = value if isinstance(value, int) and not isinstance(value, bool) else (
            seconds(value) if match else -1)
        if number < least:
            kinds: dict[type, str] = {list: "a list", dict: "a mapping", str: repr(value)}
            shown = kinds.get(type(value), str(value).lower())
            raise ValueError(f'expected a number of seconds (at least {least}) or a duration '
                             f'like "90m", "2h", got {shown}')
        return value
    return check


def _pattern(regex: re.Pattern[str], what: str) -> Any:
    def check(value: str) -> str:
        if not regex.fullmatch(value):
            raise ValueError(f"expected {what}, got {value!r}")
        return value
    return check


# before the str | int union, so a wrong value gets one message instead of one per type
Timeout = Annotated[str | int, BeforeValidator(_duration(1))]
Wait = Annotated[str | int, BeforeValidator(_duration(0))]
PersistentResourceId = Annotated[str, AfterValidator(_pattern(
    PERSISTENT_RESOURCE_RE, "a persistent resource id: a lowercase letter, then up to 62 "
    "lowercase letters, digits or '-' (not ending in '-')"))]
IpRangeName = Annotated[str, AfterValidator(_pattern(
    GCE_NAME_RE, "the name of a reserved IP range like vertex-ai-range"))]
Tensorboard = Annotated[str, AfterValidator(_pattern(
    re.compile(rf"{TENSORBOARD_RE.pattern}|[0-9]+"), "a TensorBoard like projects/P/locations/"
    "REGION/tensorboards/ID, or its numeric ID in the target's project and region"))]
ContextName = Annotated[str, AfterValidator(_pattern(
    re.compile(rf"{EXPERIMENT_RE.pattern}|{CONTEXT_ID_RE.pattern}"),
    "a name of lowercase letters, digits and '-' (at most 128), or a resource name like "
    "projects/P/locations/REGION/metadataStores/default/contexts/NAME"))]
KmsKey = Annotated[str, AfterValidator(_pattern(
    KMS_KEY_RE, "a Cloud KMS key like projects/P/locations/REGION/keyRings/RING/cryptoKeys/KEY"))]
_DnsDomain = Annotated[str, AfterValidator(_pattern(
    DNS_DOMAIN_RE, 'a DNS name ending with a dot, like "corp.example."'))]
_ProjectId = Annotated[str, AfterValidator(_pattern(PROJECT_ID_RE, "a project ID like my-project"))]
_NetworkName = Annotated[str, AfterValidator(_pattern(GCE_NAME_RE, "a VPC network name"))]
_Attachment = Annotated[str, AfterValidator(_pattern(
    NETWORK_ATTACHMENT_RE, "a network attachment name, or projects/P/regions/REGION/"
    "networkAttachments/NAME"))]


def _deprecated(table: dict[str, tuple[bool, str]], value: str, what: str,
                instead: str) -> None:
    deprecated, description = table[value]
    if deprecated:
        raise ValueError(f"{what} {value} is deprecated in the aiplatform v1 API "
                         f"({description!r}){instead}")


class Scheduling(Model):
    strategy: str = Field(
        default="ON_DEMAND",
        description="How Vertex AI gets the machines: ON_DEMAND (regular VMs, sent as STANDARD), "
        "SPOT (Spot VMs: cheaper, may be preempted) or FLEX_START (Dynamic Workload Scheduler: "
        "the job queues until all its machines are free, up to max_wait).",
        json_schema_extra={"enum": list(STRATEGIES)})
    max_wait: Wait | None = Field(
        default=None,
        description='FLEX_START only: how long to wait for the machines, in seconds or like "4h" '
        "(0: indefinitely; the service's default is 24 hours).")
    timeout: Timeout | None = Field(
        default=None, description='The longest the job may run: seconds, or "90m", "2h", "1d" '
        "(the service's default is 7 days). Replaces the legacy max_running_time.")
    restart_job_on_worker_restart: bool = Field(
        default=False, description="Restart the whole job when a worker restarts (for "
        "distributed training that cannot take workers leaving and joining).")
    disable_retries: bool = Field(
        default=False, description="Do not retry the job after an internal error once it runs "
        "(also turns restart_job_on_worker_restart off).")

    @field_validator("strategy")
    @classmethod
    def _strategy(cls, value: str) -> str:
        if value in STRATEGIES:
            return value
        if value in SCHEDULING_STRATEGIES:
            _deprecated(SCHEDULING_STRATEGIES, value, "strategy", ": use SPOT")
        raise ValueError(f"expected one of {', '.join(STRATEGIES)}, got {value!r}"
                         + did_you_mean(value, STRATEGIES))

    @model_validator(mode="after")
    def _wait_is_for_flex_start(self) -> Scheduling:
        if self.max_wait is not None and self.strategy != "FLEX_START":
            raise FieldError(("max_wait",), "max_wait is how long a FLEX_START job waits for its "
                             f"machines: set strategy: FLEX_START, or drop max_wait (strategy is "
                             f"{self.strategy})")
        return self

    def body(self) -> dict[str, Any]:
        """The Scheduling message, default values left out (the service's defaults)."""
        out: dict[str, Any] = {}
        if self.strategy != "ON_DEMAND" or self.max_wait is not None:
            out["strategy"] = STRATEGIES[self.strategy]
        if self.max_wait is not None:
            out["maxWaitDuration"] = f"{seconds(self.max_wait)}s"
        if self.timeout is not None:
            out["timeout"] = f"{seconds(self.timeout)}s"
        if self.restart_job_on_worker_restart:
            out["restartJobOnWorkerRestart"] = True
        if self.disable_retries:
            out["disableRetries"] = True
        return out


class BootDisk(Model):
    type: Literal["pd-ssd", "pd-standard", "hyperdisk-balanced"] | None = Field(
        default=None, description="Boot disk type: pd-ssd (the service's default; "
        "hyperdisk-balanced on A3 Ultra machines), pd-standard or hyperdisk-balanced.")
    size_gb: int | None = Field(default=None, ge=1, le=2**31 - 1,
                                description="Boot disk size in GB (the service's default: 100).")


class Reservation(Model):
    affinity: Literal["NO_RESERVATION", "ANY_RESERVATION", "SPECIFIC_RESERVATION"] | None = Field(
        default=None, description="NO_RESERVATION (on-demand only), ANY_RESERVATION (any "
        "matching reservation, else on-demand) or SPECIFIC_RESERVATION (the default when name "
        "or key is given).")
    name: str | None = Field(
        default=None, description="The reservation to consume, by resource name, e.g. "
        "projects/P/zones/ZONE/reservations/R (sent as key compute.googleapis.com/"
        "reservation-name).")
    key: str | None = Field(default=None,
                            description="A reservation label key, with values (instead of name).")
    values: list[str] = Field(default_factory=list,
                              description="The label values that go with key.")

    @field_validator("name", "key")
    @classmethod
    def _one_line(cls, value: str | None) -> str | None:
        return value if value is None else no_control(value, "one line")

    @model_validator(mode="after")
    def _identified(self) -> Reservation:
        if self.name is not None and (self.key is not None or self.values):
            raise FieldError(("name",), "name is the reservation itself; key and values select "
                             "reservations by label: keep one")
        named = self.name is not None or self.key is not None
        if self.key is not None and not self.values:
            raise FieldError(("key",), "key needs values: the label values to match")
        if self.values and self.key is None:
            raise FieldError(("values",), "values need a key (or use name)")
        affinity = self.affinity or ("SPECIFIC_RESERVATION" if named else None)
        if affinity is None:
            raise ValueError("expected affinity (NO_RESERVATION or ANY_RESERVATION), or the "
                             "name of a specific reservation")
        if affinity == "SPECIFIC_RESERVATION" and not named:
            raise FieldError(("affinity",), "SPECIFIC_RESERVATION needs the reservation: its "
                             "name (or a key and values)")
        if affinity != "SPECIFIC_RESERVATION" and named:
            raise FieldError(("affinity",), f"{affinity} consumes no particular reservation: "
                             "drop name/key, or use SPECIFIC_RESERVATION")
        return self

    def body(self) -> dict[str, Any]:
        named = self.name is not None or self.key is not None
        out: dict[str, Any] = {
            "reservationAffinityType": self.affinity or ("SPECIFIC_RESERVATION" if named else "")}
        if self.name is not None:
            out.update(key=RESERVATION_NAME_KEY, values=[self.name])
        elif self.key is not None:
            out.update(key=self.key, values=list(self.values))
        return out


class DnsPeering(Model):
    domain: _DnsDomain = Field(
        description='DNS name suffix to resolve, ending with a dot: "corp.example."')
    target_project: _ProjectId = Field(description="Project that hosts the Cloud DNS zone.")
    target_network: _NetworkName = Field(
        description="VPC network in target_project that sees the zone.")


class PscInterface(Model):
    network_attachment: _Attachment = Field(
        description="Compute Engine network attachment, by name in the target's project and "
        "region, or projects/P/regions/REGION/networkAttachments/NAME.")
    dns_peering: list[DnsPeering] = Field(
        default_factory=list, description="Domains resolved through Cloud DNS of another VPC.")

    def body(self) -> dict[str, Any]:
        out: dict[str, Any] = {"networkAttachment": self.network_attachment}
        if self.dns_peering:
            out["dnsPeeringConfigs"] = [
                {"domain": d.domain, "targetProject": d.target_project,
                 "targetNetwork": d.target_network} for d in self.dns_peering]
        return out


class MachinePool(Pool):
    """A CUSTOM-tier pool: Pool's machine type, count and accelerator, plus these options."""

    tpu_topology: str | None = Field(
        default=None, description='TPU slice topology, e.g. "2x2" or "2x2x1" (a TPU accelerator '
        "type only).", json_schema_extra={"pattern": f"^(?:{TPU_TOPOLOGY_RE.pattern})$"})
    boot_disk: BootDisk | None = Field(
        default=None, description="This pool's boot disk; keys not given come from the "
        "target's boot_disk.")
    reservation: Reservation | None = Field(
        default=None, description="Reservation affinity of this pool's machines; replaces the "
        "target's reservation.")

    @field_validator("accelerator")
    @classmethod
    def _known_accelerator(cls, value: Accelerator | None) -> Accelerator | None:
        if value is None:
            return value
        if value.type not in ACCELERATOR_TYPES:
            current = [name for name, (old, _) in ACCELERATOR_TYPES.items() if not old]
            raise FieldError(("type",), f"{value.type} is not an accelerator type of the "
                             f"aiplatform v1 API{did_you_mean(value.type, current)}; "
                             f"expected one of {', '.join(current)}")
        try:
            _deprecated(ACCELERATOR_TYPES, value.type, "accelerator type", "")
        except ValueError as exc:
            raise FieldError(("type",), str(exc)) from None
        return value

    @field_validator("tpu_topology")
    @classmethod
    def _topology(cls, value: str | None) -> str | None:
        if value is not None and not TPU_TOPOLOGY_RE.fullmatch(value):
            raise ValueError(f'expected a TPU topology like "2x2" or "2x2x1", got {value!r}')
        return value

    @model_validator(mode="after")
    def _topology_is_for_tpus(self) -> MachinePool:
        if self.tpu_topology is not None and (
                self.accelerator is None or self.accelerator.type not in TPU_TYPES):
            has = self.accelerator.type if self.accelerator else "no accelerator"
            raise FieldError(("tpu_topology",), "tpu_topology applies to TPU pools: set "
                             f"accelerator.type to one of {', '.join(TPU_TYPES)} (this pool has "
                             f"{has})")
        return self


def check_target(target: CloudTarget) -> None:
    """Rules across a cloud target's options; each error points at its own key."""
    scheduling = target.scheduling
    if (scheduling is not None and scheduling.timeout is not None
            and target.max_running_time is not None):
        raise FieldError(("scheduling", "timeout"), "scheduling.timeout and max_running_time "
                         "(its legacy name) are both set: keep scheduling.timeout")
    if target.reserved_ip_ranges and target.network is None:
        raise FieldError(("reserved_ip_ranges",), "reserved IP ranges are ranges of the job's "
                         "VPC network: set network as well")
    if target.experiment_run is not None and target.experiment is None:
        raise FieldError(("experiment_run",), "an experiment run belongs to an experiment: set "
                         "experiment as well")
    if target.experiment_run is not None and target.experiment is not None:
        if ("/" in target.experiment) != ("/" in target.experiment_run):
            raise FieldError(("experiment_run",), "give experiment and experiment_run the same "
                             "way: both as names, or both as resource names")
        run_id = f"{target.experiment}-{target.experiment_run}"
        if "/" not in run_id and len(run_id) > 128:
            raise FieldError(("experiment_run",), f"the run's context id {run_id!r} (EXPERIMENT-"
                             f"RUN) has {len(run_id)} characters; at most 128")


def timeout_seconds(target: CloudTarget) -> int | None:
    """The job's timeout: scheduling.timeout, else the legacy max_running_time."""
    scheduling = target.scheduling
    if scheduling is not None and scheduling.timeout is not None:
        return seconds(scheduling.timeout)
    return None if target.max_running_time is None else seconds(target.max_running_time)


def _context(parent: str, name: str) -> str:
    return name if "/" in name else f"{parent}/metadataStores/default/contexts/{name}"


def _pool_options(target: CloudTarget, own: Pool | None, pool: dict[str, Any]) -> None:
    machine = pool.setdefault("machineSpec", {})
    mine = own if isinstance(own, MachinePool) else None
    if mine is not None and mine.tpu_topology is not None:
        machine["tpuTopology"] = mine.tpu_topology
    reservation = (mine.reservation if mine is not None else None) or target.reservation
    if reservation is not None:
        machine["reservationAffinity"] = reservation.body()
    disks = [d for d in ((mine.boot_disk if mine is not None else None), target.boot_disk) if d]
    disk_type = next((d.type for d in disks if d.type is not None), None)
    size = next((d.size_gb for d in disks if d.size_gb is not None), None)
    if disk_type is not None or size is not None:
        disk = pool.setdefault("diskSpec", {})
        if disk_type is not None:
            disk["bootDiskType"] = disk_type
        if size is not None:
            disk["bootDiskSizeGb"] = size


def apply_options(target: CloudTarget, body: dict[str, Any], *, parent: str) -> dict[str, Any]:
    """The CustomJob request BODY with the target's options set: a new dict, BODY untouched.
    PARENT is projects/P/locations/REGION, for options given as short names."""
    body = copy.deepcopy(body)
    job = body["jobSpec"]
    timeout = timeout_seconds(target)
    scheduling = {**job.get("scheduling", {}),
                  **(target.scheduling.body() if target.scheduling else {})}
    if timeout is not None:
        scheduling["timeout"] = f"{timeout}s"
    if scheduling:
        job["scheduling"] = scheduling
    own = (target.chief, target.workers, target.parameter_servers, target.evaluators)
    for i, pool in enumerate(job.get("workerPoolSpecs", [])):
        if pool:  # {} keeps a missing pool's position
            _pool_options(target, own[i] if i < len(own) else None, pool)
    if target.persistent_resource_id is not None:
        job["persistentResourceId"] = target.persistent_resource_id
    if target.reserved_ip_ranges:
        job["reservedIpRanges"] = list(target.reserved_ip_ranges)
    if target.psc_interface is not None:
        job["pscInterfaceConfig"] = target.psc_interface.body()
    if target.tensorboard is not None:
        job["tensorboard"] = (target.tensorboard if "/" in target.tensorboard
                              else f"{parent}/tensorboards/{target.tensorboard}")
    if target.experiment is not None:
        job["experiment"] = _context(parent, target.experiment)
        run = target.experiment_run
        if run is not None:  # a run's context id is EXPERIMENT-RUN
            job["experimentRun"] = _context(parent, run if "/" in run
                                            else f"{target.experiment}-{run}")
    if target.enable_web_access:
        job["enableWebAccess"] = True
    if target.enable_dashboard_access:
        job["enableDashboardAccess"] = True
    if target.kms_key is not None:
        body["encryptionSpec"] = {"kmsKeyName": target.kms_key}
    return body


def gcloud_flags(body: dict[str, Any]) -> list[str]:
    """The flags of `gcloud ai custom-jobs create` (gcloud 528) for the options in BODY that it
    has flags for; scheduling, disks, reservations, TPU topology, networking extras, TensorBoard
    and experiments it takes only in a --config file."""
    job = body["jobSpec"]
    flags = []
    if job.get("enableWebAccess"):
        flags.append("--enable-web-access")
    if job.get("enableDashboardAccess"):
        flags.append("--enable-dashboard-access")
    if "persistentResourceId" in job:
        flags.append(f"--persistent-resource-id={job['persistentResourceId']}")
    if "encryptionSpec" in body:
        flags.append(f"--kms-key={body['encryptionSpec']['kmsKeyName']}")
    return flags
