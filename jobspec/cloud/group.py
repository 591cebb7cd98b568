"""A matrix sweep on Vertex AI: one group claim, one package upload, then the members claimed
and created in parallel (bounded), each exactly once.

The group is a name too: gs://BUCKET/GROUP/.jobspec/group.json, created only if absent, lists
the members, so `jobspec status GROUP` and `jobspec cancel GROUP` act on all of them.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from typing import Any

from jobspec import gcp
from jobspec.cloud.console import job_link
from jobspec.cloud.follow import drain, info, poll_bounds, print_entries
from jobspec.cloud.gcs import Bucket, cloud_errors, problem_in_group
from jobspec.cloud.logs import LogTail
from jobspec.cloud.submit import Submission, secret_values_of, sigterm_as_interrupt
from jobspec.cloud.vertex import TERMINAL, CreateFailed, Vertex, job_id, short_state
from jobspec.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    CloudError,
    JobspecError,
    NameTaken,
)
from jobspec.output import in_context
from jobspec.places import followup
from jobspec.plandata import LABEL_SUBMISSION, CloudPlan
from jobspec.states import SUCCEEDED

GROUP = ".jobspec/group.json"
PARALLEL = 4


def group_path(name: str) -> str:
    return f"{name}/{GROUP}"


def read_group(bucket: Bucket, name: str) -> dict[str, Any] | None:
    found = bucket.read_json(group_path(name), "group record",
                             lambda record: problem_in_group(record, name))
    return None if found is None else found.data


def _claim_group(bucket: Bucket, group: str, members: list[str], reclaim: bool) -> None:
    found = bucket.first_object(f"{group}/")
    if found is not None:
        existing = read_group(bucket, group)
        if reclaim and existing is not None and existing["members"] == members:
            info(f"reclaiming group {group!r}: members already submitted are kept")
            return
        hint = "pass --name to name the sweep"
        if existing is not None and existing["members"] == members:
            hint += ("; if an earlier run of this sweep stopped part-way, run again with "
                     "--reclaim to submit only the members that have no job")
        elif existing is not None and reclaim:
            listed = ", ".join(existing["members"][:5]) + (
                ", ..." if len(existing["members"]) > 5 else "")
            hint = f"--reclaim cannot take it: it lists other members ({listed}); {hint}"
        raise NameTaken(f"group name {group!r} is taken: gs://{bucket.name}/{group}/ holds "
                        f"gs://{bucket.name}/{found[0]}", hint=hint)
    record = {"version": 1, "group": group, "members": members,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    blob = bucket.bucket.blob(group_path(group))
    with cloud_errors(f"cannot claim gs://{bucket.name}/{group}/"):
        try:
            blob.upload_from_string(json.dumps(record, indent=2), if_generation_match=0,
                                    content_type="application/json",
                                    retry=gcp.storage_retry(f"claiming the group {group!r}"))
        except gcp.storage_errors() as exc:
            if gcp.status_of(exc) != 412:
                raise
            raise NameTaken(f"group name {group!r} was just taken by another submission"
                            ) from None


def _submit_member(plan: CloudPlan, reclaim: bool) -> tuple[str, str | None, str]:
    """(member, job resource name or None, message)."""
    plan = dataclasses.replace(plan, name_suffix="none")
    try:
        with gcp.connect(plan.project, plan.endpoint) as clients:  # one client set per thread
            sub = Submission(plan, clients, reclaim=reclaim)
            try:
                existing = sub.bucket.read_claim(plan.name) if reclaim else None
                if existing is not None and existing.state == "submitted" and (
                        existing.data.get("job")):
                    return plan.name, str(existing.data["job"]), "already submitted"
                sub.claim_name()
                if sub.adopted is not None:
                    return plan.name, str(sub.adopted["name"]), "adopted"
                try:
                    job = sub.create()
                except CreateFailed as exc:
                    sub.mark_claim("failed" if exc.definitive else "unknown", exc.message)
                    raise
                except JobspecError as exc:
                    sub.mark_claim("unknown", exc.message)
                    raise
                sub.record_job(job)
                return plan.name, str(job["name"]), "submitted"
            finally:
                sub.close()
    except NameTaken as exc:
        return plan.name, None, f"taken: {exc.message}"
    except JobspecError as exc:
        return plan.name, None, f"failed: {exc.message}"


def submit_group(group: str, plans: list[CloudPlan], *, detach: bool, reclaim: bool) -> int:
    first = plans[0]
    images: set[str] = set()
    for plan in plans:  # each distinct dependencies image once, built when missing
        image = plan.build
        if image is not None and image.image not in images:
            from jobspec.cloud.build import ensure_plan_image

            with sigterm_as_interrupt():
                images.add(ensure_plan_image(plan))
    with sigterm_as_interrupt(), gcp.connect(first.project, first.endpoint) as clients:
        lead = Submission(first, clients, reclaim=reclaim)
        lead.bucket.check()
        _claim_group(lead.bucket, group, [p.name for p in plans], reclaim)
        lead.stage()  # every member runs the same package: upload it once
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(plans))) as pool:
            # in_context: the members' messages obey this command's --color, -q and --json
            results = list(pool.map(in_context(lambda p: _submit_member(p, reclaim)), plans))
        jobs = {}
        for member, job, message in results:
            info(f"{member}: {message}" + (f" ({job})" if job else ""))
            if job:
                jobs[member] = job
        _say_links(jobs)
        if len(jobs) < len(plans):
            taken = any(m.startswith("taken") for _, _, m in results)
            failed = len(plans) - len(jobs)
            raise (NameTaken if taken and not jobs else CloudError)(
                f"{failed} of {len(plans)} members of {group!r} were not submitted; "
                f"{len(jobs)} were",
                hint=f"`{followup('status', group, first.bucket)}` shows each member; run again "
                "with --reclaim "
                "to retry members whose submission failed")
        info(f"submitted {len(jobs)} jobs in group {group}")
        if detach:
            info(f"follow with `{followup('status', group, first.bucket)}`; cancel all with "
                 f"`{followup('cancel', group, first.bucket)}`")
            return EXIT_OK
        vertex = Vertex(clients.vertex, first.parent)
        secrets = sorted({v for plan in plans for v in secret_values_of(plan)}, key=len,
                         reverse=True)
        code = follow_group(vertex, clients.logging, first.project, jobs, secrets)
        _say_links(jobs)
        return code


def _say_links(jobs: dict[str, str]) -> None:
    """Each member's console page: printed once submitted, again when the group ends."""
    for member, job in jobs.items():
        link = job_link(job)
        if link:
            info(f"{member} in the console: {link}")


def follow_group(vertex: Vertex, logging_api: Any, project: str, jobs: dict[str, str],
                 secrets: Sequence[str] = ()) -> int:
    tails = {m: LogTail(logging_api, project, job_id(j)) for m, j in jobs.items()}
    states: dict[str, str] = {}
    ended: dict[str, dict[str, Any]] = {}  # each member's job as last reported: its cost
    low, high = poll_bounds()
    interval = low
    try:
        while True:
            activity = False
            for member, name in jobs.items():
                if states.get(member) in TERMINAL:
                    continue
                job = vertex.get(name)
                state = str(job.get("state", ""))
                if state != states.get(member):
                    states[member] = state
                    activity = True
                    info(f"{member}: {short_state(state)}")
                printed = print_entries(tails[member].fetch(), secrets, f"{member}/")
                activity = printed > 0 or activity
                if state in TERMINAL:  # as for one job: lines can trail the state
                    drain(tails[member], low, secrets, f"{member}/")
                    ended[member] = job
            if all(s in TERMINAL for s in states.values()) and len(states) == len(jobs):
                break
            interval = low if activity else min(interval * 1.5, high)
            time.sleep(interval)
    except KeyboardInterrupt:
        info("interrupted: stopped following; the jobs keep running")
        return EXIT_INTERRUPTED
    _say_costs(ended)
    failed = [m for m, s in states.items() if s != SUCCEEDED]
    if failed:
        info(f"{len(failed)} of {len(jobs)} jobs did not succeed: {', '.join(failed)}")
        return EXIT_JOB_FAILED
    return EXIT_OK


def _say_costs(ended: dict[str, dict[str, Any]]) -> None:
    """Each member's running time and estimated cost, and the group's total (jobspec.prices)."""
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_text, group_cost, group_cost_text

    found = {member: job_cost(job) for member, job in ended.items()}
    for member, cost in found.items():
        if cost is not None:
            info(f"{member} {cost_text(cost)}")
    total = group_cost(list(found.values()))
    if total is not None:
        info(group_cost_text(total))


def group_table(vertex: Vertex, bucket: Bucket, group: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for member in group["members"]:
        claim = bucket.read_claim(member)
        job = (claim.data.get("job") if claim else None) or None
        if claim is not None and job is None and claim.state in ("unknown", "claimed"):
            found = vertex.find_by_label(LABEL_SUBMISSION, str(claim.data["submission"]))
            job = found[0]["name"] if found else None  # the create's answer was lost
        resource = vertex.get(str(job)) if job else {}
        state = short_state(str(resource.get("state", ""))) if job else (
            claim.state.upper() if claim else "NOT SUBMITTED")
        rows.append({"name": member, "state": state, "job": job, "cost": _cost(resource)})
    return rows


def _cost(job: dict[str, Any]) -> dict[str, Any] | None:
    """An ended job's running time and estimated cost, as JSON (None: not ended, or not run)."""
    if not job.get("endTime"):
        return None
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_json

    found = job_cost(job)
    return cost_json(found) if found is not None else None

