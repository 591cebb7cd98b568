"""pytest plugin: the Artifact Registry and Cloud Build stand-ins as fixtures (image builds).

Registered from tests/conftest.py. `build_env` is `cloud_env` plus the two endpoint overrides
(as gcloud names them) and a Docker repository `jobspec` in the test project and region.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from .artifactregistry import ArtifactRegistryStandin
from .cloudbuild import CloudBuildStandin
from .fixtures import CloudEnv
from .gcs import GcsEmulator

FAST = {"JOBSPEC_POLL_MIN": "0.05", "JOBSPEC_POLL_MAX": "0.2", "JOBSPEC_RETRY_BASE": "0.05"}


@pytest.fixture(scope="session")
def _registry_server() -> Iterator[ArtifactRegistryStandin]:
    standin = ArtifactRegistryStandin().start()
    try:
        yield standin  # type: ignore[misc]
    finally:
        standin.stop()


@pytest.fixture(scope="session")
def _cloudbuild_server(gcs_emulator: GcsEmulator,
                       _registry_server: ArtifactRegistryStandin) -> Iterator[CloudBuildStandin]:
    standin = CloudBuildStandin(gcs_emulator, _registry_server).start()
    try:
        yield standin  # type: ignore[misc]
    finally:
        standin.stop()


def _checked(standin: ArtifactRegistryStandin | CloudBuildStandin) -> Iterator[None]:
    standin.reset()
    yield
    errors = list(standin.internal_errors)
    standin.reset()
    if errors:
        pytest.fail(f"the {standin.name} stand-in hit an internal error:\n" + "\n".join(errors),
                    pytrace=False)


@pytest.fixture
def artifact_registry(_registry_server: ArtifactRegistryStandin
                      ) -> Iterator[ArtifactRegistryStandin]:
    """The Artifact Registry stand-in, emptied before and after each test."""
    for _ in _checked(_registry_server):
        yield _registry_server


@pytest.fixture
def cloud_build(_cloudbuild_server: CloudBuildStandin,
                artifact_registry: ArtifactRegistryStandin) -> Iterator[CloudBuildStandin]:
    """The Cloud Build stand-in (pushing to `artifact_registry`), emptied before and after."""
    for _ in _checked(_cloudbuild_server):
        yield _cloudbuild_server


@dataclass(frozen=True)
class BuildEnv:
    cloud: CloudEnv
    registry: ArtifactRegistryStandin
    builds: CloudBuildStandin
    repository: str = "jobspec"

    @property
    def bucket(self) -> str:
        return self.cloud.bucket


@pytest.fixture
def build_env(cloud_env: CloudEnv, artifact_registry: ArtifactRegistryStandin,
              cloud_build: CloudBuildStandin, monkeypatch: pytest.MonkeyPatch) -> BuildEnv:
    """cloud_env + CLOUDSDK_API_ENDPOINT_OVERRIDES_{CLOUDBUILD,ARTIFACTREGISTRY}, short polls,
    and a Docker repository `jobspec` in project test, us-central1."""
    more = {"CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBUILD": cloud_build.url,
            "CLOUDSDK_API_ENDPOINT_OVERRIDES_ARTIFACTREGISTRY": artifact_registry.url, **FAST}
    for key, value in more.items():
        monkeypatch.setenv(key, value)
    cloud_env.env.update(more)
    artifact_registry.add_repository(cloud_env.project, cloud_env.region, "jobspec")
    # a job on an Artifact Registry image runs only when the registry holds it, as on Vertex
    # (the stand-in puts it back on reset)
    cloud_env.vertex.image_exists = (
        lambda uri: "-docker.pkg.dev/" not in uri or artifact_registry.has_image(uri))
    return BuildEnv(cloud_env, artifact_registry, cloud_build)
