"""Execute a CloudPlan: preflight, claim, stage, create, record, follow.

Order matters: nothing is uploaded before the name is known to be free and claimed, and every
failure after the claim marks it failed, so a name never stays claimed with no job and no way
back (`--reclaim` takes over a failed claim, and only a failed or abandoned one).
"""

from __future__ import annotations

import contextlib
import getpass
import socket
import sys
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from jobspec import gcp
from jobspec.cloud.follow import follow, info
from jobspec.cloud.gcs import Bucket, Claim, claim_path
from jobspec.cloud.logs import secret_spans
from jobspec.cloud.vertex import CreateFailed, Vertex
from jobspec.errors import CloudError, JobspecError, NameTaken
from jobspec.plandata import LABEL_SUBMISSION, CloudPlan, base_name, with_suffix
from jobspec.render import plan_secrets
from jobspec.timings import mark
from jobspec.whereis import followup

STALE_CLAIM = timedelta(minutes=10)
COUNTER_TRIES = 5


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _record(plan: CloudPlan, owner: str) -> dict[str, Any]:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return {"version": 1, "name": plan.name, "owner": owner, "state": "claimed",
            "submission": plan.submission_id, "fingerprint": plan.fingerprint,
            "package_sha256": plan.package.sha256, "user": user, "host": socket.gethostname(),
            "created": _now().isoformat(timespec="seconds"), "project": plan.project,
            "region": plan.region, "bucket": plan.bucket, "target": plan.target,
            "job_dir": plan.job_dir, "job": None, "secret_names": list(plan.secrets),
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
        self.vertex = Vertex(clients.vertex, plan.parent)

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
        # A claim is marked failed also when the create's outcome stayed unknown (say, the
        # look-up after a reset failed too): its job may exist, and a new one would be a second.
        jobs = self.vertex.find_by_label(LABEL_SUBMISSION, str(existing.data.get("submission")))
        if existing.state == "failed" and jobs:
            bucket = self.plan.bucket
            raise NameTaken(f"the failed submission of {name!r} did create a job: "
                            f"{jobs[0]['name']}",
                            hint=f"follow it with `{followup('logs', name, bucket, '--follow')}`, "
                            f"check it with `{followup('status', name, bucket)}`")
        if existing.state != "failed":
            created = existing.data.get("created")
            age = _now() - datetime.fromisoformat(created) if created else STALE_CLAIM
            abandoned = existing.data.get("job") is None and age >= STALE_CLAIM and not jobs
            if not abandoned:
                raise NameTaken(f"--reclaim only takes over a failed or abandoned claim; the "
                                f"claim on {name!r} is {existing.state}",
                                hint="check it with "
                                f"`{followup('status', name, self.plan.bucket)}`")
        info(f"reclaiming {name!r} from a {existing.state} claim")
        return self.bucket.update_claim(name, existing, **_record(self.plan, self.owner))

    def fail_claim(self, error: str) -> None:
        if self.claim is None:
            return
        # if this fails too, the claim stays "claimed"; --reclaim takes it once it is stale
        with contextlib.suppress(JobspecError):
            self.claim = self.bucket.update_claim(self.plan.name, self.claim, state="failed",
                                                  error=plan_secrets(self.plan).mask(error)[:2000],
                                                  failed=_now().isoformat())

    def stage(self) -> None:
        path = self.plan.staging_uri.removeprefix(f"gs://{self.plan.bucket}/")
        package = self.plan.package
        if self.bucket.staged(path, package.md5_b64):
            info(f"package unchanged, not uploaded ({package.filename}, sha256 "
                 f"{package.sha256[:12]})")
            return
        progress = _progress_bar(package.size) if sys.stderr.isatty() and package.size > (
            1 << 20) else None
        try:
            self.bucket.upload(path, package, progress[0] if progress else None)
        finally:
            if progress:
                progress[1]()
        info(f"uploaded {package.filename} ({package.size:,} bytes) to {self.plan.staging_uri}")

    def create(self) -> dict[str, Any]:
        return self.vertex.create(self.plan.body,
                                  on_retry=lambda why: info(f"create failed ({why}); retrying"))

    def record_job(self, job: dict[str, Any]) -> None:
        assert self.claim is not None
        try:
            self.claim = self.bucket.update_claim(self.plan.name, self.claim, state="submitted",
                                                  job=job["name"])
        except JobspecError as exc:
            info(f"warning: job created, but the claim could not record it ({exc.message}); "
                 f"`{followup('status', self.plan.name, self.plan.bucket)}` still finds it by its "
                 "submission label")


def _progress_bar(total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task("uploading package", total=total)
    bar.start()
    return (lambda n: bar.advance(task, n)), bar.stop


def execute(plan: CloudPlan, *, detach: bool = False, reclaim: bool = False,
            cancel_on_interrupt: bool = False) -> int:
    mark("plan")  # phase marks: no-ops unless JOBSPEC_TIMINGS is set (bench/submission.py)
    with gcp.connect(plan.project, plan.endpoint) as clients:
        return _execute(plan, clients, detach=detach, reclaim=reclaim,
                        cancel_on_interrupt=cancel_on_interrupt)


def _execute(plan: CloudPlan, clients: gcp.Clients, *, detach: bool, reclaim: bool,
             cancel_on_interrupt: bool) -> int:
    sub = Submission(plan, clients, reclaim=reclaim)
    mark("connect")
    try:
        sub.bucket.check()
        sub.choose_name()
        sub.claim_name()
    except CloudError as exc:
        exc.hint = exc.hint or ("nothing was submitted: run the same command again once the "
                                "cause is fixed")
        raise
    mark("claim")
    plan = sub.plan
    try:
        sub.stage()
        mark("upload")
        job = sub.create()
        mark("create")
    except CreateFailed as exc:
        sub.fail_claim(exc.message)
        raise CloudError(f"submitting {plan.name!r} failed: {exc.message}; no job was created",
                         hint=f"fix the cause, then run again with --reclaim to reuse the name "
                         f"{plan.name!r}") from None
    except (JobspecError, KeyboardInterrupt) as exc:
        sub.fail_claim(getattr(exc, "message", "interrupted"))
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise CloudError(f"submitting {plan.name!r} failed: {exc.message}",
                         hint=f"run again with --reclaim to reuse the name {plan.name!r}"
                         ) from None
    sub.record_job(job)
    mark("record")
    info(f"submitted {plan.name}: {job['name']}")
    if detach:
        info(f"follow it with `{followup('logs', plan.name, plan.bucket, '--follow')}`; "
             f"cancel it with `{followup('cancel', plan.name, plan.bucket)}`")
        return 0
    try:
        return follow(sub.vertex, clients.logging, plan.project, job["name"], plan.name,
                      cancel_on_interrupt=cancel_on_interrupt, secrets=secret_values_of(plan),
                      bucket=plan.bucket)
    except CloudError as exc:
        # running `run` again would submit a second job: point at the one that exists
        exc.hint = (f"{plan.name} was submitted and keeps running: follow it with "
                    f"`{followup('logs', plan.name, plan.bucket, '--follow')}`, check it with "
                    f"`{followup('status', plan.name, plan.bucket)}`")
        raise


def secret_values_of(plan: CloudPlan) -> list[str]:
    """The plan's secret values, to mask in whatever jobspec prints."""
    return list(plan_secrets(plan).values)
