"""ruff and `mypy --strict` run inside the suite, so the README's test command (and CI) checks
them: a lint error or a type error fails the build like a failing test."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=300, stdin=subprocess.DEVNULL)


def test_ruff_finds_nothing() -> None:
    done = _run("ruff", "check", "--no-cache", "jobspec", "tests", "bench", "trainer")
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_finds_nothing() -> None:
    # the configuration (strict, files = jobspec) is pyproject.toml's [tool.mypy]
    done = _run("mypy", "--no-incremental", "--cache-dir", "/dev/null")
    assert done.returncode == 0, done.stdout + done.stderr
