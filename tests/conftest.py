"""Shared fixtures. The stand-ins (GCS emulator, Vertex/Logging server, network guard) live in
tests/standins/fixtures.py; `cli` runs jobspec in-process, `jobspec_proc` as a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest_plugins = ["tests.standins.fixtures", "tests.standins.build_fixtures"]

REPO = Path(__file__).resolve().parent.parent


@dataclass
class Outcome:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run `jobspec ARGS` in this process, as main() would; returns exit code and output."""
    from jobspec.cli import main

    def run(*args: str, cwd: Path | None = None) -> Outcome:
        if cwd is not None:
            monkeypatch.chdir(cwd)
        capsys.readouterr()
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        captured = capsys.readouterr()
        return Outcome(code, captured.out, captured.err)

    return run


@pytest.fixture
def jobspec_proc():
    """Run jobspec as a real subprocess (`python -m jobspec`)."""

    def run(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> Outcome:
        done = subprocess.run([sys.executable, "-m", "jobspec", *args], cwd=cwd or REPO,
                              env={**os.environ, **(env or {})}, capture_output=True, text=True,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        return Outcome(done.returncode, done.stdout, done.stderr)

    return run


@pytest.fixture(autouse=True)
def _no_users_gcloud_configuration(monkeypatch: pytest.MonkeyPatch,
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    """jobspec reads gcloud's configuration files for a project and region (jobspec/context.py):
    a developer's own configuration must not decide what a test sees. Tests that want one set
    CLOUDSDK_CONFIG themselves."""
    folder = tmp_path_factory.getbasetemp() / "gcloud-config-empty"
    folder.mkdir(exist_ok=True)
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(folder))
