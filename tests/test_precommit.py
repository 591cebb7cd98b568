"""pre-commit runs the `jobspec-validate` hook on a temporary git repository holding a trainer
package, one good spec and one bad spec: the good one passes, the bad one fails with its
`file:line:col` message. Everything runs offline, as real `pre-commit` processes.

Two ways in:

- The published hook, exactly as users consume it: `repo:` + `rev:` pointing at a git copy of
  this repository (a local path instead of a URL), `language: python`. pre-commit clones it,
  creates a virtualenv and runs `pip install .` into it. Offline that works because pip is told
  not to use an index (PIP_NO_INDEX) nor an isolated build environment, and the hook's
  interpreter sees this interpreter's site-packages through PYTHONPATH: jobspec itself is
  built and installed from the copy, its dependencies are found already installed.
- A `repo: local` hook built from the manifest's own fields with `language: system`, the form
  for projects that already install jobspec, driven through `pre-commit install` and real
  `git commit`s: the good spec's commit goes through, the bad spec's is refused.

HOME, XDG folders and PRE_COMMIT_HOME point into tmp_path, so nothing touches ~/.cache.
"""

from __future__ import annotations

import os
import re
import shutil
import site
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

MANIFEST = REPO / ".pre-commit-hooks.yaml"

GOOD = """\
version: 1
name: good_job
trainer:
  package_path: ../trainer
  module: trainer.task
targets:
  local: {}
  cloud:
    bucket: my-bucket
    region: us-central1
    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest
"""
BAD = GOOD.replace("name: good_job", "name: bad_job").replace("    region:", "    regoin:")
BAD_MESSAGE = ("specs/bad.yaml:10:5: targets.cloud.regoin: unknown key (did you mean 'region'?)\n"
               "   10 |     regoin: us-central1\n")


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = run(["git", *args], cwd, env)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def pre_commit(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "pre_commit", *args], cwd, env)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
            "XDG_DATA_HOME": str(home / ".local/share"), "XDG_CONFIG_HOME": str(home / ".config"),
            "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never",
            "GIT_CONFIG_NOSYSTEM": "1"}


@pytest.fixture
def project(tmp_path: Path, env: dict[str, str]) -> Path:
    root = tmp_path / "project"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text("print('training')\n")
    (root / "specs").mkdir()
    (root / "specs" / "good.yaml").write_text(GOOD)
    (root / "specs" / "bad.yaml").write_text(BAD)
    # YAML that is not a job file: the hook's `files` pattern must leave it alone
    (root / "config").mkdir()
    (root / "config" / "settings.yaml").write_text("colour: blue\n")
    git(root, env, "init", "-q")
    git(root, env, "config", "user.name", "Test")
    git(root, env, "config", "user.email", "test@example.invalid")
    git(root, env, "config", "commit.gpgsign", "false")
    return root


def published_hook() -> dict[str, object]:
    hooks = yaml.safe_load(MANIFEST.read_text())
    assert [h["id"] for h in hooks] == ["jobspec-validate"]
    hook: dict[str, object] = hooks[0]
    return hook


def write_config(project: Path, env: dict[str, str], repo: dict[str, object]) -> None:
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump({"repos": [repo]}))
    git(project, env, "add", "-A")


def assert_good_passes_and_bad_fails(project: Path, env: dict[str, str]) -> None:
    good = pre_commit(project, env, "run", "--files", "specs/good.yaml")
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"^jobspec validate\.+Passed$", good.stdout, re.M), good.stdout

    # every file: the hook gets the job files only (config/settings.yaml would fail)
    everything = pre_commit(project, env, "run", "--all-files")
    assert everything.returncode == 1, everything.stdout + everything.stderr
    assert re.search(r"^jobspec validate\.+Failed$", everything.stdout, re.M)
    assert "- exit code: 2" in everything.stdout
    assert BAD_MESSAGE in everything.stdout
    assert "1 problem(s) in 1 file(s)" in everything.stdout
    assert "settings.yaml" not in everything.stdout and "good.yaml:" not in everything.stdout


def test_the_manifest_is_valid_and_its_files_pattern_picks_job_files() -> None:
    done = run([sys.executable, "-m", "pre_commit", "validate-manifest", str(MANIFEST)],
               REPO, dict(os.environ))
    assert done.returncode == 0, done.stdout + done.stderr
    hook = published_hook()
    assert (hook["entry"], hook["language"], hook["types"]) == (
        "jobspec validate", "python", ["yaml"])
    pattern = re.compile(str(hook["files"]))
    picked = ["specs/census.yaml", "specs/sweeps/lr.yml", "svc/specs/a.yaml", "jobspec.yaml",
              "svc/jobspec.yml"]
    ignored = ["config.yaml", "specs.yaml", "myjobspec.yaml", "specs/notes.txt",
               ".github/workflows/ci.yaml", "myspecs/a.yaml"]
    assert [p for p in picked if not pattern.search(p)] == []
    assert [p for p in ignored if pattern.search(p)] == []


def test_the_published_hook_installs_offline_and_checks_specs(
        tmp_path: Path, env: dict[str, str], project: Path) -> None:
    # the hook repository as a user's `repo:` would give it: a git repo at a commit
    hook_repo = tmp_path / "jobspec-repo"
    hook_repo.mkdir()
    for name in (".pre-commit-hooks.yaml", "pyproject.toml", "README.md"):
        shutil.copyfile(REPO / name, hook_repo / name)
    shutil.copytree(REPO / "jobspec", hook_repo / "jobspec",
                    ignore=shutil.ignore_patterns("__pycache__"))
    git(hook_repo, env, "init", "-q")
    git(hook_repo, env, "add", "-A")
    git(hook_repo, env, "-c", "user.name=T", "-c", "user.email=t@example.invalid",
        "commit", "-q", "-m", "hooks")
    rev = git(hook_repo, env, "rev-parse", "HEAD")
    write_config(project, env, {"repo": str(hook_repo), "rev": rev,
                                "hooks": [{"id": "jobspec-validate"}]})

    offline = {**env, "PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0",
               "PIP_DISABLE_PIP_VERSION_CHECK": "1", "VIRTUALENV_NO_PERIODIC_UPDATE": "1",
               "PYTHONPATH": os.pathsep.join(
                   [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
                   + site.getsitepackages())}
    assert_good_passes_and_bad_fails(project, offline)

    # pre-commit gave the hook its own environment, with jobspec installed from the copy
    installed = list((tmp_path / "pre-commit-home").glob(
        "repo*/py_env-*/lib/python*/site-packages/jobspec/cli.py"))
    assert len(installed) == 1
    assert installed[0].read_bytes() == (hook_repo / "jobspec" / "cli.py").read_bytes()


def test_a_local_hook_from_the_manifest_fields_passes_a_good_commit_and_blocks_a_bad_one(
        env: dict[str, str], project: Path) -> None:
    hook = {**published_hook(), "language": "system"}
    (project / ".pre-commit-config.yaml").write_text(
        yaml.safe_dump({"repos": [{"repo": "local", "hooks": [hook]}]}))
    installed = pre_commit(project, env, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr

    # the hook checks good.yaml, and is not given config/settings.yaml (not a job file)
    git(project, env, "add", ".pre-commit-config.yaml", "trainer", "config", "specs/good.yaml")
    committed = run(["git", "commit", "-m", "good spec"], project, env)
    assert committed.returncode == 0, committed.stdout + committed.stderr
    # a git hook's output goes to git's stderr
    assert re.search(r"^jobspec validate\.+Passed$", committed.stderr, re.M), committed.stderr

    git(project, env, "add", "specs/bad.yaml")
    refused = run(["git", "commit", "-m", "bad spec"], project, env)
    assert refused.returncode == 1
    assert BAD_MESSAGE in refused.stderr
    assert git(project, env, "log", "--format=%s") == "good spec"
