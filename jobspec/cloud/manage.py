"""status, logs, cancel and list for cloud jobs, found by name through their claims."""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobspec import gcp
from jobspec.cloud.console import job_link
from jobspec.cloud.follow import follow, info, print_entries
from jobspec.cloud.gcs import BadRecord, Bucket, Claim, bounded_pages, cloud_errors
from jobspec.cloud.group import group_table, read_group
from jobspec.cloud.logs import LogTail, job_secrets
from jobspec.cloud.reported import reported, reported_lines
from jobspec.cloud.vertex import Vertex, collection_in, collection_of, job_id, short_state
from jobspec.context import CloudContext, resolve, target_values
from jobspec.errors import JobspecError, UsageError
from jobspec.output import current
from jobspec.plan import LABEL_SUBMISSION
from jobspec.states import is_terminal


@dataclass(frozen=True)
class Where:
    bucket: str
    context: CloudContext  # project, region and endpoints (jobspec.context)

    @property
    def project(self) -> str | None:
        return self.context.project

    @property
    def region(self) -> str:
        return self.context.region


def _where(target: str | None, spec: str | None, bucket: str | None) -> Where:
    """The bucket from --bucket, else from the spec's target (the default spec if none); the
    project and region as jobspec.context resolves them from that target (none with only
    --bucket), the environment and the gcloud configuration."""
    values: tuple[str | None, str | None] = (None, None)
    if bucket is None or spec is not None or target is not None:
        from jobspec.loader import load
        from jobspec.project import default_spec

        try:
            path = Path(spec) if spec else default_spec(Path.cwd())
            loaded = load(path, target=target or "cloud")
        except JobspecError as exc:  # with --bucket, the spec was only a place for a project
            if bucket is None:
                if not isinstance(exc, UsageError):
                    raise
                raise UsageError("no bucket: pass --bucket, or --spec with a cloud "
                                 "target") from None
            loaded = None
        if loaded is not None:
            cloud = loaded.spec.targets[loaded.target or "cloud"]
            if cloud.kind == "cloud":
                bucket = bucket or cloud.bucket
                values = target_values(cloud)
            elif bucket is None:
                raise UsageError(f"target {loaded.target!r} is not a cloud target")
    assert bucket is not None
    return Where(bucket, resolve(*values, os.environ))


class Jobs:
    def __init__(self, where: Where) -> None:
        self.clients = gcp.connect(where.project, where.context.aiplatform)
        if where.project is None:  # what Application Default Credentials said, if asked
            where = Where(where.bucket, where.context.with_adc(self.clients.project))
        self.where = where
        self.bucket = Bucket(self.clients.storage, where.bucket)
        self._regional: dict[str, gcp.Clients] = {}

    def __enter__(self) -> Jobs:
        return self

    def __exit__(self, *exc: object) -> None:
        self.clients.close()
        for clients in self._regional.values():
            clients.close()

    def claim(self, name: str) -> Claim:
        claim = self.bucket.read_claim(name)
        group = read_group(self.bucket, name) if claim is None else None
        if group is not None and group["members"]:
            from jobspec.places import followup

            members = [str(m) for m in group["members"]]
            raise UsageError(f"{name!r} is a group of {len(members)} jobs, not one job",
                             hint=f"`{followup('status', name, self.where.bucket)}` shows them; "
                             f"`{followup('logs', members[0], self.where.bucket)}` shows the "
                             "log of one")
        if claim is None:
            listing = shlex.join(["jobspec", "list", "--bucket", self.where.bucket])
            raise UsageError(f"no job named {name!r} in gs://{self.where.bucket}: it has no "
                             "jobspec claim", hint=f"`{listing}` shows the names")
        return claim

    def vertex_for(self, claim: Claim) -> tuple[Vertex, str]:
        """Vertex where the claim's job went: the claim's region and project, whatever the
        current target says (the API endpoint is regional)."""
        project, region = str(claim.data["project"]), str(claim.data["region"])
        api_endpoint = self.where.context.aiplatform_for(region)
        clients = self.clients
        if api_endpoint != self.where.context.aiplatform:
            if api_endpoint not in self._regional:
                self._regional[api_endpoint] = gcp.connect(project, api_endpoint)
            clients = self._regional[api_endpoint]
        return Vertex(clients.vertex, f"projects/{project}/locations/{region}",
                      collection_in(claim.data)), project

    def group(self, name: str) -> tuple[Vertex, list[dict[str, Any]]] | None:
        """A matrix group's members and their states, when NAME names a group."""
        if self.bucket.read_claim(name) is not None:
            return None
        group = read_group(self.bucket, name)
        if group is None:
            return None
        first = self.bucket.read_claim(group["members"][0]) if group["members"] else None
        vertex = self.vertex_for(first)[0] if first is not None else Vertex(
            self.clients.vertex, "projects/{}/locations/{}".format(
                self.where.context.require_project(f"group {name!r}"), self.where.region))
        return vertex, group_table(vertex, self.bucket, group)

    def job(self, name: str) -> tuple[Vertex, str, dict[str, Any], Claim]:
        claim = self.claim(name)
        vertex, project = self.vertex_for(claim)
        resource = claim.data.get("job")
        if not resource:  # the create may have landed without the claim hearing of it
            found = vertex.find_by_label(LABEL_SUBMISSION, str(claim.data.get("submission")))
            if not found:
                state = claim.state
                error = claim.data.get("error")
                raise UsageError(f"{name!r} has no job: its claim is {state}"
                                 + (f" ({error})" if error else "")
                                 + f", and no job in {vertex.parent} carries its submission "
                                 "label", hint=_no_job_hint(claim))
            resource = found[0]["name"]
        return vertex, project, vertex.get(str(resource)), claim


def _no_job_hint(claim: Claim) -> str:
    from jobspec.cloud.submit import when_reclaimable

    if claim.state == "claimed":
        return (f"a submission holds the name and may still be creating its job: check again "
                f"in a minute; if it died, `jobspec run ... --reclaim` can take the name over "
                f"{when_reclaimable(claim)}")
    return "run again with --reclaim to submit under this name"


def _print_group(name: str, rows: list[dict[str, Any]], as_json: bool) -> None:
    out = current()
    rows = [{**r, "console": job_link(r["job"])} for r in rows]
    costs = [r.get("cost") for r in rows]
    total = None
    if any(costs):
        from jobspec.prices_text import total_json

        total = total_json(costs)
    if as_json:
        out.emit_json({"group": name, "members": rows, "cost": total})
        return
    out.print(f"group {name}: {len(rows)} jobs")
    for line in out.table([(r["name"], r["state"], r["job"] or "-", _cost_cell(r.get("cost")))
                           for r in rows], ("NAME", "STATE", "JOB", "COST"), indent="  "):
        out.print(line)
    if total is not None:
        from jobspec.prices_text import group_cost_text

        out.print(f"  {group_cost_text(total)}")
    links = [(r["name"], r["console"]) for r in rows if r["console"]]
    if links:
        out.print("  console:")
    wide = max((len(member) for member, _ in links), default=0)
    for member, link in links:  # never wrapped: a link is clicked or copied whole
        out.print(f"    {member:<{wide}}  {link}")


def _cost_cell(cost: dict[str, Any] | None) -> str:
    """A table's COST cell: the estimate once the job ended, "-" before (or for a local run)."""
    if cost is None:
        return "-"
    from jobspec.prices_text import money

    return money(cost.get("usd"))


def _job_cost(job: dict[str, Any]) -> dict[str, Any] | None:
    if not job.get("endTime"):
        return None
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_json

    found = job_cost(job)
    return cost_json(found) if found is not None else None


def _summary(job: dict[str, Any]) -> dict[str, Any]:
    keys = ("name", "displayName", "state", "createTime", "startTime", "endTime", "updateTime")
    out = {k: job[k] for k in keys if k in job}
    if job.get("error"):
        out["error"] = job["error"]
    return out


def _study(job: dict[str, Any]) -> dict[str, Any]:
    if collection_of(job["name"]) != "hyperparameterTuningJobs":
        return {}
    from jobspec.cloud.tuning import summary

    return summary(job)


def status(name: str, *, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool) -> int:
    with Jobs(_where(target, spec, bucket)) as jobs:
        group = jobs.group(name)
        if group is not None:
            _print_group(name, group[1], as_json)
            return 0
        _, _, job, claim = jobs.job(name)
        secrets = job_secrets(job, claim.data)
        out = current()
        if as_json:
            out.print(secrets.mask(json.dumps({"name": name, "job": {**_summary(job),
                                                                     **reported(job),
                                                                     **_study(job)},
                                               "console": job_link(job["name"]),
                                               "cost": _job_cost(job),
                                               "claim": claim.data}, indent=2)))
            return 0
        out.print(f"{name}: {short_state(job.get('state', ''))}")
        out.print(f"  job      {job['name']}")
        link = job_link(job["name"])
        if link:
            out.print(f"  console  {link}")
        for key in ("createTime", "startTime", "endTime"):
            if key in job:
                out.print(f"  {key[:-4]:<8} {job[key]}")
        if _job_cost(job) is not None:
            from jobspec.prices import job_cost
            from jobspec.prices_text import cost_text

            found = job_cost(job)
            assert found is not None
            out.print(f"  cost     {cost_text(found)}")
        if job.get("error"):
            out.print(f"  error    {secrets.mask(str(job['error'].get('message')))}")
        for line in reported_lines(job):  # the options' outcome: schedule, wait, shell URIs
            out.print(secrets.mask(line))
        if collection_of(job["name"]) == "hyperparameterTuningJobs":
            from jobspec.cloud.tuning import best_line, table_lines

            out.print("  trials")
            for line in table_lines(job, indent="    "):
                out.print(secrets.mask(line))
            out.print(f"  {best_line(job)}")
        return 0


def logs(name: str, *, target: str | None, spec: str | None, bucket: str | None,
         follow_logs: bool = False) -> int:
    with Jobs(_where(target, spec, bucket)) as jobs:
        vertex, project, job, claim = jobs.job(name)
        secrets = job_secrets(job, claim.data)  # this process made no plan: ask the job
        if follow_logs:
            from jobspec.cloud.submit import sigterm_as_interrupt

            with sigterm_as_interrupt():
                return follow(vertex, jobs.clients.logging, project, job["name"], name,
                              show_states=False, secrets=secrets, bucket=jobs.where.bucket)
        print_entries(LogTail(jobs.clients.logging, project, job_id(job["name"])).fetch(),
                      secrets)
        return 0


def cancel(name: str, *, target: str | None, spec: str | None, bucket: str | None,
           as_json: bool = False) -> int:
    with Jobs(_where(target, spec, bucket)) as jobs:
        group = jobs.group(name)
        if group is not None:
            vertex, rows = group
            for row in rows:
                if row["job"] and not is_terminal(row["state"]):
                    vertex.cancel(row["job"])
                    info(f"cancel requested for {row['name']} ({row['job']})")
            after = jobs.group(name)
            _print_group(name, after[1] if after is not None else rows, as_json)
            return 0
        vertex, _, job, _ = jobs.job(name)
        if is_terminal(job.get("state")):
            info(f"{name} already ended {short_state(job['state'])}; nothing to cancel")
            if as_json:
                current().emit_json({"name": name, "job": job["name"],
                                     "result": "already ended", "state": job["state"]})
            return 0
        vertex.cancel(job["name"])
        info(f"cancel requested for {name} ({job['name']})")
        if as_json:
            current().emit_json({"name": name, "job": job["name"], "result": "cancel requested"})
        return 0


@dataclass
class Seen:
    """What list_rows read on the way, for a caller that shows more than `list` does: each
    group's members, each claim's record and each job as Vertex returned it."""

    groups: dict[str, list[str]] = field(default_factory=dict)
    claims: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)


def list_rows(jobs: Jobs, seen: Seen | None = None
              ) -> tuple[list[dict[str, Any]], list[BadRecord]]:
    """One row per claim in the bucket (name, claim state, job, console link, job state,
    created, user, cost), and the claims that could not be read (listed as "invalid")."""
    where = jobs.where
    rows: list[dict[str, Any]] = []
    with cloud_errors(f"cannot list gs://{where.bucket}"):
        iterator = jobs.clients.storage.list_blobs(
            where.bucket, delimiter="/", retry=gcp.storage_retry("listing the bucket"))
        names = [p.rstrip("/") for page in bounded_pages(
            iterator, f"cannot list gs://{where.bucket}") for p in page.prefixes]
    states: dict[str, str] = {}
    costs: dict[str, dict[str, Any] | None] = {}  # each ended job's, for the COST column
    broken: list[BadRecord] = []
    for name in names:
        try:
            claim = jobs.bucket.read_claim(name)
        except BadRecord as exc:  # list the rest; fail at the end
            broken.append(exc)
            rows.append({"name": name, "claim": "invalid", "job": None, "console": None,
                         "state": "-", "created": None, "user": None, "cost": None})
            continue
        if claim is None:
            group = read_group(jobs.bucket, name) if seen is not None else None
            if seen is not None and group is not None:
                seen.groups[name] = [str(m) for m in group["members"]]
            continue
        if seen is not None:
            seen.claims[name] = claim.data
        vertex = jobs.vertex_for(claim)[0]
        resource = claim.data.get("job")
        if not resource:  # the create's answer, or the claim update, was lost
            found = vertex.find_by_label(LABEL_SUBMISSION, str(claim.data["submission"]))
            resource = found[0]["name"] if found else None
        if resource and resource not in states:
            job = vertex.get(str(resource))
            states[resource] = short_state(job.get("state", ""))
            costs[resource] = _job_cost(job)
            if seen is not None:
                seen.jobs[str(resource)] = job
        rows.append({"name": name, "claim": claim.state, "job": resource,
                     "console": job_link(resource), "state": states.get(str(resource), "-"),
                     "created": claim.data.get("created"), "user": claim.data.get("user"),
                     "cost": costs.get(str(resource))})
    return rows, broken


def list_jobs(*, target: str | None, spec: str | None, bucket: str | None,
              as_json: bool) -> int:
    where = _where(target, spec, bucket)
    with Jobs(where) as jobs:
        rows, broken = list_rows(jobs)
        out = current()
        if as_json:
            out.emit_json(rows)
        elif not rows:
            out.print(f"no jobspec jobs in gs://{where.bucket}")
        else:
            for line in out.table([(r["name"], r["state"], r["claim"], r["created"] or "-",
                                    _cost_cell(r["cost"]))
                                   for r in rows], ("NAME", "STATE", "CLAIM", "CREATED", "COST")):
                out.print(line)
        if broken:
            raise BadRecord("; ".join(exc.message for exc in broken), hint=broken[0].hint)
        return 0
