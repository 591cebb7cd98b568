"""The HTTP server of `jobspec ui`: the page (static/), and the JSON API it reads.

Standard library only (http.server: threads, one per request). Read-only, except two actions
that need the token printed at start-up (header X-Jobspec-Token, compared in constant time):
cancel a job, and the command that would rerun it. Served safely:
- bound to 127.0.0.1 unless told otherwise; a request whose Host is not this server's address
  is refused (a web page elsewhere cannot reach it by renaming itself, DNS rebinding);
- files: only the page's own, from a table made at start-up (no path is ever looked up);
- job data: runs looked up by name among the records that exist, cloud jobs among the project's
  cloud targets; metrics files only inside the project; secrets masked (records hold them
  masked already; cloud answers through the job's secrets).
"""

from __future__ import annotations

import hmac
import json
import secrets
import sys
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from jobspec.errors import CloudError, JobspecError
from jobspec.secrets import mask
from jobspec.ui.capture import captured
from jobspec.ui.cloudjobs import CloudJobs
from jobspec.ui.localjobs import LocalJobs
from jobspec.ui.studies import study_page

TOKEN_HEADER = "X-Jobspec-Token"
MAX_BODY = 4096  # an action's request: {"id": "..."}

_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
_SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; "
                               "frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    "Cache-Control": "no-store",
}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's files, by URL path, read once: nothing else is ever served."""
    folder = resources.files("jobspec.ui") / "static"
    files: dict[str, tuple[bytes, str]] = {}
    for entry in folder.iterdir():
        suffix = Path(entry.name).suffix
        if suffix in _TYPES and entry.is_file():
            files[f"/static/{entry.name}"] = (entry.read_bytes(), _TYPES[suffix])
    files["/"] = files["/static/index.html"]
    return files


class NotFound(Exception):
    pass


class App:
    """What the handler answers with; one per server."""

    def __init__(self, project_root: Path, spec: str | None, token: str) -> None:
        self.local = LocalJobs(project_root)
        self.cloud = CloudJobs(self.local.root, spec)
        self.token = token
        self.files = _static_files()
        self._acted: dict[str, dict[str, Any]] = {}
        self._act_lock = threading.Lock()

    # --- reads -----------------------------------------------------------------------------

    def get(self, path: str, query: dict[str, list[str]]) -> Any:
        parts = [unquote(p) for p in path.strip("/").split("/")]
        offset = _int(query.get("offset", ["0"])[0])
        match parts:
            case ["api", "local"]:
                return {"rows": self.local.rows(), "groups": self.local.groups(),
                        "root": str(self.local.root)}
            case ["api", "cloud"]:
                return self.cloud.table()
            case ["api", "job", "local", name, run]:
                return self.local.detail(name, run)
            case ["api", "job", "cloud", target, name]:
                return self.cloud.detail(target, name)
            case ["api", "group", "local", name]:
                return self._local_group(name)
            case ["api", "log", "local", name, run]:
                return self.local.log(name, run, offset)
            case ["api", "log", "cloud", target, name]:
                return self.cloud.log(target, name, offset)
        raise NotFound(path)

    def _local_group(self, name: str) -> dict[str, Any] | None:
        group = next((g for g in self.local.groups() if g["name"] == name), None)
        if group is None:
            return None
        rows = [r for r in self.local.rows() if r["name"] in group["members"] and r["latest"]]
        study = study_page(self.local.root, name) if group["kind"] == "study" else None
        if study is not None:  # trials in trial order, each with its run's row when it has one
            by_name = {r["name"]: r for r in rows}
            study["trials"] = [{**t, "run": by_name.get(str(t["name"]), {}).get("id")}
                               for t in study["trials"]]
        return {**group, "rows": rows, "study": study,
                "cancel_command": f"jobspec cancel {name} --target local"}

    # --- actions ---------------------------------------------------------------------------

    def allowed(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(token.encode(), self.token.encode())

    def act(self, action: str, job: str) -> dict[str, Any]:
        parts = job.split("/")
        if action == "rerun":
            command = (self.local.rerun_command(*parts[1:]) if parts[0] == "local"
                       and len(parts) == 3 else self.cloud.rerun_command(*parts[1:])
                       if parts[0] == "cloud" and len(parts) == 3 else None)
            if command is None:
                raise NotFound(job)
            return {"id": job, **command}
        if action != "cancel":
            raise NotFound(action)
        with self._act_lock:  # a second click, or a second tab: the first cancel stands
            first = self._acted.get(job)
            if first is not None:
                return {"id": job, "result": "already requested", "noop": True,
                        "message": f"cancel was already requested at {first['at']}; nothing "
                                   "done", "first": first}
            answer = self._cancel(parts, job)
            self._acted[job] = answer
            return answer

    def _cancel(self, parts: list[str], job: str) -> dict[str, Any]:
        at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        if parts[0] == "local" and len(parts) == 3:
            from jobspec.whereis import cancel_local

            name, run = parts[1], parts[2]
            detail = self.local.detail(name, run)
            if detail is None:
                raise NotFound(job)
            if not detail["latest"]:  # `jobspec cancel NAME` acts on the latest run
                return {"id": job, "result": "not running", "at": at, "noop": True,
                        "message": "an earlier run of this job: it is not running"}
            outcomes: list[dict[str, Any]] = []
            with captured() as out:
                cancel_local(name, self.local.root, outcomes)
            result = outcomes[0]["result"] if outcomes else "not running"
            return {"id": job, "result": result, "at": at, "members": outcomes,
                    "message": out.messages().strip(), "command": detail["cancel_command"]}
        if parts[0] == "cloud" and len(parts) == 3:
            answer = self.cloud.cancel(parts[1], parts[2])
            if answer is None:
                raise NotFound(job)
            return {"id": job, "at": at, **answer}
        if parts[0] == "group" and len(parts) == 2:
            from jobspec.whereis import cancel_local

            outcomes = []
            with captured():
                cancel_local(parts[1], self.local.root, outcomes)
            return {"id": job, "result": "cancel requested", "at": at, "members": outcomes}
        raise NotFound(job)


def _int(text: str) -> int:
    try:
        return max(0, int(text))
    except ValueError:
        return 0


class Handler(BaseHTTPRequestHandler):
    app: App
    hosts: frozenset[str]
    server_version = "jobspec-ui"
    sys_version = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        pass  # one line per poll would bury what matters; errors are answered as JSON

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: Any) -> None:
        self._send(status, json.dumps(data).encode(), "application/json")

    def _host_ok(self) -> bool:
        if self.headers.get("Host", "") in self.hosts:
            return True
        self._json(HTTPStatus.FORBIDDEN, {"error": "this server answers only to its own "
                                                   "address"})
        return False

    def _answer(self, work: Callable[[], Any]) -> None:
        try:
            with captured():  # what the command-line functions would print stays here
                data = work()
        except NotFound:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such page or job"})
            return
        except CloudError as exc:
            self._json(HTTPStatus.BAD_GATEWAY, {"error": exc.message, "hint": exc.hint})
            return
        except JobspecError as exc:
            self._json(HTTPStatus.NOT_FOUND, {"error": exc.message, "hint": exc.hint})
            return
        except Exception as exc:  # a defect here: one line where the server runs, not a page
            # of traceback; the page shows the error and asks again
            sys.stderr.write(f"jobspec ui: {self.command} {urlsplit(self.path).path}: "
                             f"{type(exc).__name__}: {mask(str(exc))}\n")
            self._json(HTTPStatus.INTERNAL_SERVER_ERROR,
                       {"error": f"internal error: {type(exc).__name__}"})
            return
        if data is None:
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such job"})
        else:
            self._json(HTTPStatus.OK, data)

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        if not self._host_ok():
            return
        url = urlsplit(self.path)
        found = self.app.files.get(url.path)
        if found is not None:
            self._send(HTTPStatus.OK, *found)
            return
        if not url.path.startswith("/api/"):
            self._json(HTTPStatus.NOT_FOUND, {"error": "no such page"})
            return
        self._answer(lambda: self.app.get(url.path, parse_qs(url.query)))

    do_HEAD = do_GET

    def do_POST(self) -> None:  # noqa: N802
        if not self._host_ok():
            return
        if not self.app.allowed(self.headers.get(TOKEN_HEADER)):
            self._json(HTTPStatus.FORBIDDEN, {"error": "actions need the token `jobspec ui` "
                                                       "printed when it started"})
            return
        url = urlsplit(self.path)
        action = url.path.removeprefix("/api/")
        try:
            length = int(self.headers.get("Content-Length", "0"))
            if not 0 < length <= MAX_BODY:
                raise ValueError("size")
            body = json.loads(self.rfile.read(length))
            job = body["id"]
            if not isinstance(job, str):
                raise TypeError("id")
        except (ValueError, TypeError, KeyError):
            self._json(HTTPStatus.BAD_REQUEST, {"error": 'expected {"id": JOB}'})
            return
        self._answer(lambda: self.app.act(action, job))


class Server:
    """The server, bound and ready; serve() until Ctrl-C."""

    def __init__(self, project_root: Path, spec: str | None, host: str, port: int) -> None:
        self.token = secrets.token_urlsafe(24)
        app = App(project_root, spec, self.token)
        self.app = app
        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        bound = self.httpd.server_address[1]
        self.port = int(bound)
        self.host = host
        names = {host, "127.0.0.1", "localhost"} if host in ("127.0.0.1", "localhost") else {host}
        hosts = frozenset(f"{name}:{self.port}" for name in names)
        self.httpd.RequestHandlerClass = type("BoundHandler", (Handler,),
                                              {"app": app, "hosts": hosts})

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def serve(self) -> None:
        self.httpd.serve_forever(poll_interval=0.2)

    def close(self) -> None:
        self.httpd.server_close()
        self.app.cloud.close()
