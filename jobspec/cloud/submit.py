"""Execute a CloudPlan: preflight, claim, stage, create, record, follow.

Order matters: nothing is uploaded before the name is known to be free and claimed, and every
failure after the claim marks it failed, so a name never stays claimed with no job and no way
back (`--reclaim` takes over a failed claim, and only a failed or abandoned one).
"""

from __future__ import annotations

import contextlib
import getpass
import os
import signal
import socket
import threading
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from jobspec import gcp
from jobspec.cloud.console import job_link
from jobspec.cloud.follow import follow, info
from jobspec.cloud.gcs import Bucket, Claim, claim_path
from jobspec.cloud.logs import secret_spans
from jobspec.cloud.vertex import CreateFailed, Vertex, collection_in
from jobspec.errors import CloudError, JobspecError, NameTaken
from jobspec.output import current
from jobspec.places import followup
from jobspec.plan import endpoint
from jobspec.plandata import (
    LABEL_SUBMISSION,
    CloudPlan,
    base_name,
    collection,
    request_body,
    with_suffix,
)
from jobspec.render import plan_secrets
from jobspec.timings import mark

STALE_CLAIM = timedelta(minutes=10)
COUNTER_TRIES = 5


def _now() -> datetime:
    return datetime.now(timezone.utc)


def stale_after() -> timedelta:
    """How old a live claim with no job must be before --reclaim may take it over."""
    try:
        seconds = float(os.environ.get("JOBSPEC_CLAIM_STALE_AFTER", ""))
    except ValueError:
        return STALE_CLAIM
    return timedelta(seconds=seconds) if seconds > 0 else STALE_CLAIM


def reclaimable_at(claim: Claim) -> datetime:
    return datetime.fromisoformat(str(claim.data["created"])) + stale_after()


def when_reclaimable(claim: Claim) -> str:
    """'at 12:10:00 UTC (in 9 min 30 s)', or 'now'."""
    at = reclaimable_at(claim)
    left = (at - _now()).total_seconds()
    if left <= 0:
        return "now"
    minutes, seconds = divmod(int(left + 0.999), 60)
    span = f"{minutes} min {seconds} s" if minutes else f"{seconds} s"
    return f"at {at:%Y-%m-%d %H:%M:%S} UTC (in {span})"


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI runner's or `kill`'s) takes Ctrl-C's path: the claim is left in a state
    recovery understands and the command exits 130, instead of dying mid-write."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _record(plan: CloudPlan, owner: str) -> dict[str, Any]:
    from jobspec.gitinfo import head_commit

    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"version": 1, "name": plan.name, "owner": owner, "state": "claimed",
            "submission": plan.submission_id, "fingerprint": plan.fingerprint,
            "package_sha256": plan.package.sha256 if plan.package else None, "user": user,
            "commit": head_commit(plan.project_root),  # the code the job came from
            "host": socket.gethostname(),
            "created": _now().isoformat(timespec="seconds"), "project": plan.project,
            "region": plan.region, "bucket": plan.bucket, "target": plan.target,
            "job_dir": plan.job_dir, "job": None, "secret_names": list(plan.secrets),
            "collection": collection(plan),  # where a lost create's job is looked up
            # where the secrets sit in the request, never their values (cloud/logs.py)
            "secret_spans": secret_spans(plan.body, plan_secrets(plan).values)}


def _taken(bucket: Bucket, name: str, found: tuple[str, str], claim: Claim | None) -> NameTaken:
    obj, when = found
    what = f"gs://{bucket.name}/{obj}, updated {when}"
    if claim is not None:
        by = f"{claim.data.get('user')}@{claim.data.get('host')}"
        what = f"a {claim.state} claim by {by} from {claim.data.get('created')}"
        if claim.data.get("job"):
            what += f" (job {claim.data['job']})"
    hint = (f"the next free name is {bucket.next_free(name)}: pass --name, or set "
            "name_suffix: counter")
    if claim is not None and claim.state == "failed":
        hint = "its submission failed before a job was created: run again with --reclaim"
    elif claim is not None and claim.state == "unknown":
        hint = ("its create's answer was lost, so a job may exist: run again with --reclaim, "
                "which looks the job up by its submission label and adopts it, or submits if "
                "there is none")
    elif claim is not None and claim.state == "claimed" and not claim.data.get("job"):
        hint += (f"; if that submission died, --reclaim can take the name over "
                 f"{when_reclaimable(claim)}")
    return NameTaken(f"job name {name!r} is taken: gs://{bucket.name}/{name}/ holds {what}",
                     hint=hint)


class Submission:
    def __init__(self, plan: CloudPlan, clients: gcp.Clients, *, reclaim: bool) -> None:
        self.plan = plan
        self.template = plan  # the plan as made: its name's suffix not yet picked
        self.clients = clients
        self.bucket = Bucket(clients.storage, plan.bucket)
        self.reclaim = reclaim
        self.owner = uuid.uuid4().hex
        self.claim: Claim | None = None
        self.vertex = Vertex(clients.vertex, plan.parent, collection(plan))
        self.adopted: dict[str, Any] | None = None  # the job an earlier submission made
        self.adopted_vertex: Vertex | None = None
        self._other: list[gcp.Clients] = []

    def close(self) -> None:
        for clients in self._other:
            clients.close()
        self._other.clear()

    def vertex_of(self, claim: Claim) -> Vertex:
        """Vertex where the claim's submission went: its region and project, whatever the
        current target says (the endpoint is regional)."""
        project, region = str(claim.data["project"]), str(claim.data["region"])
        parent = f"projects/{project}/locations/{region}"
        kind = collection_in(claim.data)
        if parent == self.plan.parent and kind == self.vertex.collection:
            return self.vertex
        api_endpoint = endpoint(region, os.environ)
        if api_endpoint == self.plan.endpoint:
            return Vertex(self.clients.vertex, parent, kind)
        other = gcp.connect(project, api_endpoint)
        self._other.append(other)
        return Vertex(other.vertex, parent, kind)

    def choose_name(self) -> None:
        """A timestamp suffix is picked now; a counter's when claiming. Either way the name
        goes into the plan's data (plandata.with_suffix), never back through the planner."""
        if self.plan.name_suffix == "timestamp" and self.plan.name_marker:
            self.plan = with_suffix(self.template, f"_{_now():%Y%m%d_%H%M%S}")

    def claim_name(self) -> None:
        template = self.template
        base = base_name(template)
        for _ in range(COUNTER_TRIES):
            if self.plan.name_suffix == "counter" and template.name_marker:
                self.plan = with_suffix(template, self.bucket.next_free(base)[len(base):])
            name = self.plan.name
            found = self.bucket.first_object(f"{name}/")
            if found is not None:
                if self.plan.name_suffix == "counter" and not self.reclaim:
                    continue
                existing = self.bucket.read_claim(name)
                if self.reclaim and existing is not None and found[0] == claim_path(name):
                    self.claim = self._take_over(name, existing)
                    return
                if self.plan.name_suffix == "counter":
                    continue
                raise _taken(self.bucket, name, found, existing)
            mark("preflight")
            self.claim = self.bucket.create_claim(name, _record(self.plan, self.owner))
            if self.claim is not None:
                return
            if self.plan.name_suffix != "counter":
                existing = self.bucket.read_claim(name)
                raise _taken(self.bucket, name, (claim_path(name), "just now"), existing)
        raise NameTaken(f"could not find a free name after {base!r} in {COUNTER_TRIES} tries: "
                        "other submissions keep taking them", hint="run again")

    def _take_over(self, name: str, existing: Claim) -> Claim:
        """--reclaim: adopt the job the earlier submission made, if any (looked up by its
        submission label where that submission went), else take the name for a new one.
        One submission never makes two jobs."""
        data = existing.data
        if existing.state == "submitted" and data.get("job"):
            bucket = self.plan.bucket
            raise NameTaken(f"{name!r} was submitted as {data['job']}: there is nothing to "
                            "reclaim", hint=f"follow it with "
                            f"`{followup('logs', name, bucket, '--follow')}`, check it with "
                            f"`{followup('status', name, bucket)}`; pick another name (--name) "
                            "for a new job")
        vertex = self.vertex_of(existing)
        jobs = vertex.find_by_label(LABEL_SUBMISSION, str(data["submission"]))
        if jobs:
            job = jobs[0]
            for extra in jobs[1:]:  # cannot happen through jobspec; keep one if it did
                vertex.cancel(extra["name"])
            info(f"the earlier submission of {name!r} ({existing.state}) did create a job: "
                 f"{job['name']}; adopting it instead of submitting another")
            claim = self.bucket.update_claim(name, existing, state="submitted",
                                             job=job["name"], adopted=_now().isoformat(
                                                 timespec="seconds"))
            self.adopted, self.adopted_vertex = job, vertex
            return claim
        if existing.state == "claimed" and _now() < reclaimable_at(existing):
            by = f"{data.get('user')}@{data.get('host')}"
            raise NameTaken(f"--reclaim only takes over a failed or abandoned claim; the claim "
                            f"on {name!r} is live (by {by}, from {data['created']}) and has no "
                            "job yet", hint=f"if that submission died, run again with --reclaim "
                            f"{when_reclaimable(existing)}; to submit now, pass another --name")
        info(f"reclaiming {name!r} from a {existing.state} claim (no job carries its "
             f"submission label in {vertex.parent})")
        return self.bucket.update_claim(name, existing, **_record(self.plan, self.owner))

    def mark_claim(self, state: str, error: str) -> None:
        """The claim says why there is no job: "failed" (none was made) or "unknown" (one may
        exist; --reclaim looks it up by the submission label)."""
        if self.claim is None:
            return
        # if this fails too, the claim stays "claimed"; --reclaim takes it once it is stale,
        # and looks the job up by its label first
        with contextlib.suppress(JobspecError, KeyboardInterrupt):
            self.claim = self.bucket.update_claim(self.plan.name, self.claim, state=state,
                                                  error=plan_secrets(self.plan).mask(error)[:2000],
                                                  failed=_now().isoformat())

    def fail_claim(self, error: str) -> None:
        self.mark_claim("failed", error)

    def release_interrupted_claim(self) -> None:
        """Ctrl-C or SIGTERM while claiming: the create may have landed unheard of. If the
        claim there is ours, mark it failed so --reclaim can take it at once."""
        if self.claim is None:
            with contextlib.suppress(JobspecError, KeyboardInterrupt):
                landed = self.bucket.read_claim(self.plan.name)
                if landed is not None and landed.data.get("owner") == self.owner:
                    self.claim = landed
        self.fail_claim("interrupted while claiming the name; no job was created")

    def stage(self) -> None:
        package = self.plan.package
        if package is None or self.plan.staging_uri is None:
            return  # "command" mode: the image holds the trainer, nothing is staged
        path = self.plan.staging_uri.removeprefix(f"gs://{self.plan.bucket}/")
        if self.bucket.staged(path, package.md5_b64):
            info(f"package unchanged, not uploaded ({package.filename}, sha256 "
                 f"{package.sha256[:12]})")
            return
        progress = current().progress("uploading package", package.size) if package.size > (
            1 << 20) else None
        try:
            self.bucket.upload(path, package, progress[0] if progress else None)
        finally:
            if progress:
                progress[1]()
        info(f"uploaded {package.filename} ({package.size:,} bytes) to {self.plan.staging_uri}")

    def create(self) -> dict[str, Any]:
        return self.vertex.create(request_body(self.plan),
                                  on_retry=lambda why: info(f"create failed ({why}); retrying"))

    def record_job(self, job: dict[str, Any]) -> None:
        assert self.claim is not None
        try:
            self.claim = self.bucket.update_claim(self.plan.name, self.claim, state="submitted",
                                                  job=job["name"])
        except JobspecError as exc:
            current().warn(f"job created, but the claim could not record it ({exc.message}); "
                 f"`{followup('status', self.plan.name, self.plan.bucket)}` still finds it by its "
                 "submission label")


def execute(plan: CloudPlan, *, detach: bool = False, reclaim: bool = False,
            cancel_on_interrupt: bool = False) -> int:
    mark("plan")  # phase marks: no-ops unless JOBSPEC_TIMINGS is set (bench/submission.py)
    if plan.build is not None:  # its image first, built when missing, before
        from jobspec.cloud.build import ensure_plan_image  # the claim: a build takes minutes

        with sigterm_as_interrupt():
            ensure_plan_image(plan)
    with sigterm_as_interrupt(), gcp.connect(plan.project, plan.endpoint) as clients:
        sub = Submission(plan, clients, reclaim=reclaim)
        try:
            return _execute(sub, clients, detach=detach,
                            cancel_on_interrupt=cancel_on_interrupt)
        finally:
            sub.close()


def _execute(sub: Submission, clients: gcp.Clients, *, detach: bool,
             cancel_on_interrupt: bool) -> int:
    mark("connect")
    try:
        sub.bucket.check()
        sub.choose_name()
        sub.claim_name()
    except CloudError as exc:
        exc.hint = exc.hint or ("nothing was submitted: run the same command again once the "
                                "cause is fixed")
        raise
    except KeyboardInterrupt:
        sub.release_interrupted_claim()
        info("interrupted while claiming the name: nothing was submitted; run the same "
             "command again (with --reclaim if it says the name is taken)")
        raise
    mark("claim")
    plan = sub.plan
    if sub.adopted is not None and sub.adopted_vertex is not None:
        job, vertex = sub.adopted, sub.adopted_vertex
        project = vertex.parent.split("/")[1]
    else:
        job = _stage_and_create(sub)
        vertex, project = sub.vertex, plan.project
        try:
            sub.record_job(job)
        except KeyboardInterrupt:
            info(f"interrupted: {plan.name} was submitted as {job['name']}; follow it with "
                 f"`{followup('logs', plan.name, plan.bucket, '--follow')}`")
            raise
        mark("record")
        info(f"submitted {plan.name}: {job['name']}")
    link = job_link(job["name"])
    if link:  # at once, to click while it runs; again when it ends
        info(f"{plan.name} in the console: {link}")
    outcome = {"kind": "cloud", "name": plan.name, "target": plan.target, "job": job["name"],
               "console": link, "bucket": plan.bucket, "region": vertex.parent.split("/")[3]}
    if detach:
        info(f"follow it with `{followup('logs', plan.name, plan.bucket, '--follow')}`; "
             f"cancel it with `{followup('cancel', plan.name, plan.bucket)}`")
        if current().as_json:  # `run --json --detach`: the submitted job
            current().emit_json({**outcome, "state": "submitted", "exit_code": 0})
        return 0
    try:
        final: dict[str, Any] = {}
        code = follow(vertex, clients.logging, project, job["name"], plan.name,
                      cancel_on_interrupt=cancel_on_interrupt, secrets=secret_values_of(plan),
                      bucket=plan.bucket, final=final)
        if link:
            info(f"{plan.name} in the console: {link}")
        if current().as_json:  # `run --json`: after the log lines, the outcome
            if plan.study is not None:  # and a study's trials and best trial
                from jobspec.cloud.tuning import summary

                outcome.update(summary(vertex.get(job["name"])))
            current().emit_json({**outcome, "exit_code": code, "cost": _cost_json(final)})
        return code
    except CloudError as exc:
        # running `run` again would submit a second job: point at the one that exists
        exc.hint = (f"{plan.name} was submitted and keeps running: follow it with "
                    f"`{followup('logs', plan.name, plan.bucket, '--follow')}`, check it with "
                    f"`{followup('status', plan.name, plan.bucket)}`")
        raise


def _stage_and_create(sub: Submission) -> dict[str, Any]:
    """Upload and create; on any failure the claim says whether a job may exist."""
    plan = sub.plan
    reclaim = f"run again with --reclaim to reuse the name {plan.name!r}"
    lost = (f"run again with --reclaim: it looks the job up by its submission label in "
            f"{plan.parent} and adopts it, or submits if there is none (never a second job)")
    creating = False
    try:
        sub.stage()
        mark("upload")
        creating = True
        job = sub.create()
        mark("create")
        return job
    except CreateFailed as exc:
        if exc.definitive:
            sub.fail_claim(exc.message)
            raise CloudError(f"submitting {plan.name!r} failed: {exc.message}; no job was "
                             "created", hint=f"fix the cause, then {reclaim}") from None
        sub.mark_claim("unknown", f"the create's outcome is unknown: {exc.message}")
        raise CloudError(f"submitting {plan.name!r}: the create's answer was lost "
                         f"({exc.message}); a job may exist", hint=lost) from None
    except KeyboardInterrupt:
        if creating:
            sub.mark_claim("unknown", "interrupted while creating the job; it may exist")
            info(f"interrupted while creating the job: it may exist; {lost}")
        else:
            sub.fail_claim("interrupted before the job was created")
            info(f"interrupted: no job was created; {reclaim}")
        raise
    except JobspecError as exc:
        if creating:  # the job was made; checking for extras failed
            sub.mark_claim("unknown", exc.message)
            raise CloudError(f"submitting {plan.name!r}: {exc.message}", hint=lost) from None
        sub.fail_claim(exc.message)
        raise CloudError(f"submitting {plan.name!r} failed: {exc.message}",
                         hint=reclaim) from None


def _cost_json(job: dict[str, Any]) -> dict[str, Any] | None:
    """The ended job's running time and estimated cost (None: it has not ended, or never ran)."""
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_json

    found = job_cost(job) if job else None
    return cost_json(found) if found is not None else None


def secret_values_of(plan: CloudPlan) -> list[str]:
    """The plan's secret values, to mask in whatever jobspec prints."""
    return list(plan_secrets(plan).values)
