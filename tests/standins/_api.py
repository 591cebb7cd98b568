"""HTTP routes of the Vertex stand-in: request parsing, strict checks, faults, answers."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import traceback
import urllib.parse
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from ._filters import entry_matcher, job_matcher
from ._http import ApiError, RequestRecord, hold, invalid_argument, json_body, strict_query, trickle
from ._schema import Validator, check_custom_job, discovery, with_disk_defaults
from ._tuning import check_tuning_job

if TYPE_CHECKING:
    from .vertex import VertexStandin

Answer = tuple[int, dict[str, Any]]
_JOBS = r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/customJobs"
_JOB = _JOBS + r"/(?P<job>[^/:]+)"
_HP = r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/hyperparameterTuningJobs"
_HP_JOB = _HP + r"/(?P<job>[^/:]+)"
_ML = r"^/v1/projects/(?P<project>[^/]+)/jobs"
# (method, path regex, route name, query parameters of the method)
ROUTES: list[tuple[str, re.Pattern[str], str, frozenset[str]]] = [
    (m, re.compile(p), name, frozenset(q)) for m, p, name, q in [
        ("POST", _JOBS + "$", "customJobs.create", ()),
        ("GET", _JOBS + "$", "customJobs.list", ("filter", "pageSize", "pageToken", "readMask")),
        ("GET", _JOB + "$", "customJobs.get", ()),
        ("DELETE", _JOB + "$", "customJobs.delete", ()),
        ("POST", _JOB + ":cancel$", "customJobs.cancel", ()),
        ("POST", _HP + "$", "hyperparameterTuningJobs.create", ()),
        ("GET", _HP + "$", "hyperparameterTuningJobs.list",
         ("filter", "pageSize", "pageToken", "readMask")),
        ("GET", _HP_JOB + "$", "hyperparameterTuningJobs.get", ()),
        ("POST", _HP_JOB + ":cancel$", "hyperparameterTuningJobs.cancel", ()),
        ("POST", r"^/v2/entries:list$", "entries.list", ()),
        ("POST", _ML + "$", "ml.jobs.create", ()),
        ("GET", _ML + r"/(?P<job>[^/:]+)$", "ml.jobs.get", ()),
    ]
]
_LOCATION = re.compile(r"^[a-z]+-[a-z]+\d+$")
_ML_JOB_ID = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,127}$")
_AIP = Validator("aiplatform.v1")
_LOGGING = Validator("logging.v2")
_ML_V1 = Validator("ml.v1")


def _system_params() -> frozenset[str]:
    return frozenset(discovery("aiplatform.v1")["parameters"])


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Google front ends do
    server_version = "ESF"
    sys_version = ""

    @property
    def standin(self) -> VertexStandin:
        standin: VertexStandin = self.server.standin  # type: ignore[attr-defined]
        return standin

    def setup(self) -> None:
        super().setup()
        self.standin.track(self.connection, True)

    def finish(self) -> None:
        self.standin.track(self.connection, False)
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet test output
        pass

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        self._handle()

    do_POST = do_DELETE = do_PATCH = do_PUT = do_GET

    def _handle(self) -> None:
        standin = self.standin
        parts = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(parts.path)
        query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        method = self.command
        heads = {k.lower(): v for k, v in self.headers.items()}
        generation = standin.generation
        fault = standin.faults.take(method, path)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.drop == "before":
            record = RequestRecord(method, path, query, body, "dropped-before", heads)
            return self._drop(record, "fault", generation)
        if fault is not None and fault.silent:  # never answered, never processed
            standin.record(RequestRecord(method, path, query, body, "silent", heads), "fault",
                           generation)
            self.close_connection = True
            return hold(self.connection, lambda: generation == standin.generation)
        if generation != standin.generation:  # reset() while delayed: answer, change nothing
            route, status, payload = "stale", 503, ApiError(503, "stand-in was reset").body()
        elif fault is not None and fault.status is not None:
            route, status, payload = "fault", fault.status, ApiError(fault.status,
                                                                     fault.message).body()
        else:
            route, status, payload = self._dispatch(method, path, query, raw)
        if fault is not None and fault.drop == "after":
            record = RequestRecord(method, path, query, body, "dropped-after", heads)
            return self._drop(record, route, generation)
        data = json.dumps(payload, indent=2).encode()
        if fault is not None and fault.answer is not None:  # processed; answered with garbage
            status, data = 200, fault.answer_body()
        if fault is not None and fault.trickle is not None:
            standin.record(RequestRecord(method, path, query, body, "trickled", heads), route,
                           generation)
            self.close_connection = True
            head = (f"HTTP/1.1 {status} OK\r\nContent-Type: application/json; charset=UTF-8\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n").encode()
            return trickle(self.connection, head, data, fault.trickle,
                           lambda: generation == standin.generation,
                           from_head=fault.trickle_head)
        # Recorded before answering: once the client has its answer, the log is complete.
        standin.record(RequestRecord(method, path, query, body, status, heads), route, generation)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up (e.g. timed out): nothing to do

    def _drop(self, record: RequestRecord, route: str, generation: int) -> None:
        self.close_connection = True  # the socket closes with no answer at all
        self.standin.record(record, route, generation)

    def _dispatch(self, method: str, path: str, query: dict[str, list[str]],
                  raw: bytes) -> tuple[str, int, dict[str, Any]]:
        route = "unknown"
        try:
            for route_method, pattern, name, params in ROUTES:
                match = pattern.match(path)
                if match and route_method == method:
                    route = name
                    args = strict_query(query, params, _system_params())
                    status, payload = HANDLERS[name](self.standin, match.groupdict(), args,
                                                     json_body(method, raw))
                    return route, status, payload
            raise ApiError(404, f"Method not found: {method} {path} (not a route of the "
                           "jobspec stand-in).", "NOT_FOUND")
        except ApiError as err:
            return route, err.code, err.body()
        except Exception:  # a stand-in bug: answer 500 and keep the traceback for the test
            text = traceback.format_exc()
            self.standin.internal_errors.append(text)
            return route, 500, ApiError(500, f"stand-in internal error:\n{text}").body()


def _page(items: list[dict[str, Any]], args: dict[str, Any], key: str, default_size: int,
          scope: str) -> dict[str, Any]:
    """One page of `items` under `key`, with an opaque token bound to the query (`scope`)."""
    size = _int(args.get("pageSize"), "page_size") or default_size
    if size < 0:
        raise invalid_argument("page_size must not be negative.")
    size = min(size, 1000)
    offset = 0
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    if args.get("pageToken"):
        try:
            token = json.loads(base64.urlsafe_b64decode(args["pageToken"].encode()))
            offset, bound = int(token["o"]), token["q"]
        except (ValueError, KeyError, TypeError):
            raise invalid_argument("Invalid page token.") from None
        if bound != digest:
            raise invalid_argument("The page token does not match the request: the other "
                                   "parameters must be the same as in the previous call.")
    out: dict[str, Any] = {}
    if items[offset:offset + size]:
        out[key] = items[offset:offset + size]
    if offset + size < len(items):
        token_json = json.dumps({"o": offset + size, "q": digest}).encode()
        out["nextPageToken"] = base64.urlsafe_b64encode(token_json).decode()
    return out


def _int(value: Any, name: str) -> int:
    if value in (None, ""):
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid_argument(f"Invalid value for {name}: {value!r}.") from None


def _location(params: dict[str, str]) -> str:
    if not _LOCATION.match(params["location"]):
        raise invalid_argument(f"Location '{params['location']}' is not a supported region for "
                               "custom jobs.")
    return params["location"]


def _job(standin: VertexStandin, params: dict[str, str],
         collection: str = "customJobs") -> Any:
    _, number = standin.project(params["project"])
    job = standin.find_job(number, _location(params), params["job"], collection)
    if job is None:
        name = f"projects/{params['project']}/locations/{params['location']}/{collection}/" \
               f"{params['job']}"
        kind = "CustomJob" if collection == "customJobs" else "HyperparameterTuningJob"
        raise ApiError(404, f"The {kind} \"{name}\" does not exist.", "NOT_FOUND")
    return job


# -- customJobs ---------------------------------------------------------------------------------
def jobs_create(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
    project_id, _ = standin.project(params["project"])
    location = _location(params)
    job = _AIP.message(body, "GoogleCloudAiplatformV1CustomJob", "custom_job")
    check_custom_job(job)
    return 200, standin.add_job(project_id, location, with_disk_defaults(job))


def jobs_get(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
             body: dict[str, Any]) -> Answer:
    job = _job(standin, params)
    return 200, standin.job(job.id)


def jobs_list(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
              body: dict[str, Any]) -> Answer:
    _, number = standin.project(params["project"])
    match = job_matcher(args.get("filter", ""))
    jobs = [j for j in standin.list_jobs(number, _location(params)) if match(j)]
    scope = f"{params['project']}|{params['location']}|{args.get('filter', '')}"
    return 200, _page(jobs, args, "customJobs", standin.list_page_size, scope)


def jobs_cancel(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
    _AIP.message(body, "GoogleCloudAiplatformV1CancelCustomJobRequest", "request")
    job = _job(standin, params)
    state = job.data["state"]
    if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
        raise ApiError(400, f"Cannot cancel the CustomJob \"{job.data['name']}\" because it is "
                       f"in state {state}.", "FAILED_PRECONDITION")
    standin.request_cancel(job)
    return 200, {}


def jobs_delete(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
    job = _job(standin, params)
    if job.data["state"] not in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED",
                                 "JOB_STATE_CANCELLED"):
        raise ApiError(400, f"The CustomJob \"{job.data['name']}\" is in state "
                       f"{job.data['state']} and cannot be deleted; cancel it first.",
                       "FAILED_PRECONDITION")
    standin.delete_job(job)
    return 200, {"name": f"{job.data['name']}/operations/{job.seq}", "done": True,
                 "response": {"@type": "type.googleapis.com/google.protobuf.Empty"}}


# -- hyperparameterTuningJobs ----------------------------------------------------------------------
_TUNING = "hyperparameterTuningJobs"


def tuning_create(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                  body: dict[str, Any]) -> Answer:
    project_id, _ = standin.project(params["project"])
    location = _location(params)
    job = _AIP.message(body, "GoogleCloudAiplatformV1HyperparameterTuningJob",
                       "hyperparameter_tuning_job")
    check_tuning_job(job)
    trial = with_disk_defaults({"jobSpec": job["trialJobSpec"]})["jobSpec"]
    return 200, standin.add_job(project_id, location, {**job, "trialJobSpec": trial}, _TUNING)


def tuning_get(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
               body: dict[str, Any]) -> Answer:
    return 200, standin.job(_job(standin, params, _TUNING).id)


def tuning_list(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
    _, number = standin.project(params["project"])
    match = job_matcher(args.get("filter", ""))
    jobs = [j for j in standin.list_jobs(number, _location(params), _TUNING) if match(j)]
    scope = f"{_TUNING}|{params['project']}|{params['location']}|{args.get('filter', '')}"
    return 200, _page(jobs, args, _TUNING, standin.list_page_size, scope)


def tuning_cancel(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                  body: dict[str, Any]) -> Answer:
    _AIP.message(body, "GoogleCloudAiplatformV1CancelHyperparameterTuningJobRequest", "request")
    job = _job(standin, params, _TUNING)
    state = job.data["state"]
    if state in ("JOB_STATE_SUCCEEDED", "JOB_STATE_FAILED", "JOB_STATE_CANCELLED"):
        raise ApiError(400, f"Cannot cancel the HyperparameterTuningJob \"{job.data['name']}\" "
                       f"because it is in state {state}.", "FAILED_PRECONDITION")
    standin.request_cancel(job)
    return 200, {}


# -- Cloud Logging ------------------------------------------------------------------------------
def entries_list(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
                 body: dict[str, Any]) -> Answer:
    request = _LOGGING.message(body, "ListLogEntriesRequest", "list_log_entries_request")
    names = request.get("resourceNames", []) + [f"projects/{p}"
                                                 for p in request.get("projectIds", [])]
    if not names:
        raise invalid_argument("List of found errors:\t1.Field: resource_names; Message: "
                               "Required field is not set.\t", [("resource_names",
                                                                 "Required field is not set.")])
    projects = set()
    for name in names:
        if not re.fullmatch(r"projects/[^/]+", name):
            raise invalid_argument(f"Unsupported resource name '{name}' (the jobspec stand-in "
                                   "knows projects/PROJECT only).")
        projects.add(standin.project(name.split("/", 1)[1])[0])
    order = request.get("orderBy", "timestamp asc").strip()
    if order not in ("timestamp asc", "timestamp desc"):
        raise invalid_argument(f"Invalid orderBy '{order}': only \"timestamp asc\" and "
                               "\"timestamp desc\" are permitted.")
    text = request.get("filter", "")
    match = entry_matcher(text)
    entries = [e for e in standin.entries()
               if e["resource"]["labels"]["project_id"] in projects and match(e)]
    if order == "timestamp desc":
        entries.reverse()
    page = {"pageSize": request.get("pageSize"), "pageToken": request.get("pageToken")}
    scope = f"{sorted(projects)}|{order}|{text}"
    return 200, _page(entries, page, "entries", 50, scope)


# -- ML v1 (legacy), for a side-by-side gcloud benchmark -----------------------------------------
def ml_create(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
              body: dict[str, Any]) -> Answer:
    project_id, _ = standin.project(params["project"])
    job = _ML_V1.message(body, "GoogleCloudMlV1__Job", "job")
    job_id = job.get("jobId", "")
    if not _ML_JOB_ID.match(job_id):
        raise invalid_argument(f"Field: job.job_id Error: Job id must start with a letter and "
                               f"contain only letters, numbers and underscores (at most 128): "
                               f"'{job_id}'.")
    from .vertex import rfc3339

    data = {**job, "createTime": rfc3339(time.time_ns(), 0), "state": "QUEUED",
            "etag": base64.b64encode(hashlib.sha1(job_id.encode()).digest()[:8]).decode()}
    with standin.lock:
        store = standin.legacy()
        if (project_id, job_id) in store:
            raise ApiError(409, f"Field: job.job_id Error: A job with this id already exists: "
                           f"{job_id}", "ALREADY_EXISTS")
        store[(project_id, job_id)] = data
    return 200, data


def ml_get(standin: VertexStandin, params: dict[str, str], args: dict[str, str],
           body: dict[str, Any]) -> Answer:
    project_id, _ = standin.project(params["project"])
    with standin.lock:
        data = standin.legacy().get((project_id, params["job"]))
    if data is None:
        raise ApiError(404, "Field: name Error: The specified job does not exist.", "NOT_FOUND")
    return 200, data


HANDLERS: dict[str, Callable[[VertexStandin, dict[str, str], dict[str, str], dict[str, Any]],
                             Answer]] = {
    "customJobs.create": jobs_create, "customJobs.get": jobs_get,
    "customJobs.list": jobs_list, "customJobs.cancel": jobs_cancel,
    "customJobs.delete": jobs_delete, "entries.list": entries_list,
    "hyperparameterTuningJobs.create": tuning_create, "hyperparameterTuningJobs.get": tuning_get,
    "hyperparameterTuningJobs.list": tuning_list,
    "hyperparameterTuningJobs.cancel": tuning_cancel,
    "ml.jobs.create": ml_create, "ml.jobs.get": ml_get,
}
