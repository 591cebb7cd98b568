"""The trainer's interpreter and isolated runs, end to end with real `jobspec` processes.

The local target runs `python` found on PATH, as gcloud does. `--isolated` pip-installs the
sdist and its requirements from the package index into a venv that sees nothing of the host's
site-packages: here the index is a loopback PEP 503 index (tests/standins/pyindex.py) holding
wheels made in the test, and pip is told to use nothing else, so no test reaches PyPI.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import site
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Outcome
from tests.standins.pyindex import PackageIndex, make_wheel, serve

PY310_IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
TASK = '''\
import json, sys
what = sys.argv[1]
if what == "dep":
    import hello_dep
    print("hello_dep says", hello_dep.GREETING)
elif what == "yaml":
    import yaml
    print("yaml imported")
elif what == "where":
    print(json.dumps({"executable": sys.executable, "prefix": sys.prefix, "path": sys.path}))
elif what == "argv":
    import os
    print(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd(), "listing": os.listdir("."),
                      "executable": sys.executable}))
'''


def make_project(root: Path, requirements: list[str], local: dict[str, Any] | None = None
                 ) -> Path:
    """A project with a one-module trainer; returns its spec."""
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("", encoding="utf-8")
    (root / "trainer" / "task.py").write_text(TASK, encoding="utf-8")
    (root / "pyproject.toml").write_text("[tool.isolated-test]\n", encoding="utf-8")
    return write_spec(root, requirements, local)


def write_spec(root: Path, requirements: list[str], local: dict[str, Any] | None = None
               ) -> Path:
    spec = {"version": 1, "name": "iso",
            "trainer": {"package_path": "trainer", "module": "trainer.task",
                        "requirements": requirements},
            "targets": {"local": local or {}}}
    path = root / "job.yaml"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def jobspec(*args: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 180) -> Outcome:
    done = subprocess.run([sys.executable, "-m", "jobspec", *args], cwd=cwd,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    return Outcome(done.returncode, done.stdout, done.stderr)


def venvs(project: Path) -> list[str]:
    folder = project / ".jobspec" / "venvs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PackageIndex]:
    root = tmp_path_factory.mktemp("index")
    wheels = root / "made"
    wheels.mkdir()
    made = serve(root / "served")
    found = next(made)
    found.add(make_wheel(wheels, "hello_dep", "1.0",
                         {"hello_dep/__init__.py": "GREETING = 'hi'\n"}))
    found.add(make_wheel(wheels, "slow_dep", "1.0", {"slow_dep/__init__.py": ""}))
    yield found
    made.close()


@pytest.fixture(scope="module")
def pip_env(index: PackageIndex, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return index.env(tmp_path_factory.mktemp("pip-cache"))


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory, pip_env: dict[str, str]
        ) -> tuple[Path, Outcome]:
    """One isolated project whose venv every test shares: (its spec, its first run)."""
    spec = make_project(tmp_path_factory.mktemp("iso") / "proj", ["hello_dep"])
    first = jobspec("run", str(spec), "--target", "local", "--isolated", "--", "dep",
                    cwd=spec.parent, env=pip_env)
    return spec, first


def _fresh_venv(folder: Path) -> Path:
    """A venv without pip (cheap): a real interpreter other than jobspec's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    return folder / "bin" / "python"


# --- the interpreter --------------------------------------------------------------------------


def test_python_on_path_runs_the_trainer_and_plan_says_so(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "active-venv")
    spec = make_project(tmp_path / "proj", [])
    env = {"PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}  # as `activate` does
    shown = jobspec("plan", str(spec), "--target", "local", cwd=spec.parent, env=env)
    assert shown.code == 0, shown.err
    assert f"python      {python}  (`python` on PATH)\n" in shown.out
    assert f"  argv      {python} -m trainer.task\n" in shown.out
    as_json = jobspec("plan", str(spec), "--target", "local", "--json", cwd=spec.parent, env=env)
    plan = json.loads(as_json.out)
    assert (plan["python"], plan["python_from"]) == (str(python), "`python` on PATH")
    done = jobspec("run", str(spec), "--target", "local", "--", "where", cwd=spec.parent, env=env)
    assert done.code == 0, done.err
    seen = json.loads(done.out)
    assert seen["executable"] == str(python)
    assert seen["prefix"] == str(tmp_path / "active-venv")


def test_python3_when_path_has_no_python(tmp_path: Path) -> None:
    only3 = tmp_path / "bin"
    only3.mkdir()
    (only3 / "python3").symlink_to(sys.executable)
    spec = make_project(tmp_path / "proj", [])
    done = jobspec("plan", str(spec), "--target", "local", cwd=spec.parent,
                   env={"PATH": str(only3)})
    assert done.code == 0, done.err
    assert f"python      {only3 / 'python3'}  (`python3` on PATH; there is no `python`)" in done.out


def test_target_python_overrides_path(tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "proj" / "venv")
    spec = make_project(tmp_path / "proj", [], local={"python": "venv/bin/python"})
    shown = jobspec("plan", str(spec), "--target", "local", cwd=tmp_path)
    assert f"python      {python}  (targets.local.python)\n" in shown.out
    done = jobspec("run", str(spec), "--target", "local", "--", "where", cwd=tmp_path)
    assert done.code == 0, done.err
    assert json.loads(done.out)["executable"] == str(python)


def test_a_missing_interpreter_is_a_usage_error(tmp_path: Path) -> None:
    spec = make_project(tmp_path / "proj", [])
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    for command in ("plan", "run"):
        done = jobspec(command, str(spec), "--target", "local", cwd=spec.parent,
                       env={"PATH": str(empty)})
        assert done.code == 2, done.err
        assert done.err == ("no `python` or `python3` on PATH to run the trainer with\n"
                            "  hint: activate the environment that has the trainer's "
                            "dependencies, or set targets.local.python\n")
    write_spec(spec.parent, [], local={"python": "python-jobspec-absent"})
    done = jobspec("run", str(spec), "--target", "local", cwd=spec.parent)
    assert done.code == 2
    assert "Traceback" not in done.err
    assert done.err == ("job.yaml:11:17: targets.local.python: interpreter "
                        "'python-jobspec-absent': not found on PATH\n"
                        '   11 |       "python": "python-jobspec-absent"\n'
                        "      |                 ^\n")


def test_plan_describes_the_trainers_interpreter_not_jobspecs(tmp_path: Path) -> None:
    """TensorFlow 1.x in the `python` on PATH (its metadata is what gcloud-like tools read):
    the chief is `master` and the drift warning names that TensorFlow; jobspec's own has none."""
    python = _fresh_venv(tmp_path / "tf1-venv")
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    info = tmp_path / "tf1-venv" / "lib" / f"python{version}" / "site-packages" / (
        "tensorflow-1.15.5.dist-info")
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tensorflow\nVersion: 1.15.5\n",
                                   encoding="utf-8")
    spec = make_project(tmp_path / "proj", [], local={
        "distributed": {"workers": 1, "start_port": 23456}})
    data = json.loads(spec.read_text())
    data["targets"]["cloud"] = {"project": "p", "bucket": "probe-bucket",
                               "executor_image": PY310_IMAGE}
    spec.write_text(json.dumps(data), encoding="utf-8")
    env = {"PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}"}
    with_tf1 = jobspec("plan", str(spec), "--target", "local", cwd=spec.parent, env=env)
    assert with_tf1.code == 0, with_tf1.err
    assert "process     master-0\n" in with_tf1.out
    assert (f"warning     runtime drift against target 'cloud': Python {version} here, 3.10 in "
            "the cloud; TensorFlow 1.15.5 here, 2.17 in the cloud\n") in with_tf1.out
    assert "tensorflow" not in {d.metadata["Name"].lower() for d in metadata.distributions()}
    with_own = jobspec("plan", str(spec), "--target", "local", "--set",
                       f"targets.local.python={sys.executable}", cwd=spec.parent, env=env)
    assert with_own.code == 0, with_own.err
    assert "process     chief-0\n" in with_own.out
    assert f"warning     runtime drift against target 'cloud': Python {version} here, 3.10 in " \
        "the cloud\n" in with_own.out


# --- isolated runs ----------------------------------------------------------------------------


def test_isolated_installs_requirements_from_the_index(iso: tuple[Path, Outcome],
                                                      index: PackageIndex) -> None:
    spec, first = iso
    assert first.code == 0, first.err
    assert first.out == "hello_dep says hi\n"
    assert "into a new isolated venv" in first.err
    assert "/simple/hello-dep/" in index.requests
    again = jobspec("run", str(spec), "--target", "local", "--isolated", "--", "dep",
                    cwd=spec.parent)  # cached: no index needed any more
    assert again.code == 0, again.err
    assert "into a new isolated venv" not in again.err
    shown = jobspec("plan", str(spec), "--target", "local", "--isolated", cwd=spec.parent)
    assert "; the isolated venv is made from it\n" in shown.out
    assert "environment jobspec's own, without CLOUDSDK_* (gcloud's leak), with " \
        "PYTHONUNBUFFERED=1 unless set and PWD=cwd, without PYTHONPATH (isolated); " in shown.out


def test_isolated_fails_on_a_requirement_missing_from_the_spec(iso: tuple[Path, Outcome]
                                                              ) -> None:
    spec, _ = iso
    import yaml  # noqa: F401  (installed here, for jobspec: the trainer must not see it)

    plain = jobspec("run", str(spec), "--target", "local", "--", "yaml", cwd=spec.parent)
    assert plain.code == 0, plain.err
    assert plain.out == "yaml imported\n"
    done = jobspec("run", str(spec), "--target", "local", "--isolated", "--", "yaml",
                   cwd=spec.parent)
    assert done.code == 1
    assert "ModuleNotFoundError: No module named 'yaml'" in done.err


def test_isolated_trainer_sees_no_host_site_packages(iso: tuple[Path, Outcome]) -> None:
    spec, _ = iso
    source = str(spec.parent)  # PYTHONPATH=. would put the source tree before the sdist
    done = jobspec("run", str(spec), "--target", "local", "--isolated", "--", "where",
                   cwd=spec.parent,
                   env={"PYTHONPATH": os.pathsep.join(
                       p for p in (source, os.environ.get("PYTHONPATH")) if p)})
    assert done.code == 0, done.err
    seen = json.loads(done.out)
    assert source not in seen["path"]
    (venv,) = venvs(spec.parent)
    assert seen["prefix"] == str(spec.parent / ".jobspec" / "venvs" / venv)
    host = {os.path.realpath(p) for p in [*site.getsitepackages(), site.getusersitepackages()]}
    leaked = [p for p in seen["path"] if os.path.realpath(p) in host]
    assert leaked == []
    assert not [p for p in seen["path"] if p.endswith(".pth")]


def test_a_killed_build_is_cleaned_up_by_the_next_run(
        iso: tuple[Path, Outcome], index: PackageIndex, pip_env: dict[str, str]) -> None:
    spec, first = iso
    assert first.code == 0, first.err
    project = spec.parent
    other = project / "slow.yaml"
    other.write_text(spec.read_text().replace('"hello_dep"', '"hello_dep", "slow_dep"'),
                     encoding="utf-8")
    # pip's first request, for the build tools: the venv is made, pip is at work
    first_request = "/simple/setuptools/"
    index.slow[first_request] = released = threading.Event()
    before = len(index.requests)
    proc = subprocess.Popen(
        [sys.executable, "-m", "jobspec", "run", str(other), "--target", "local", "--isolated",
         "--", "dep"], cwd=project, env={**os.environ, **pip_env}, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while first_request not in index.requests[before:]:  # pip at work: kill it all now
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        released.set()
        del index.slow[first_request]
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    left = [name for name in venvs(project) if name.startswith(".")]
    assert len(left) == 1  # the killed build's staging folder
    done = jobspec("run", str(spec), "--target", "local", "--isolated", "--", "dep", cwd=project)
    assert done.code == 0, done.err
    assert done.out == "hello_dep says hi\n"
    assert [name for name in venvs(project) if name.startswith(".")] == []
    assert len(venvs(project)) == 1  # the shared venv; nothing of the killed build is used


def test_isolated_runs_the_cloud_launcher_on_the_sdist_at_its_gcs_like_path(
        iso: tuple[Path, Outcome]) -> None:
    spec, first = iso
    assert first.code == 0, first.err
    project = spec.parent
    args = ["argv", "two words", "$HOME", "", "it's", "--flag=a b"]
    plain = jobspec("run", str(spec), "--target", "local", "--", *args, cwd=project)
    done = jobspec("run", str(spec), "--target", "local", "--isolated", "--", *args, cwd=project)
    assert plain.code == 0 and done.code == 0, plain.err + done.err
    source, isolated = json.loads(plain.out), json.loads(done.out)
    assert isolated["argv"] == source["argv"] == args  # through "$@", never re-quoted
    assert isolated["listing"] == []  # an empty folder, as in the container
    assert Path(isolated["cwd"]).parent.parent == project / ".jobspec" / "runs" / "iso"
    (venv,) = venvs(project)
    assert isolated["executable"] == str(project / ".jobspec" / "venvs" / venv / "bin" /
                                         "python3")  # the launcher's `python3`, the venv's
    plan = json.loads(jobspec("plan", str(spec), "-t", "local", "--isolated", "--json",
                              cwd=project).out)
    sha = plan["package"]["sha256"]
    staged = (project / ".jobspec" / "gcs" / "jobspec-local" / "jobspec-staging" / "packages" /
              sha / "trainer-0.0.0.tar.gz")
    assert plan["staged_sdist"] == str(staged)
    assert hashlib.sha256(staged.read_bytes()).hexdigest() == sha
    # pip recorded where it installed the trainer from (PEP 610): that file
    (direct,) = (project / ".jobspec" / "venvs" / venv).glob(
        "lib/python*/site-packages/trainer-0.0.0.dist-info/direct_url.json")
    assert json.loads(direct.read_text())["url"] == staged.as_uri()
    assert plan["processes"][0]["argv"] == [
        "sh", "-c", 'exec python3 -m trainer.task "$@"', "jobspec"]
    assert plan["processes"][0]["cwd"] is None


def test_plan_isolated_shows_the_launcher_and_the_cloud_targets_bucket(tmp_path: Path) -> None:
    spec = make_project(tmp_path / "proj", [])
    data = json.loads(spec.read_text())
    data["targets"]["cloud"] = {"project": "p", "bucket": "their-bucket",
                               "staging_prefix": "/deep/er/", "image": "python:3.11-slim"}
    spec.write_text(json.dumps(data), encoding="utf-8")
    project = spec.parent
    plan = json.loads(jobspec("plan", str(spec), "-t", "local", "--isolated", "--json", "--",
                              "x y", cwd=project).out)
    sha = plan["package"]["sha256"]
    tail = f"their-bucket/deep/er/packages/{sha}/trainer-0.0.0.tar.gz"
    assert plan["staged_sdist"] == str(project / ".jobspec" / "gcs" / tail)
    shown = jobspec("plan", str(spec), "-t", "local", "--isolated", "--", "x y", cwd=project)
    assert shown.code == 0, shown.err
    install = ("PIP_ROOT_USER_ACTION=ignore python3 -m pip install --no-cache-dir "
               f"--disable-pip-version-check --progress-bar off /gcs/{tail}")
    assert (f"staged      {project / '.jobspec' / 'gcs' / tail}\n"
            f"  in cloud  /gcs/{tail}\n"
            f"launcher    sh -c '{install} && exec python3 -m trainer.task \"$@\"' jobspec "
            "'x y'  (as the cloud runs it; .jobspec/gcs/ plays /gcs/)\n") in shown.out
    assert ("  cwd       (a fresh empty folder)\n"
            "  argv      sh -c 'exec python3 -m trainer.task \"$@\"' jobspec 'x y'\n") in shown.out
