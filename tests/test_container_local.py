"""`--container`: the cloud target's image and command, run here with docker or podman.

These machines cannot run containers (no docker daemon; podman cannot start one; no registry
is reachable), so what is proved here is what jobspec hands the runtime: the
container command argument by argument, and, through a stand-in `docker`/`podman` executable
(a few lines of Python in the test's folder that record their argv and environment and exit
with a chosen code), that jobspec runs exactly that command, gives the env values through the
runtime's environment only, maps the exit code and stops the container by name on Ctrl-C.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from jobspec.imagebuild import plan_build
from jobspec.launcher import script

SECRET = "tok-5e3f9a1c77d2b04e"  # an env value that must never show
IMAGE = "python:3.11-slim"
TASK = "import sys\nprint('trainer', sys.argv[1:])\n"


def make_project(root: Path, cloud: dict[str, Any] | None = None,
                 local: dict[str, Any] | None = None,
                 more: dict[str, Any] | None = None) -> Path:
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("", encoding="utf-8")
    (root / "trainer" / "task.py").write_text(TASK, encoding="utf-8")
    (root / "pyproject.toml").write_text("[tool.container-test]\n", encoding="utf-8")
    spec = {"version": 1, "name": "boxed",
            "trainer": {"package_path": "trainer", "module": "trainer.task"},
            "args": ["--steps=3", "two words"], "env": {"API_TOKEN": SECRET, "MODE": "fast"},
            "targets": {"local": {"job_dir": "output/boxed", **(local or {})},
                        "cloud": {"project": "p", "bucket": "box-bucket",
                                  **(cloud if cloud is not None else {"image": IMAGE})},
                        **(more or {})}}
    path = root / "job.yaml"
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def fake_runtime(folder: Path, name: str, *, code: int = 0, sleep: float = 0.0) -> Path:
    """An executable NAME in FOLDER that appends {argv, env} to FOLDER/calls.jsonl; `run`
    prints a line, sleeps SLEEP seconds, and exits with CODE."""
    folder.mkdir(parents=True, exist_ok=True)
    record = folder / "calls.jsonl"
    exe = folder / name
    exe.write_text(
        f"#!{sys.executable}\nimport json, os, sys, time\n"
        f"with open({str(record)!r}, 'a') as fh:\n"
        "    fh.write(json.dumps({'argv': sys.argv, 'env': dict(os.environ)}) + '\\n')\n"
        "if sys.argv[1] == 'run':\n"
        "    print('container says hello', flush=True)\n"
        f"    time.sleep({sleep})\n"
        f"    sys.exit({code})\n", encoding="utf-8")
    exe.chmod(0o755)
    return exe


def calls(folder: Path) -> list[dict[str, Any]]:
    record = folder / "calls.jsonl"
    if not record.exists():
        return []
    return [json.loads(line) for line in record.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """PATH = a folder holding just the named fake runtimes, then a folder with `python`
    (the host's docker client must not be found)."""
    monkeypatch.delenv("JOBSPEC_CONTAINER_RUNTIME", raising=False)
    pybin = tmp_path / "pybin"
    pybin.mkdir()
    (pybin / "python").symlink_to(sys.executable)

    def put(*names: str, code: int = 0, sleep: float = 0.0) -> Path:
        rt = tmp_path / "rt"
        for name in names:
            fake_runtime(rt, name, code=code, sleep=sleep)
        rt.mkdir(exist_ok=True)
        monkeypatch.setenv("PATH", f"{rt}{os.pathsep}{pybin}")
        return rt

    return put


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def expected_argv(runtime: Path, project: Path, *, gpu: list[str], package: dict[str, Any],
                  image: str = IMAGE, bucket: str = "box-bucket",
                  prefix: str = "jobspec-staging") -> list[str]:
    sha, filename = package["sha256"], package["filename"]
    staged = project / ".jobspec" / "gcs" / bucket / prefix / "packages" / sha / filename
    at = f"/gcs/{bucket}/{prefix}/packages/{sha}/{filename}"
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    return [str(runtime), "run", "--rm", "--name", f"jobspec-boxed-{digest}",
            "-v", f"{project}:{project}", "-w", str(project),
            "--tmpfs", str(project / "trainer"),
            "-v", f"{staged}:{at}:ro",
            "-e", "API_TOKEN", "-e", "MODE", "-e", "CLOUD_ML_JOB_ID", "-e", "AIP_MODEL_DIR",
            "-e", "AIP_CHECKPOINT_DIR", "-e", "AIP_TENSORBOARD_LOG_DIR", "-e", "TF_CONFIG",
            "-e", "PYTHONUNBUFFERED", *gpu,
            "--entrypoint", "sh", image, "-c", script(at, "trainer.task"), "jobspec",
            "--steps=3", "two words", "--job-dir", "output/boxed"]


@pytest.mark.parametrize(("runtime", "tier", "gpu"), [
    ("docker", "BASIC", []),
    ("docker", "BASIC_GPU", ["--gpus", "all"]),
    ("podman", "BASIC", []),
    ("podman", "BASIC_GPU", ["--device", "nvidia.com/gpu=all"]),
])
def test_plan_shows_the_container_command_argument_by_argument(
        cli, only, tmp_path: Path, runtime: str, tier: str, gpu: list[str]) -> None:
    rt = only(runtime)
    spec = make_project(tmp_path / "proj", cloud={"image": IMAGE, "scale_tier": tier})
    project = spec.parent.resolve()
    done = cli("plan", str(spec), "--target", "local", "--container", "--json")
    assert done.code == 0, done.err
    plan = json.loads(done.out)
    (proc,) = plan["processes"]
    assert proc["argv"] == expected_argv(rt / runtime, project, gpu=gpu, package=plan["package"])
    assert proc["env"]["API_TOKEN"] == "****"
    assert plan["container"] == {"from": "cloud", "image": IMAGE}
    text = cli("plan", str(spec), "--target", "local", "--container")
    assert text.code == 0, text.err
    assert f"mode        container: {IMAGE}, the image of target 'cloud', run by {rt / runtime}\n" \
        in text.out
    assert "  env       API_TOKEN=****\n" in text.out
    assert SECRET not in done.out + done.err + text.out + text.err


def test_custom_tier_gpus_follow_the_chief(cli, only, tmp_path: Path) -> None:
    rt = only("docker")
    spec = make_project(tmp_path / "proj", cloud={
        "image": IMAGE, "scale_tier": "CUSTOM",
        "chief": {"machine_type": "n1-standard-8",
                  "accelerator": {"type": "NVIDIA_L4", "count": 1}}})
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    argv = plan["processes"][0]["argv"]
    assert argv[0] == str(rt / "docker")
    assert argv[argv.index("--gpus"):argv.index("--gpus") + 2] == ["--gpus", "all"]


def test_run_passes_exactly_that_argv_and_the_env_through_the_environment(
        cli, only, tmp_path: Path) -> None:
    rt = only("docker", code=0)
    spec = make_project(tmp_path / "proj")
    project = spec.parent.resolve()
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    done = cli("run", str(spec), "--target", "local", "--container", cwd=project)
    assert done.code == 0, done.err
    assert done.out == "container says hello\n"
    (call,) = calls(rt)
    assert call["argv"] == expected_argv(rt / "docker", project, gpu=[],
                                         package=plan["package"])
    env = call["env"]
    assert env["API_TOKEN"] == SECRET  # exported to the runtime, which reads -e NAME from it
    assert (env["MODE"], env["CLOUD_ML_JOB_ID"], env["PYTHONUNBUFFERED"]) == ("fast", "boxed", "1")
    assert json.loads(env["TF_CONFIG"])["job"]["args"] == [
        "--steps=3", "two words", "--job-dir", "output/boxed"]
    assert not [a for a in call["argv"] if SECRET in a]
    assert SECRET not in done.out + done.err
    # the mounted file is the sdist the cloud stages, at the path the plan named
    mount = call["argv"][call["argv"].index("--tmpfs") + 3]
    staged = Path(mount.split(":")[0])
    assert staged.is_file() and sha256(staged) == plan["package"]["sha256"]
    assert mount.split(":")[1] == (f"/gcs/box-bucket/jobspec-staging/packages/"
                                   f"{plan['package']['sha256']}/trainer-0.0.0.tar.gz")


@pytest.mark.parametrize(("code", "said"), [
    (3, "container exited with code 3\n"),
    (125, "container exited with code 125 (the container runtime failed: see its message "
          "above)\n"),
])
def test_the_containers_exit_code_is_the_jobs(cli, only, tmp_path: Path, code: int,
                                              said: str) -> None:
    only("docker", code=code)
    spec = make_project(tmp_path / "proj")
    done = cli("run", str(spec), "--target", "local", "--container", cwd=spec.parent)
    assert done.code == 1
    assert done.err == said


def test_podman_when_asked_even_with_docker_on_path(cli, only, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rt = only("docker", "podman")
    spec = make_project(tmp_path / "proj")
    monkeypatch.setenv("JOBSPEC_CONTAINER_RUNTIME", "podman")
    done = cli("run", str(spec), "--target", "local", "--container", cwd=spec.parent)
    assert done.code == 0, done.err
    assert [c["argv"][0] for c in calls(rt)] == [str(rt / "podman")]
    monkeypatch.delenv("JOBSPEC_CONTAINER_RUNTIME")
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    assert plan["processes"][0]["argv"][0] == str(rt / "docker")  # the first found
    monkeypatch.setenv("JOBSPEC_CONTAINER_RUNTIME", "lxc")
    bad = cli("plan", str(spec), "-t", "local", "--container")
    assert (bad.code, bad.err) == (2, "JOBSPEC_CONTAINER_RUNTIME='lxc': expected docker "
                                      "or podman\n")


def test_without_docker_or_podman_exit_2_suggesting_isolated(cli, only, tmp_path: Path) -> None:
    rt = only()
    spec = make_project(tmp_path / "proj")
    for command in ("plan", "run"):
        done = cli(command, str(spec), "--target", "local", "--container")
        assert done.code == 2
        assert done.err == (
            "--container needs docker or podman on PATH, and there is none\n"
            "  hint: install one, or run `--isolated`: the same launcher and sdist in a fresh "
            "venv on this machine, without the image\n")
    assert calls(rt) == []


def test_bring_your_own_image_runs_its_command_with_the_args(cli, only, tmp_path: Path) -> None:
    rt = only("docker")
    spec = make_project(tmp_path / "proj", cloud={
        "image": "us-docker.pkg.dev/p/r/own:1", "command": ["python3", "-m", "own.train"]})
    project = spec.parent.resolve()
    done = cli("run", str(spec), "--target", "local", "--container", cwd=project)
    assert done.code == 0, done.err
    (call,) = calls(rt)
    digest = hashlib.sha256(str(project).encode()).hexdigest()[:8]
    assert call["argv"] == [
        str(rt / "docker"), "run", "--rm", "--name", f"jobspec-boxed-{digest}",
        "-v", f"{project}:{project}", "-w", str(project), "--tmpfs", str(project / "trainer"),
        "-e", "API_TOKEN", "-e", "MODE", "-e", "CLOUD_ML_JOB_ID", "-e", "AIP_MODEL_DIR",
        "-e", "AIP_CHECKPOINT_DIR", "-e", "AIP_TENSORBOARD_LOG_DIR", "-e", "TF_CONFIG",
        "-e", "PYTHONUNBUFFERED",
        "--entrypoint", "python3", "us-docker.pkg.dev/p/r/own:1", "-m", "own.train",
        "--steps=3", "two words", "--job-dir", "output/boxed"]
    assert not (project / ".jobspec" / "gcs").exists()  # nothing staged: the image has it


def test_a_build_target_runs_its_dependencies_image(cli, only, tmp_path: Path) -> None:
    only("docker")
    spec = make_project(tmp_path / "proj", cloud={
        "region": "europe-west4", "build": {"base": IMAGE, "requirements": ["numpy==2.1.0"]}})
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    built = plan_build(base=IMAGE, requirements=["numpy==2.1.0"], system_packages=[],
                       repository="jobspec", project="p", region="europe-west4",
                       job_name="trainer").image
    assert built.startswith("europe-west4-docker.pkg.dev/p/jobspec/trainer:deps-")
    argv = plan["processes"][0]["argv"]
    assert argv[argv.index("--entrypoint") + 2] == built
    assert plan["container"] == {"from": "cloud", "image": built}


def test_which_cloud_target_is_run(cli, only, tmp_path: Path) -> None:
    only("docker")
    gpu = {"kind": "cloud", "project": "p", "bucket": "other-bucket", "image": "gpu:1",
           "scale_tier": "BASIC_GPU"}
    spec = make_project(tmp_path / "two", more={"cloud-gpu": gpu})
    both = cli("plan", "job.yaml", "-t", "local", "--container", cwd=spec.parent)
    assert both.code == 2
    assert both.err == (
        "job.yaml:17:14: targets.local: --container: cloud targets cloud, cloud-gpu all run "
        "container images; set targets.local.container_from to one of them\n"
        '   17 |     "local": {\n'
        "      |              ^\n")
    spec = make_project(tmp_path / "picked", local={"container_from": "cloud-gpu"},
                        more={"cloud-gpu": gpu})
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    argv = plan["processes"][0]["argv"]
    assert plan["container"] == {"from": "cloud-gpu", "image": "gpu:1"}
    assert argv[argv.index("--gpus"):argv.index("--gpus") + 2] == ["--gpus", "all"]
    assert f"/gcs/other-bucket/jobspec-staging/packages/{plan['package']['sha256']}/" in \
        argv[argv.index("--tmpfs") + 3]
    prebuilt = {"executor_image": "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"}
    spec = make_project(tmp_path / "none", cloud=prebuilt)
    none = cli("plan", "job.yaml", "-t", "local", "--container", cwd=spec.parent)
    assert none.code == 2
    assert none.err == (
        "job.yaml:17:14: targets.local: --container runs a cloud target's container image, and "
        "no cloud target of this spec has image, build or runtime_version\n"
        '   17 |     "local": {\n'
        "      |              ^\n")
    spec = make_project(tmp_path / "named", cloud=prebuilt, local={"container_from": "cloud"})
    named = cli("plan", "job.yaml", "-t", "local", "--container", cwd=spec.parent)
    assert named.code == 2
    assert named.err == (
        "job.yaml:19:25: targets.local.container_from: target 'cloud' runs a Google prebuilt "
        "image through pythonPackageSpec (executor_image), not a container: give it image, "
        "build or runtime_version\n"
        '   19 |       "container_from": "cloud"\n'
        "      |                         ^\n")


def test_container_is_for_local_targets_and_excludes_isolated(cli, only, tmp_path: Path) -> None:
    only("docker")
    spec = make_project(tmp_path / "proj")
    cloud = cli("plan", str(spec), "-t", "cloud", "--container")
    assert (cloud.code, cloud.err) == (2, "--container runs a cloud target's container on "
                                          "this machine: --target cloud is a cloud target; "
                                          "name a local one\n")
    both = cli("run", str(spec), "-t", "local", "--container", "--isolated")
    assert both.code == 2
    assert "--isolated and --container are two ways to run the cloud's launcher here: pass " \
        "one" in both.err


def test_ctrl_c_stops_the_container_by_name(only, tmp_path: Path) -> None:
    rt = only("docker", sleep=60)
    spec = make_project(tmp_path / "proj")
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "run", str(spec), "-t", "local",
                             "--container"], cwd=spec.parent, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "container says hello\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    run, stop = calls(rt)
    name = run["argv"][run["argv"].index("--name") + 1]
    assert stop["argv"][1:] == ["stop", "--time", "5", name]
    assert f"stopped container {name}\n" in err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(rt / "docker"):
        time.sleep(0.1)
    assert not _alive(rt / "docker")  # the runtime's client is gone too


def _alive(exe: Path) -> bool:
    """A process of EXE still runs (its argv names the script)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if str(exe).encode() in cmdline[:2]:
            return True
    return False



def test_a_runtime_version_runs_the_image_it_resolves_to(cli, only, tmp_path: Path) -> None:
    only("docker")
    spec = make_project(tmp_path / "proj", cloud={"runtime_version": "9.9"})
    (spec.parent / "pyproject.toml").write_text(
        '[tool.jobspec.runtimes]\n"9.9" = "example.org/frameworks/tf:9.9"\n', encoding="utf-8")
    plan = json.loads(cli("plan", str(spec), "-t", "local", "--container", "--json").out)
    argv = plan["processes"][0]["argv"]
    assert argv[argv.index("--entrypoint"):argv.index("--entrypoint") + 4] == [
        "--entrypoint", "sh", "example.org/frameworks/tf:9.9", "-c"]


def test_a_job_dir_outside_the_mounted_folder_is_warned_about(cli, only, tmp_path: Path) -> None:
    only("docker")
    spec = make_project(tmp_path / "proj", local={"job_dir": str(tmp_path / "elsewhere")})
    done = cli("plan", "job.yaml", "-t", "local", "--container", cwd=spec.parent)
    assert done.code == 0, done.err
    assert (f"warning     job_dir {tmp_path / 'elsewhere'} is outside {spec.parent}, the one "
            "folder mounted in the container: what the trainer writes there stays in the "
            "container, which is removed when it ends\n") in done.out
    inside = make_project(tmp_path / "in", local={"job_dir": str(tmp_path / "in" / "out")})
    assert "warning" not in cli("plan", "job.yaml", "-t", "local", "--container",
                                cwd=inside.parent).out


def test_one_container_for_a_distributed_target_is_refused(cli, only, tmp_path: Path) -> None:
    only("docker")
    spec = make_project(tmp_path / "proj", local={"distributed": {"workers": 1}})
    done = cli("plan", "job.yaml", "-t", "local", "--container", cwd=spec.parent)
    assert done.code == 2
    assert done.err.startswith("job.yaml:19:22: targets.local.distributed: --container runs one "
                               "container (the chief): run distributed targets without it\n")


def test_a_written_container_plan_runs_as_written(cli, only, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    rt = only("docker")
    monkeypatch.setenv("JOBSPEC_TEST_TOKEN", SECRET)
    spec = make_project(tmp_path / "proj")
    data = json.loads(spec.read_text())
    data["env"]["API_TOKEN"] = "${JOBSPEC_TEST_TOKEN}"  # a secret a plan file can carry
    spec.write_text(json.dumps(data), encoding="utf-8")
    made = cli("plan", "job.yaml", "-t", "local", "--container", "--out", "boxed.plan",
               cwd=spec.parent)
    assert made.code == 0, made.err
    assert SECRET not in (spec.parent / "boxed.plan").read_text()
    done = cli("run", "--plan", "boxed.plan", cwd=spec.parent)
    assert done.code == 0, done.err
    (call,) = calls(rt)
    plan = json.loads(cli("plan", "job.yaml", "-t", "local", "--container", "--json",
                          cwd=spec.parent).out)
    assert call["argv"] == plan["processes"][0]["argv"]
    assert call["env"]["API_TOKEN"] == SECRET
