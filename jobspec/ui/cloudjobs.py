"""Cloud jobs for the page: the jobs claimed in the buckets of the project's cloud targets
(jobspec.places.cloud_places), read through the same functions as `jobspec list --target T`,
`status`, `logs` and `cancel` (jobspec.cloud.manage), with the same context and credentials.

Every text that leaves here went through the job's secrets (jobspec.cloud.logs.job_secrets):
the values of its secret env entries and the spans its claim recorded are masked."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from jobspec.errors import JobspecError
from jobspec.places import Place, cloud_places

CACHE_SECONDS = 5.0  # the table asks every few seconds; Vertex is asked at most this often


def _lower(state: Any) -> str:
    from jobspec.states import short_state

    return short_state(str(state or "")).lower() or "unknown"


def _seconds(start: Any, end: Any) -> float | None:
    from jobspec.ui.localjobs import _seconds as seconds

    return seconds(start, end) if start and end else None


def _cost(job: dict[str, Any]) -> dict[str, Any] | None:
    """What an ended job cost (jobspec.prices.job_cost, as `status` shows it); None while it
    runs or when it never started: nothing is guessed."""
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_json

    found = job_cost(job)
    return cost_json(found) if found is not None else None


def _study(job: dict[str, Any]) -> dict[str, Any] | None:
    """A Vertex tuning job's study, as the page draws a local study's (studies.study_page):
    metric and goal, the trials with their parameters and final metric, the best trial (read
    through jobspec.cloud.tuning, as `status` shows them). None for a custom job."""
    from jobspec.cloud.vertex import collection_of

    if collection_of(str(job.get("name", ""))) != "hyperparameterTuningJobs":
        return None
    from jobspec.cloud.tuning import objective, summary

    found = summary(job)
    metric_id, goal = objective(job) or (None, None)
    values = {str(t.get("id")): {str(p.get("parameterId")): p.get("value")
                                 for p in t.get("parameters") or [] if isinstance(p, dict)}
              for t in job.get("trials") or [] if isinstance(t, dict)}
    trials = [{"id": t["id"], "name": f"trial {t['id']}", "parameters": values.get(t["id"], {}),
               "metric": t["metric"], "state": _lower(t["state"]), "reason": None, "run": None}
              for t in found["trials"]]
    spec = job.get("studySpec") or {}
    return {"metric": metric_id, "goal": goal, "algorithm": spec.get("algorithm"),
            "parameters": [str(p.get("parameterId")) for p in spec.get("parameters") or []
                           if isinstance(p, dict)],
            "state": _lower(job.get("state")), "reason": None, "best": found["best_trial"],
            "trials": trials}


class _Place:
    """One bucket: its Jobs (clients kept open), used by one request at a time (the clients'
    HTTP connections are not shared between threads)."""

    def __init__(self, place: Place) -> None:
        self.place = place
        self.lock = threading.Lock()
        self._jobs: Any = None
        self.tails: dict[str, tuple[Any, Any, list[dict[str, str]]]] = {}

    def jobs(self) -> Any:
        from jobspec.cloud.manage import Jobs, _where

        if self._jobs is None:
            self._jobs = Jobs(_where(self.place.target, str(self.place.spec), self.place.bucket))
        return self._jobs

    def close(self) -> None:
        if self._jobs is not None:
            self._jobs.__exit__(None, None, None)
            self._jobs = None


class CloudJobs:
    def __init__(self, project_root: Path, spec: str | None) -> None:
        self.root = project_root
        try:
            places, self.notes = cloud_places(spec)
        except JobspecError as exc:
            places, self.notes = [], [exc.message]
        self.places = {p.target: _Place(p) for p in places}
        self._cache: tuple[float, dict[str, Any]] | None = None
        self._cache_lock = threading.Lock()

    def close(self) -> None:
        for place in self.places.values():
            with place.lock:
                place.close()

    # --- the jobs table ------------------------------------------------------------------

    def table(self) -> dict[str, Any]:
        with self._cache_lock:
            if self._cache is not None and time.monotonic() - self._cache[0] < CACHE_SECONDS:
                return self._cache[1]
            rows: list[dict[str, Any]] = []
            groups: list[dict[str, Any]] = []
            notes = list(self.notes)
            for target, place in self.places.items():
                try:
                    with place.lock:
                        found, found_groups = self._rows(place)
                    rows += found
                    groups += found_groups
                except JobspecError as exc:
                    notes.append(f"target {target} (gs://{place.place.bucket}): {exc.message}")
            answer = {"rows": rows, "groups": groups, "notes": notes,
                      "targets": [{"target": t, "bucket": p.place.bucket}
                                  for t, p in self.places.items()]}
            self._cache = (time.monotonic(), answer)
            return answer

    def _rows(self, place: _Place) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        from jobspec.cloud.logs import job_secrets
        from jobspec.cloud.manage import Seen, list_rows

        seen = Seen()
        listed, broken = list_rows(place.jobs(), seen)
        target = place.place.target
        rows = []
        for row in listed:
            claim = seen.claims.get(row["name"], {})
            job = seen.jobs.get(str(row["job"]), {})
            secrets = job_secrets(job, claim) if job else None
            region = str(claim.get("region") or "")
            data = {
                "id": f"cloud/{target}/{row['name']}", "where": "cloud", "name": row["name"],
                "latest": True, "target": target, "bucket": place.place.bucket,
                "state": _lower(row["state"]) if row["state"] != "-" else row["claim"],
                "claim": row["claim"], "job": row["job"], "console": row["console"],
                "start": job.get("startTime") or job.get("createTime") or row["created"],
                "end": job.get("endTime"),
                "seconds": _seconds(job.get("startTime"), job.get("endTime")),
                "user": row["user"], "host": claim.get("host"), "region": region or None,
                "spec": _shown(place.place.spec, self.root),
                "commit": claim.get("commit") if isinstance(claim.get("commit"), str) else None,
                "cost": row.get("cost"),
            }
            rows.append(secrets.mask_data(data) if secrets else data)
        rows += [{"id": f"cloud/{target}/{e.message[:40]}", "where": "cloud", "name": "?",
                  "target": target, "state": "invalid claim", "error": e.message}
                 for e in broken]
        groups = [{"name": name, "kind": "matrix", "members": members, "target": target}
                  for name, members in seen.groups.items()]
        return rows, groups

    # --- one job -----------------------------------------------------------------------------

    def detail(self, target: str, name: str) -> dict[str, Any] | None:
        from jobspec.cloud.console import job_link
        from jobspec.cloud.logs import job_secrets
        from jobspec.places import followup

        place = self.places.get(target)
        if place is None:
            return None
        with place.lock:
            jobs = place.jobs()
            group = jobs.group(name)
            if group is not None:
                members = [{**r, "state": _lower(r["state"]), "console": job_link(r["job"])}
                           for r in group[1]]
                return {"id": f"cloud/{target}/{name}", "where": "cloud", "kind": "group",
                        "name": name, "target": target, "members": members,
                        "cancel_command": followup("cancel", name, place.place.bucket)}
            _, _, job, claim = jobs.job(name)
            secrets = job_secrets(job, claim.data)
            metrics = self._metrics(place, claim.data)
        history = [{"state": "claimed", "at": claim.data.get("created")}]
        for key, state in (("createTime", "queued"), ("startTime", "running"),
                           ("endTime", _lower(job.get("state")))):
            if job.get(key):
                history.append({"state": state, "at": job[key]})
        region = str(claim.data.get("region") or "")
        data = {
            "id": f"cloud/{target}/{name}", "where": "cloud", "kind": "job", "name": name,
            "target": target, "bucket": place.place.bucket, "state": _lower(job.get("state")),
            "job": job.get("name"), "console": job_link(job.get("name")),
            "start": job.get("startTime") or job.get("createTime"), "end": job.get("endTime"),
            "seconds": _seconds(job.get("startTime"), job.get("endTime")),
            "user": claim.data.get("user"), "host": claim.data.get("host"), "region": region,
            "spec": _shown(place.place.spec, self.root), "cost": _cost(job),
            "error": job.get("error"), "request": job, "claim": claim.data,
            "history": history, "metrics": metrics, "tasks": [], "study": _study(job),
            "cancel_command": followup("cancel", name, place.place.bucket),
        }
        return dict(secrets.mask_data(data))

    def _metrics(self, place: _Place, claim: dict[str, Any]) -> list[dict[str, Any]]:
        """metrics.json in the job dir, when the job dir is in the claims' bucket."""
        from jobspec.ui import metrics

        job_dir = str(claim.get("job_dir") or "")
        prefix = f"gs://{place.place.bucket}/"
        if not job_dir.startswith(prefix):
            return []
        path = job_dir[len(prefix):].strip("/") + "/metrics.json"
        try:
            found = place.jobs().bucket.read_json(path, "metrics file")
        except JobspecError:
            return []
        if found is None:
            return []
        series, values = metrics.from_data(found.data)
        return [{"source": "metrics.json", "file": prefix + path, "series": series,
                 "values": values}] if series or values else []

    def log(self, target: str, name: str, cursor: int) -> dict[str, Any] | None:
        """The job's log lines from line CURSOR on (Cloud Logging, asked for the entries newer
        than the last seen), and whether the job is still going."""
        from jobspec.cloud.logs import LogTail, job_secrets, task_of, text_of
        from jobspec.cloud.vertex import job_id
        from jobspec.states import is_terminal

        place = self.places.get(target)
        if place is None:
            return None
        with place.lock:
            jobs = place.jobs()
            _, project, job, claim = jobs.job(name)
            if name not in place.tails:
                tail = LogTail(jobs.clients.logging, project, job_id(job["name"]))
                place.tails[name] = (tail, job_secrets(job, claim.data), [])
            tail, secrets, lines = place.tails[name]
            for entry in tail.fetch():
                lines.append({"task": task_of(entry), "text": secrets.mask(text_of(entry))})
            new = lines[max(0, cursor):]
        text = "".join(f"{line['task']} | {line['text']}\n" for line in new)
        return {"text": text, "next": cursor + len(new),
                "running": not is_terminal(job.get("state")),
                "tasks": sorted({line["task"] for line in lines})}

    def rerun_command(self, target: str, name: str) -> dict[str, str] | None:
        import shlex

        place = self.places.get(target)
        if place is None:
            return None
        command = shlex.join(["jobspec", "run", _shown(place.place.spec, self.root), "--target",
                              target])
        return {"command": command,
                "note": f"{name} stays taken in gs://{place.place.bucket}: the spec's "
                        "name_suffix picks the next free name, or pass --name"}

    def cancel(self, target: str, name: str) -> dict[str, Any] | None:
        """`jobspec cancel NAME --target T --spec SPEC --json`, its answer as data."""
        import json

        from jobspec.cloud.manage import cancel
        from jobspec.ui.capture import captured

        place = self.places.get(target)
        if place is None:
            return None
        with captured() as out:
            cancel(name, target=target, spec=str(place.place.spec), bucket=place.place.bucket,
                   as_json=True)
        with self._cache_lock:
            self._cache = None
        try:
            answer = json.loads(out.text())
        except ValueError:
            answer = {}
        return answer if isinstance(answer, dict) else {"answer": answer}


def _shown(spec: Path, root: Path) -> str:
    try:
        return str(Path(spec).resolve().relative_to(root))
    except ValueError:
        return str(spec)
