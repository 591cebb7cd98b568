"""pytest plugin: the cloud stand-ins as fixtures, and a network guard for every test.

Register from tests/conftest.py with `pytest_plugins = ["tests.standins.fixtures"]`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from . import netguard
from .gcs import GcsEmulator, GcsError
from .gcsproxy import GcsProxy
from .vertex import VertexStandin

PROJECT = "test"
REGION = "us-central1"
# google.auth must never probe the GCE metadata server: skip the check, and should anything
# still look, send it to a closed loopback port.
GUARD_ENV = {
    "NO_GCE_CHECK": "True",
    "GCE_METADATA_HOST": "127.0.0.1:9",
    "GCE_METADATA_IP": "127.0.0.1:9",
}
_SITECUSTOMIZE = "import _jobspec_netguard\n_jobspec_netguard.install()\n"


class GuardedHosts:
    """'host:port' of each attempt the guard refused in this process (live, like a list).

    from_subprocesses() gives what guarded Python subprocesses refused (whole session).
    """

    def __init__(self) -> None:
        self.log_path: Path | None = None

    def __iter__(self) -> Iterator[str]:
        return iter(list(netguard.attempts))

    def __len__(self) -> int:
        return len(netguard.attempts)

    def __contains__(self, item: object) -> bool:
        return item in netguard.attempts

    def __getitem__(self, index: int) -> str:
        return netguard.attempts[index]

    def __repr__(self) -> str:
        return f"GuardedHosts({netguard.attempts!r})"

    def clear(self) -> None:
        del netguard.attempts[:]

    def from_subprocesses(self) -> list[str]:
        if self.log_path is None or not self.log_path.exists():
            return []
        return [line.split(" ", 1)[1] for line in self.log_path.read_text().splitlines()]


_GUARDED = GuardedHosts()


@pytest.fixture(scope="session", autouse=True)
def _network_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Session-wide: this process, and Python subprocesses via sitecustomize, stay on loopback."""
    guard_dir = tmp_path_factory.mktemp("netguard")
    shutil.copyfile(Path(netguard.__file__), guard_dir / "_jobspec_netguard.py")
    log = guard_dir / "attempts.log"
    env = dict(GUARD_ENV, JOBSPEC_NETGUARD_PATH=str(guard_dir), JOBSPEC_NETGUARD_LOG=str(log))
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        # Only where no sitecustomize exists already: ours must not hide the machine's own.
        if not _has_sitecustomize():
            (guard_dir / "sitecustomize.py").write_text(_SITECUSTOMIZE)
            mp.setenv("PYTHONPATH", os.pathsep.join(
                p for p in (str(guard_dir), os.environ.get("PYTHONPATH", "")) if p))
        _GUARDED.log_path = log
        netguard.install()
        try:
            yield
        finally:
            netguard.uninstall()


def _has_sitecustomize() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("sitecustomize") is not None
    except (ImportError, ValueError):
        return False


@pytest.fixture(autouse=True)
def _network_guard_check(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test whose code tried the network, even if a library swallowed the error."""
    start = len(netguard.attempts)
    sub_start = len(_GUARDED.from_subprocesses())
    yield
    if "guarded_hosts" in request.fixturenames:
        return
    tried = netguard.attempts[start:] + _GUARDED.from_subprocesses()[sub_start:]
    if tried:
        pytest.fail(f"test tried to reach the network: {', '.join(tried)}", pytrace=False)


@pytest.fixture
def guarded_hosts() -> Iterator[GuardedHosts]:
    """The attempts the guard refused during this test (a test that asks for it may try)."""
    _GUARDED.clear()
    yield _GUARDED
    _GUARDED.clear()


@pytest.fixture(scope="session")
def gcs_emulator() -> Iterator[GcsEmulator]:
    emulator = GcsEmulator().start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def gcs_bucket(gcs_emulator: GcsEmulator) -> Iterator[str]:
    name = f"jobspec-test-{uuid.uuid4().hex[:12]}"
    gcs_emulator.create_bucket(name)
    yield name
    with contextlib.suppress(GcsError):
        gcs_emulator.delete_bucket(name)


@pytest.fixture(scope="session")
def _vertex_server(gcs_emulator: GcsEmulator) -> Iterator[VertexStandin]:
    standin = VertexStandin(gcs_emulator.url).start()
    try:
        yield standin
    finally:
        standin.stop()


@pytest.fixture
def vertex(_vertex_server: VertexStandin) -> Iterator[VertexStandin]:
    """The Vertex + Logging stand-in, emptied before and after each test."""
    _vertex_server.reset()
    yield _vertex_server
    errors = list(_vertex_server.internal_errors)
    _vertex_server.reset()
    if errors:
        pytest.fail("the Vertex stand-in hit an internal error:\n" + "\n".join(errors),
                    pytrace=False)


@dataclass(frozen=True)
class CloudEnv:
    bucket: str
    vertex: VertexStandin
    gcs: GcsEmulator
    project: str = PROJECT
    region: str = REGION
    env: dict[str, str] = field(default_factory=dict)

    @property
    def parent(self) -> str:
        return f"projects/{self.project}/locations/{self.region}"


@pytest.fixture
def cloud_env(monkeypatch: pytest.MonkeyPatch, gcs_emulator: GcsEmulator, gcs_bucket: str,
              vertex: VertexStandin) -> CloudEnv:
    """Environment of a jobspec run against the stand-ins, as Google's tools spell it."""
    env = {
        "STORAGE_EMULATOR_HOST": gcs_emulator.url,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": vertex.url,
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING": vertex.url,
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "DISABLE_GCS_PYTHON_CLIENT_OTEL_BUCKET_METADATA": "1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return CloudEnv(bucket=gcs_bucket, vertex=vertex, gcs=gcs_emulator, env=env)


@pytest.fixture(scope="session")
def _gcs_proxy_server(gcs_emulator: GcsEmulator) -> Iterator[GcsProxy]:
    proxy = GcsProxy(gcs_emulator.url).start()
    try:
        yield proxy
    finally:
        proxy.stop()


@pytest.fixture
def gcs_proxy(cloud_env: CloudEnv, _gcs_proxy_server: GcsProxy,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[GcsProxy]:
    """cloud_env, with google-cloud-storage going through the fault-injecting GcsProxy:
    STORAGE_EMULATOR_HOST (and cloud_env.env) point at the proxy. Emptied before and after."""
    _gcs_proxy_server.reset()
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", _gcs_proxy_server.url)
    cloud_env.env["STORAGE_EMULATOR_HOST"] = _gcs_proxy_server.url
    yield _gcs_proxy_server
    _gcs_proxy_server.reset()
