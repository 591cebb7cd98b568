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
from jobspec.cloud.follow import drain, info, poll_bounds, print_entries
from jobspec.cloud.gcs import Bucket, cloud_errors
from jobspec.cloud.logs import LogTail
from jobspec.cloud.submit import Submission, secret_values_of
from jobspec.cloud.vertex import TERMINAL, Vertex, job_id, short_state
from jobspec.errors import (
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_OK,
    CloudError,
    JobspecError,
    NameTaken,
)
from jobspec.plandata import CloudPlan
from jobspec.whereis import followup

GROUP = ".jobspec/group.json"
PARALLEL = 4


def group_path(name: str) -> str:
    return f"{name}/{GROUP}"


def read_group(bucket: Bucket, name: str) -> dict[str, Any] | None:
    found = bucket.read_json(group_path(name))
    return None if found is None or "members" not in found.data else found.data


def _claim_group(bucket: Bucket, group: str, members: list[str]) -> None:
    found = bucket.first_object(f"{group}/")
    if found is not None:
        raise NameTaken(f"group name {group!r} is taken: gs://{bucket.name}/{group}/ holds "
                        f"gs://{bucket.name}/{found[0]}", hint="pass --name to name the sweep")
    record = {"version": 1, "group": group, "members": members,
              "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    blob = bucket.bucket.blob(group_path(group))
    with cloud_errors(f"cannot claim gs://{bucket.name}/{group}/"):
        try:
            blob.upload_from_string(json.dumps(record, indent=2), if_generation_match=0,
                                    content_type="application/json")
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
            sub.claim_name()
            try:
                job = sub.create()
            except JobspecError as exc:
                sub.fail_claim(exc.message)
                raise
            sub.record_job(job)
            return plan.name, str(job["name"]), "submitted"
    except NameTaken as exc:
        return plan.name, None, f"taken: {exc.message}"
    except JobspecError as exc:
        return plan.name, None, f"failed: {exc.message}"


def submit_group(group: str, plans: list[CloudPlan], *, detach: bool, reclaim: bool) -> int:
    first = plans[0]
    with gcp.connect(first.project, first.endpoint) as clients:
        lead = Submission(first, clients, reclaim=reclaim)
        lead.bucket.check()
        _claim_group(lead.bucket, group, [p.name for p in plans])
        lead.stage()  # every member runs the same package: upload it once
        with ThreadPoolExecutor(max_workers=min(PARALLEL, len(plans))) as pool:
            results = list(pool.map(lambda p: _submit_member(p, reclaim), plans))
        jobs = {}
        for member, job, message in results:
            info(f"{member}: {message}" + (f" ({job})" if job else ""))
            if job:
                jobs[member] = job
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
        return follow_group(vertex, clients.logging, first.project, jobs, secrets)


def follow_group(vertex: Vertex, logging_api: Any, project: str, jobs: dict[str, str],
                 secrets: Sequence[str] = ()) -> int:
    tails = {m: LogTail(logging_api, project, job_id(j)) for m, j in jobs.items()}
    states: dict[str, str] = {}
    low, high = poll_bounds()
    interval = low
    try:
        while True:
            activity = False
            for member, name in jobs.items():
                if states.get(member) in TERMINAL:
                    continue
                state = str(vertex.get(name).get("state", ""))
                if state != states.get(member):
                    states[member] = state
                    activity = True
                    info(f"{member}: {short_state(state)}")
                printed = print_entries(tails[member].fetch(), secrets, f"{member}/")
                activity = printed > 0 or activity
                if state in TERMINAL:  # as for one job: lines can trail the state
                    drain(tails[member], low, secrets, f"{member}/")
            if all(s in TERMINAL for s in states.values()) and len(states) == len(jobs):
                break
            interval = low if activity else min(interval * 1.5, high)
            time.sleep(interval)
    except KeyboardInterrupt:
        info("interrupted: stopped following; the jobs keep running")
        return EXIT_INTERRUPTED
    failed = [m for m, s in states.items() if s != "JOB_STATE_SUCCEEDED"]
    if failed:
        info(f"{len(failed)} of {len(jobs)} jobs did not succeed: {', '.join(failed)}")
        return EXIT_JOB_FAILED
    return EXIT_OK


def group_table(vertex: Vertex, bucket: Bucket, group: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for member in group["members"]:
        claim = bucket.read_claim(member)
        job = (claim.data.get("job") if claim else None) or None
        state = short_state(str(vertex.get(str(job)).get("state", ""))) if job else (
            claim.state.upper() if claim else "NOT SUBMITTED")
        rows.append({"name": member, "state": state, "job": job})
    return rows

