"""An Artifact Registry (artifactregistry v1) stand-in over real HTTP: Docker repositories and
their tags, looked up the way jobspec does.

    registry = ArtifactRegistryStandin().start()
    registry.add_repository("test", "us-central1", "jobspec")
    registry.add_image("us-central1-docker.pkg.dev/test/jobspec/probe:deps-0123")
    registry.has_image(...); registry.requests; registry.faults.add(...); registry.reset()

Routes (system parameters such as alt=json accepted, any other query parameter 400):
- GET /v1/projects/P/locations/L/repositories/R -> Repository {name, format DOCKER, mode, ...}
- GET /v1/projects/P/locations/L/repositories/R/packages/PKG/tags/TAG -> Tag {name, version};
  PKG is the image's path in the repository with '/' escaped as %2F (the Tag schema says so).
A missing repository or tag is 404 NOT_FOUND "Requested entity was not found.".
"""

from __future__ import annotations

import hashlib
import re
import time
import urllib.parse
from typing import Any

from ._http import ApiError
from ._service import Answer, Route, Service

_REPO = (r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/repositories/"
         r"(?P<repository>[^/]+)")
IMAGE = re.compile(r"^(?P<location>[a-z0-9-]+)-docker\.pkg\.dev/(?P<project>[^/]+)/"
                   r"(?P<repository>[^/]+)/(?P<package>[^:@]+):(?P<tag>[\w][\w.-]{0,127})$")


def parse_image(image: str) -> dict[str, str]:
    """'L-docker.pkg.dev/P/R/PKG:TAG' -> its parts (ValueError for anything else)."""
    match = IMAGE.match(image)
    if match is None:
        raise ValueError(f"not an Artifact Registry Docker image with a tag: {image!r}")
    return match.groupdict()


def _not_found() -> ApiError:
    return ApiError(404, "Requested entity was not found.", "NOT_FOUND")


class ArtifactRegistryStandin(Service):
    api = "artifactregistry.v1"
    name = "artifact-registry"

    def __init__(self) -> None:
        self.repositories: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.tags: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        super().__init__()

    def routes(self) -> list[Route]:
        return [("GET", re.compile(_REPO + "$"), "repositories.get", frozenset(),
                 self._get_repository),
                ("GET", re.compile(_REPO + r"/packages/(?P<package>[^/]+)/tags/(?P<tag>[^/]+)$"),
                 "tags.get", frozenset(), self._get_tag)]

    def reset(self) -> None:
        super().reset()
        with self.lock:
            self.repositories.clear()
            self.tags.clear()

    # -- what tests do -----------------------------------------------------------------------
    def add_repository(self, project: str, location: str, repository: str,
                       fmt: str = "DOCKER") -> None:
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        name = f"projects/{project}/locations/{location}/repositories/{repository}"
        with self.lock:
            self.repositories[(project, location, repository)] = {
                "name": name, "format": fmt, "mode": "STANDARD_REPOSITORY",
                "createTime": now, "updateTime": now}

    def has_repository(self, project: str, location: str, repository: str) -> bool:
        with self.lock:
            return (project, location, repository) in self.repositories

    def add_image(self, image: str, digest: str | None = None) -> str:
        """Tag IMAGE (its repository must exist); returns the version's digest."""
        parts = parse_image(image)
        key = (parts["project"], parts["location"], parts["repository"])
        digest = digest or "sha256:" + hashlib.sha256(image.encode()).hexdigest()
        with self.lock:
            if key not in self.repositories:
                raise KeyError(f"no repository {key} for {image}")
            package = urllib.parse.quote(parts["package"], safe="")
            base = (f"projects/{parts['project']}/locations/{parts['location']}/repositories/"
                    f"{parts['repository']}/packages/{package}")
            self.tags[(*key, parts["package"], parts["tag"])] = {
                "name": f"{base}/tags/{parts['tag']}", "version": f"{base}/versions/{digest}"}
        return digest

    def has_image(self, image: str) -> bool:
        parts = parse_image(image)
        with self.lock:
            return (parts["project"], parts["location"], parts["repository"], parts["package"],
                    parts["tag"]) in self.tags

    # -- routes ------------------------------------------------------------------------------
    def _get_repository(self, params: dict[str, str], args: dict[str, str],
                        body: dict[str, Any]) -> Answer:
        with self.lock:
            found = self.repositories.get((params["project"], params["location"],
                                           params["repository"]))
        if found is None:
            raise _not_found()
        return 200, dict(found)

    def _get_tag(self, params: dict[str, str], args: dict[str, str],
                 body: dict[str, Any]) -> Answer:
        with self.lock:
            found = self.tags.get((params["project"], params["location"], params["repository"],
                                   params["package"], params["tag"]))
        if found is None:
            raise _not_found()
        return 200, dict(found)
