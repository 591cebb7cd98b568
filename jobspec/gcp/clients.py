"""Credentials and the clients a cloud run needs (storage, Vertex AI, Logging; Cloud Build and
Artifact Registry when it builds an image).

Endpoints (jobspec.context) follow Google's own tools: STORAGE_EMULATOR_HOST for Cloud Storage
and CLOUDSDK_API_ENDPOINT_OVERRIDES_{AIPLATFORM,LOGGING} for the REST APIs. Every request says
`jobspec/<version>` in its User-Agent. Credentials come from
google.auth.default(); anonymous credentials only when every endpoint in use is on loopback.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from jobspec.errors import CloudError
from jobspec.gcp.transport import _deadline_session, _SessionHttp, user_agent


def logging_endpoint(env: Mapping[str, str]) -> str:
    from jobspec.context import logging_for_env

    return logging_for_env(env)


def adc_project(env: Mapping[str, str], aiplatform: str) -> tuple[str | None, str]:
    """The project Application Default Credentials report, and why there is none.

    A credentials file (GOOGLE_APPLICATION_CREDENTIALS, else gcloud's ADC file) is only read as
    JSON: a service-account key names its project_id; a user login names none (google-auth
    would then run gcloud for the configuration's project, which jobspec has already read).
    Without a file, google.auth.default() may find one on a metadata server (Compute Engine).
    """
    if all_loopback(aiplatform, env):
        return None, "not asked: every endpoint is on loopback"
    import json

    from jobspec.context import gcloud_folder

    key_file = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    folder = gcloud_folder(env)
    path = key_file or (str(folder / "application_default_credentials.json") if folder else "")
    if key_file or (path and os.path.isfile(path)):
        try:
            with open(path, encoding="utf-8") as handle:
                info = json.load(handle)
        except (OSError, ValueError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            return None, f"cannot read {path}: {reason}"
        project = info.get("project_id") if isinstance(info, dict) else None
        if isinstance(project, str) and project:
            return project, ""
        return None, f"no project in {path}"
    import google.auth
    from google.auth.exceptions import GoogleAuthError

    try:
        _, project = google.auth.default()
    except GoogleAuthError as exc:
        return None, f"no credentials: {_auth_reason(exc).splitlines()[0]}"
    return (str(project) if project else None), "no project"


def _is_loopback(url: str | None) -> bool:
    if not url:
        return False
    host = urlparse(url if "://" in url else f"http://{url}").hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def all_loopback(aiplatform: str, env: Mapping[str, str], *, build: bool = False) -> bool:
    """Every endpoint in use is on loopback; with BUILD, Cloud Build's and Artifact Registry's
    are in use too."""
    from jobspec.context import build_endpoints, logging_for_env, storage_for_env

    more = [url for url, _ in build_endpoints(env).values()] if build else []
    return (_is_loopback(storage_for_env(env)) and _is_loopback(aiplatform)
            and _is_loopback(logging_for_env(env)) and all(_is_loopback(u) for u in more))


@dataclass
class Clients:
    """The three clients a cloud run needs, sharing one set of credentials."""

    project: str | None  # None: the claims say (storage needs none to read a bucket)
    credentials: Any
    aiplatform_endpoint: str
    env: Mapping[str, str]
    _storage: Any = None
    _vertex: Any = None
    _logging: Any = None
    _cloudbuild: Any = None
    _registry: Any = None

    def close(self) -> None:
        """Close every connection, so nothing lingers after a command (or a test) ends."""
        for client in (self._vertex, self._logging, self._storage, self._cloudbuild,
                       self._registry):
            if client is not None:
                client.close()
        self._vertex = self._logging = self._storage = self._cloudbuild = self._registry = None

    def __enter__(self) -> Clients:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def storage(self) -> Any:
        if self._storage is None:
            from google.api_core.client_info import ClientInfo
            from google.cloud import storage

            self._storage = storage.Client(project=self.project, credentials=self.credentials,
                                           _http=_deadline_session(self.credentials),
                                           client_info=ClientInfo(  # type: ignore[no-untyped-call]
                                               user_agent=user_agent()))
        return self._storage

    @property
    def vertex(self) -> Any:
        if self._vertex is None:
            self._vertex = _discovery("aiplatform", "v1", self.aiplatform_endpoint,
                                      self.credentials)
        return self._vertex

    @property
    def logging(self) -> Any:
        if self._logging is None:
            self._logging = _discovery("logging", "v2", logging_endpoint(self.env),
                                       self.credentials)
        return self._logging

    @property
    def cloudbuild(self) -> Any:
        if self._cloudbuild is None:
            from jobspec.context import build_endpoints

            self._cloudbuild = _discovery("cloudbuild", "v1",
                                          build_endpoints(self.env)["cloudbuild"][0],
                                          self.credentials)
        return self._cloudbuild

    @property
    def artifactregistry(self) -> Any:
        if self._registry is None:
            from jobspec.context import build_endpoints

            self._registry = _discovery("artifactregistry", "v1",
                                        build_endpoints(self.env)["artifactregistry"][0],
                                        self.credentials)
        return self._registry


# The resources jobspec calls. Building a client makes a method object for every method of
# every resource on the way down (aiplatform v1 has ~100 beside customJobs): keeping only these
# paths in the shipped document saves ~20 ms a client (bench/README.md). Same requests.
_USED: dict[tuple[str, str], tuple[str | tuple[str, ...], ...]] = {
    ("aiplatform", "v1"): ("projects", "locations", ("customJobs", "hyperparameterTuningJobs")),
    ("logging", "v2"): ("entries",),
    ("cloudbuild", "v1"): ("projects", "locations", "builds"),
    ("artifactregistry", "v1"): ("projects", "locations", "repositories")}


def _only(resources: dict[str, Any], path: tuple[str | tuple[str, ...], ...]
          ) -> dict[str, Any]:
    name, rest = path[0], path[1:]
    if not rest:  # the last step may name several resources
        return {n: resources[n] for n in ((name,) if isinstance(name, str) else name)}
    assert isinstance(name, str)
    node = {k: v for k, v in resources[name].items() if k not in ("methods", "resources")}
    node["resources"] = _only(resources[name].get("resources", {}), rest)
    return {name: node}


def _discovery(api: str, version: str, endpoint: str, credentials: Any) -> Any:
    import json

    from googleapiclient.discovery import UnknownApiNameOrVersion, build_from_document
    from googleapiclient.discovery_cache import get_static_doc

    content = get_static_doc(api, version)  # what build(static_discovery=True) reads
    if content is None:
        raise UnknownApiNameOrVersion(f"name: {api}  version: {version}")
    doc = json.loads(content)
    doc["resources"] = _only(doc["resources"], _USED[(api, version)])
    return build_from_document(doc, http=_SessionHttp(credentials),
                               client_options={"api_endpoint": endpoint})


def connect(project: str | None, aiplatform_endpoint: str,
            env: Mapping[str, str] | None = None, *, build: bool = False) -> Clients:
    """BUILD: the clients will talk to Cloud Build and Artifact Registry too (credentials are
    anonymous only when those are on loopback as well)."""
    env = os.environ if env is None else env
    os.environ.setdefault("DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA", "1")
    if all_loopback(aiplatform_endpoint, env, build=build):
        from google.auth.credentials import AnonymousCredentials

        return Clients(project, AnonymousCredentials(), aiplatform_endpoint, env)  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    key_file = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        credentials, found = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as exc:
        raise _credentials_error(key_file, _auth_reason(exc)) from None
    except (OSError, ValueError, AttributeError, TypeError) as exc:
        if not key_file:  # not a file the user named: a bug keeps its traceback
            raise
        # google-auth lets these through for a folder, an unreadable file, or JSON that is not
        # an object (`[1]` gives "'list' object has no attribute 'get'")
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else (
            f"its content is not a JSON object ({exc})")
        raise _credentials_error(key_file, reason) from None
    # no project named anywhere else: the one Application Default Credentials report
    return Clients(project or (str(found) if found else None), credentials, aiplatform_endpoint,
                   env)


def _auth_reason(exc: BaseException) -> str:
    """google-auth's own words: its errors carry (message, cause) as their arguments."""
    parts = [str(a) if not isinstance(a, BaseException) else f"{type(a).__name__}: {a}"
             for a in exc.args]
    parts = [p.rstrip(".") if i < len(parts) - 1 else p for i, p in enumerate(parts) if p]
    return ": ".join(parts) or type(exc).__name__


def _credentials_error(key_file: str | None, reason: str) -> CloudError:
    if key_file:
        return CloudError(f"cannot use GOOGLE_APPLICATION_CREDENTIALS={key_file}: {reason}",
                          hint="point it at a service-account key file (JSON), or unset it "
                          "to use `gcloud auth application-default login` credentials")
    return CloudError(f"no Google Cloud credentials found: {reason}",
                      hint="run `gcloud auth application-default login`, or set "
                      "GOOGLE_APPLICATION_CREDENTIALS to a service-account key file")
