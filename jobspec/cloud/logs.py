"""A job's log lines from Cloud Logging (logging v2 entries.list), in order, each once."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jobspec.cloud.vertex import Pages, a_log_entry, a_page, call

PAGE_SIZE = 1000


def job_filter(project_job_id: str) -> str:
    return f'resource.type="ml_job" AND resource.labels.job_id="{project_job_id}"'


def task_of(entry: dict[str, Any]) -> str:
    labels = entry.get("labels") or {}
    resource = (entry.get("resource") or {}).get("labels") or {}
    return str(labels.get("ml.googleapis.com/task_name") or resource.get("task_name")
               or labels.get("task_name") or "job")


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
