"""A job's log lines from Cloud Logging (logging v2 entries.list), in order, each once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from jobspec.cloud.vertex import Pages, a_log_entry, a_page, call
from jobspec.secrets import Secrets, is_secret_name

PAGE_SIZE = 1000


def job_filter(project_job_id: str) -> str:
    return f'resource.type="ml_job" AND resource.labels.job_id="{project_job_id}"'


def _pool_spec(body: dict[str, Any]) -> dict[str, Any]:
    """The first pool's python package (or container) spec: every pool gets the same args and
    env."""
    job_spec = body.get("jobSpec") or body.get("trialJobSpec") or {}  # a tuning job's trials'
    for pool in job_spec.get("workerPoolSpecs") or []:
        spec = (pool or {}).get("pythonPackageSpec") or (pool or {}).get("containerSpec")
        if spec:
            return dict(spec)
    return {}


def secret_spans(body: dict[str, Any], values: Sequence[str]) -> list[list[Any]]:
    """Where the secret values sit in the request's args and env, as positions only:
    ``["arg", index, start, end]`` and ``["env", name, start, end]``. The claim in the bucket
    keeps these, never the values, so `jobspec logs` in a later process can take the values
    from the job itself (Vertex returns its args and env) and mask them."""
    spec = _pool_spec(body)
    places: list[tuple[str, Any, str]] = [("arg", i, str(a))
                                          for i, a in enumerate(spec.get("args") or [])]
    places += [("env", e.get("name"), str(e.get("value", ""))) for e in spec.get("env") or []]
    spans: list[list[Any]] = []
    for kind, key, text in places:
        for value in values:
            start = text.find(value)
            while value and start >= 0:
                spans.append([kind, key, start, start + len(value)])
                start = text.find(value, start + len(value))
    return spans


def job_secrets(job: dict[str, Any], claim: dict[str, Any]) -> Secrets:
    """The secret values of a job submitted earlier, maybe by another process: env entries
    with secret names (or names the spec listed under `secrets:`) and the spans the claim
    recorded, read from the job's own request as Vertex returns it."""
    spec = _pool_spec(job)
    args = [str(a) for a in spec.get("args") or []]
    env = {str(e.get("name")): str(e.get("value", "")) for e in spec.get("env") or []}
    listed = [str(n) for n in claim.get("secret_names") or []]
    values = [v for k, v in env.items() if v and is_secret_name(k, listed)]
    for span in claim.get("secret_spans") or []:
        try:
            kind, key, start, end = span
            text = args[int(key)] if kind == "arg" else env[str(key)]
            values.append(text[int(start):int(end)])
        except (ValueError, TypeError, IndexError, KeyError):
            continue  # a claim edited by hand, or a job changed since: mask what is known
    return Secrets.of(values)


def task_of(entry: dict[str, Any]) -> str:
    labels = entry.get("labels") or {}
    resource = (entry.get("resource") or {}).get("labels") or {}
    return str(labels.get("ml.googleapis.com/task_name") or resource.get("task_name")
               or labels.get("task_name") or "job")


def trial_of(entry: dict[str, Any]) -> str | None:
    """The tuning trial an entry came from: Vertex labels a trial's entries with its id, as ML
    Engine did (gcloud's log_utils reads `ml.googleapis.com/trial_id`, else `trial_id`:
    googlecloudsdk/command_lib/ml_engine/log_utils.py, gcloud 528.0.0, read 2026-11-27)."""
    labels = entry.get("labels") or {}
    trial = labels.get("ml.googleapis.com/trial_id") or labels.get("trial_id")
    return str(trial) if trial else None


def text_of(entry: dict[str, Any]) -> str:
    if "textPayload" in entry:
        return str(entry["textPayload"])
    payload = entry.get("jsonPayload") or {}
    return str(payload.get("message", payload))


class LogTail:
    """Fetches entries newer than the last one seen. Entries sharing the newest timestamp are
    asked for again (timestamp >=) and dropped by insertId, so none is lost or repeated."""

    def __init__(self, api: Any, project: str, job_id: str) -> None:
        self.entries = api.entries()
        self.project = project
        self.job_id = job_id
        self.last_ts: str | None = None
        self.seen_at_last: set[str] = set()

    def fetch(self) -> Iterator[dict[str, Any]]:
        query = job_filter(self.job_id)
        if self.last_ts is not None:
            query += f' AND timestamp>="{self.last_ts}"'
        token = None
        pages = Pages("cannot read the job's logs")
        while True:
            body: dict[str, Any] = {"resourceNames": [f"projects/{self.project}"],
                                    "filter": query, "orderBy": "timestamp asc",
                                    "pageSize": PAGE_SIZE}
            if token:
                body["pageToken"] = token
            page = call(self.entries.list(body=body).execute, "cannot read the job's logs",
                        check=a_page("entries", a_log_entry))
            for entry in page.get("entries", []):
                insert_id = str(entry.get("insertId", ""))
                stamp = str(entry.get("timestamp", ""))
                if stamp == self.last_ts and insert_id in self.seen_at_last:
                    continue
                if stamp != self.last_ts:
                    self.last_ts, self.seen_at_last = stamp, set()
                self.seen_at_last.add(insert_id)
                yield entry
            token = pages.next(page)
            if not token:
                return
