"""A Vertex AI (customJobs, hyperparameterTuningJobs) + Cloud Logging (entries.list) + ML v1
stand-in over real HTTP.

The real google-api-python-client talks to it: build("aiplatform", "v1",
static_discovery=True, credentials=AnonymousCredentials(),
client_options={"api_endpoint": standin.url}), and build("logging", "v2", ...) likewise.
Jobs really run (see _runner.py, and _container.py for containerSpec jobs; _tuning.py runs a
tuning job's trials). Routes and request checks are in _api.py.
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import signal
import subprocess
import threading
import time
import traceback
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Iterable
from datetime import datetime, timezone
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any

from ._api import Handler
from ._container import missing_image
from ._http import Faults, RequestLog, RequestRecord
from ._runner import TASK, ReplicaError, run_replica
from ._webaccess import web_access_uris

TERMINAL = frozenset({"JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"})


def rfc3339(ns: int, digits: int = 6) -> str:
    """Nanoseconds since the epoch -> '2024-05-01T12:00:00.123456Z' (`digits` fraction digits)."""
    sec, frac = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(sec, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return (f"{stamp}.{frac:09d}"[: len(stamp) + 1 + digits] if digits else stamp) + "Z"


def project_number(project_id: str) -> str:
    """A stable 12-digit project number: Vertex resource names carry the number, not the id."""
    if project_id.isdigit():
        return project_id
    return str(100_000_000_000 + zlib.crc32(project_id.encode()))


class Job:
    """One CustomJob or HyperparameterTuningJob (`collection`): its JSON (`data`) plus what it
    takes to run and cancel it (a tuning job's trials' processes are in `procs`)."""

    def __init__(self, job_id: str, project_id: str, location: str, data: dict[str, Any],
                 seq: int, collection: str = "customJobs") -> None:
        self.collection = collection
        self.procs: list[subprocess.Popen[bytes]] = []
        self.id = job_id
        self.project_id = project_id
        self.location = location
        self.data = data
        self.seq = seq
        self.cancel = threading.Event()
        self.proc: subprocess.Popen[bytes] | None = None
        self.thread: threading.Thread | None = None


class VertexStandin:
    """See README.md. Thread-safe; every public attribute is safe to read from tests."""

    def __init__(self, gcs_url: str, *, queued_delay: float = 0.05, pending_delay: float = 0.05,
                 cancelling_delay: float = 0.05, kill_grace: float = 2.0,
                 run_jobs: bool = True, extra_env: dict[str, str] | None = None,
                 list_page_size: int = 100,
                 image_exists: Callable[[str], bool] | None = None) -> None:
        self.gcs_url = gcs_url.rstrip("/")
        self._defaults = dict(queued_delay=queued_delay, pending_delay=pending_delay,
                              cancelling_delay=cancelling_delay, kill_grace=kill_grace,
                              run_jobs=run_jobs, list_page_size=list_page_size,
                              image_exists=image_exists)
        self.queued_delay = queued_delay
        self.pending_delay = pending_delay
        self.cancelling_delay = cancelling_delay
        self.kill_grace = kill_grace
        self.run_jobs = run_jobs
        self.list_page_size = list_page_size
        # containerSpec jobs: None runs any image; a function saying False for an image URI
        # fails the job as Vertex does when it cannot pull the image (set by a test, or by the
        # Artifact Registry stand-in)
        self.image_exists: Callable[[str], bool] | None = image_exists
        self.extra_env: dict[str, str] = dict(extra_env or {})
        self._default_env = dict(self.extra_env)
        self.faults = Faults()
        self.internal_errors: list[str] = []
        self._log = RequestLog()
        self.lock = self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._jobs: dict[str, Job] = {}
        self._legacy: dict[tuple[str, str], dict[str, Any]] = {}
        self._entries: list[tuple[int, str, dict[str, Any]]] = []
        self._projects: dict[str, str] = {}  # number -> id
        self._seq = 0
        self._last_ns = 0
        # Bumped by reset(): a request still in flight from an earlier test (e.g. a delayed
        # one) must not create jobs in, or add records to, the next test.
        self.generation = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._conns: set[Any] = set()

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> VertexStandin:
        if self._server is not None:
            return self
        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.standin = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="vertex-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop_jobs()
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            with self._lock:
                conns = list(self._conns)
            for conn in conns:  # keep-alive connections must not outlive the server
                with contextlib.suppress(OSError):
                    conn.shutdown(2)
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> VertexStandin:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("VertexStandin is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def reset(self) -> None:
        """Kill running jobs and forget every job, log entry, fault and request."""
        self._stop_jobs()
        with self._lock:
            self.generation += 1
            self._jobs.clear()
            self._legacy.clear()
            self._entries.clear()
            self.internal_errors.clear()
            self.extra_env = dict(self._default_env)
            for key, value in self._defaults.items():
                setattr(self, key, value)
        self.faults.clear()
        self._log.clear()

    def _stop_jobs(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancel.set()
            self._kill(job, grace=0.2)
        for job in jobs:
            if job.thread is not None:
                job.thread.join(timeout=10)

    # -- what tests look at ------------------------------------------------------------------
    @property
    def jobs(self) -> dict[str, dict[str, Any]]:
        """job id -> a snapshot of the CustomJob JSON, as GET would return it."""
        with self._lock:
            return {jid: copy.deepcopy(job.data) for jid, job in self._jobs.items()}

    def job(self, job_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._jobs[job_id].data)

    @property
    def legacy_jobs(self) -> dict[str, dict[str, Any]]:
        """ML v1 jobs: jobId -> job JSON."""
        with self._lock:
            return {jid: copy.deepcopy(data) for (_, jid), data in self._legacy.items()}

    @property
    def log_entries(self) -> list[dict[str, Any]]:
        """Every log entry, oldest first."""
        with self._lock:
            return [copy.deepcopy(e) for _, _, e in sorted(self._entries, key=lambda t: t[:2])]

    def job_log_lines(self, job_id: str, task: str = TASK) -> list[str]:
        return [e["textPayload"] for e in self.log_entries
                if e["resource"]["labels"]["job_id"] == job_id
                and e["resource"]["labels"]["task_name"] == task]

    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.snapshot()

    @property
    def counters(self) -> Counter[str]:
        """'customJobs.create' etc. -> requests answered, plus 'outcome:<status>' counts."""
        return Counter(self._log.counters)

    def wait_for_state(self, job_id: str, states: str | Iterable[str],
                       timeout: float = 30.0) -> dict[str, Any]:
        wanted = {states} if isinstance(states, str) else set(states)
        with self._changed:
            ok = self._changed.wait_for(
                lambda: self._jobs[job_id].data.get("state") in wanted, timeout=timeout)
            data = copy.deepcopy(self._jobs[job_id].data)
        if not ok:
            raise TimeoutError(f"job {job_id} is {data.get('state')} after {timeout} s, "
                               f"not one of {sorted(wanted)}; error: {data.get('error')}")
        return data

    # -- used by _api.py ---------------------------------------------------------------------
    def project(self, segment: str) -> tuple[str, str]:
        """A project path segment (id or number) -> (id, number)."""
        with self._lock:
            if segment in self._projects:
                return self._projects[segment], segment
            number = project_number(segment)
            self._projects.setdefault(number, segment)
            return self._projects[number], number

    def add_job(self, project_id: str, location: str, body: dict[str, Any],
                collection: str = "customJobs") -> dict[str, Any]:
        number = project_number(project_id)
        now = rfc3339(time.time_ns())
        with self._lock:
            job_id = str(10**18 + secrets.randbelow(9 * 10**18))  # 19 digits, like Vertex
            while job_id in self._jobs:
                job_id = str(10**18 + secrets.randbelow(9 * 10**18))
            self._seq += 1
            data = {"name": f"projects/{number}/locations/{location}/{collection}/{job_id}",
                    **body, "state": "JOB_STATE_QUEUED", "createTime": now, "updateTime": now}
            job = Job(job_id, project_id, location, data, self._seq, collection)
            self._jobs[job_id] = job
            if self.run_jobs:
                job.thread = threading.Thread(target=self._run, args=(job,), daemon=True,
                                              name=f"vertex-job-{job_id}")
                job.thread.start()
            return copy.deepcopy(data)

    def find_job(self, number: str, location: str, job_id: str,
                 collection: str = "customJobs") -> Job | None:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or project_number(job.project_id) != number or job.location != location \
                or job.collection != collection:
            return None
        return job

    def list_jobs(self, number: str, location: str,
                  collection: str = "customJobs") -> list[dict[str, Any]]:
        with self._lock:
            jobs = [j for j in self._jobs.values()
                    if project_number(j.project_id) == number and j.location == location
                    and j.collection == collection]
            jobs.sort(key=lambda j: -j.seq)  # newest first
            return [copy.deepcopy(j.data) for j in jobs]

    def request_cancel(self, job: Job) -> None:
        with self._lock:
            if job.data["state"] in TERMINAL or job.cancel.is_set():
                return
            job.cancel.set()
            self._set(job, "JOB_STATE_CANCELLING")
            if job.thread is None:  # run_jobs=False: nothing will finish it for us
                self._set(job, "JOB_STATE_CANCELLED", error={"code": 1, "message": "CANCELED"})
        # SIGTERM, then SIGKILL after kill_grace: in the background, the answer is immediate
        threading.Thread(target=self._kill, args=(job, self.kill_grace), daemon=True).start()

    def delete_job(self, job: Job) -> None:
        with self._lock:
            self._jobs.pop(job.id, None)

    def legacy(self) -> dict[tuple[str, str], dict[str, Any]]:
        return self._legacy

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, oldest first (callers filter and page)."""
        with self._lock:
            return [e for _, _, e in sorted(self._entries, key=lambda t: t[:2])]

    def record(self, record: RequestRecord, route: str, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self._log.add(record, route)

    def track(self, conn: Any, alive: bool) -> None:
        with self._lock:
            (self._conns.add if alive else self._conns.discard)(conn)

    # -- running jobs (used by _runner.py) ---------------------------------------------------
    def log(self, job: Job, task: str, severity: str, text: str,
            labels: dict[str, str] | None = None) -> None:
        with self._lock:
            if self._jobs.get(job.id) is not job:
                return  # a job forgotten by reset() must not write into the next test's logs
            ns = max(time.time_ns(), self._last_ns + 1)
            self._last_ns = ns
            stamp = rfc3339(ns, 9)
            insert_id = uuid.uuid4().hex[:16]
            log_name = TASK if task == TASK else f"ml.googleapis.com%2F{job.id}"
            entry = {
                "insertId": insert_id,
                "logName": f"projects/{job.project_id}/logs/{log_name}",
                "resource": {"type": "ml_job", "labels": {
                    "job_id": job.id, "task_name": task, "project_id": job.project_id}},
                "timestamp": stamp, "receiveTimestamp": stamp, "severity": severity,
                "labels": {"ml.googleapis.com/task_name": task, **(labels or {})},
                "textPayload": text,
            }
            self._entries.append((ns, insert_id, entry))

    def start_process(self, job: Job, argv: list[str], env: dict[str, str],
                      cwd: Path) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if job.cancel.is_set():
                return None
            job.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        start_new_session=True)
            return job.proc

    def _kill(self, job: Job, grace: float) -> None:
        with self._lock:
            procs = [p for p in (job.proc, *job.procs) if p is not None and p.poll() is None]
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _signal_group(proc, signal.SIGKILL)

    def change(self, job: Job, change: Callable[[dict[str, Any]], None]) -> None:
        """Apply `change` to the job's JSON (a tuning job's trials), for waiters to see."""
        with self._changed:
            if self._jobs.get(job.id) is not job:
                return
            change(job.data)
            job.data["updateTime"] = rfc3339(time.time_ns())
            self._changed.notify_all()

    def _set(self, job: Job, state: str, **fields: Any) -> None:
        with self._changed:
            if job.cancel.is_set() and state not in ("JOB_STATE_CANCELLING",
                                                     "JOB_STATE_CANCELLED"):
                return
            now = rfc3339(time.time_ns())
            job.data["state"] = state
            job.data["updateTime"] = now
            if state == "JOB_STATE_RUNNING":
                job.data.setdefault("startTime", now)
                uris = web_access_uris(job.data, job.id, job.location)
                if uris:
                    job.data["webAccessUris"] = uris
            if state in TERMINAL:
                job.data["endTime"] = now
            job.data.update(fields)
            self._changed.notify_all()

    def _run(self, job: Job) -> None:
        try:
            if job.cancel.wait(self.queued_delay):
                return self._finish_cancel(job)
            self._set(job, "JOB_STATE_PENDING")
            self.log(job, "service", "INFO", "Waiting for job to be provisioned.")
            if job.cancel.wait(self.pending_delay):
                return self._finish_cancel(job)
            tuning = job.collection == "hyperparameterTuningJobs"
            spec = copy.deepcopy(job.data["trialJobSpec" if tuning else "jobSpec"])
            missing = missing_image(self, spec)
            if missing:  # the image cannot be pulled: the replica never starts
                self.log(job, "service", "ERROR", missing)
                self._set(job, "JOB_STATE_FAILED", error={"code": 3, "message": missing})
                return None
            self._set(job, "JOB_STATE_RUNNING")
            self.log(job, "service", "INFO", "Job is running.")
            if tuning:
                from ._tuning import run_study

                return run_study(self, job)
            try:
                code = run_replica(self, job, spec)
            except ReplicaError as exc:
                self.log(job, "service", "ERROR", str(exc))
                self._set(job, "JOB_STATE_FAILED", error={"code": 3, "message": str(exc)})
                return None
            if job.cancel.is_set():
                return self._finish_cancel(job)
            if code == 0:
                self.log(job, "service", "INFO", "Job completed successfully.")
                self._set(job, "JOB_STATE_SUCCEEDED")
                return None
            status = code if code > 0 else 128 - code
            message = (f"The replica {TASK} exited with a non-zero status of {status}. "
                       "Termination reason: Error. To find out more about why your job exited "
                       "please check the logs: resource.type=\"ml_job\" AND "
                       f"resource.labels.job_id=\"{job.id}\"")
            self.log(job, "service", "ERROR", message)
            self._set(job, "JOB_STATE_FAILED", error={"code": 3, "message": message})
        except Exception as exc:  # a stand-in bug: fail the job loudly and keep the traceback
            text = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(text)
            self._set(job, "JOB_STATE_FAILED",
                      error={"code": 13, "message": f"jobspec stand-in internal error: {exc!r}"})
        return None

    def _finish_cancel(self, job: Job) -> None:
        time.sleep(self.cancelling_delay)
        self.log(job, "service", "INFO", "Job was cancelled.")
        self._set(job, "JOB_STATE_CANCELLED", error={"code": 1, "message": "CANCELED"})


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
