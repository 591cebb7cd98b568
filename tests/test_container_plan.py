"""Cloud plans on container images: `image:` and `runtime_version` run the staged sdist through
the launcher (containerSpec), `command:` runs an image that holds the trainer (nothing staged),
`build:` runs a dependencies image jobspec plans, `executor_image` keeps pythonPackageSpec. Every
request body passes the strict discovery checker and Vertex's own checks, the equivalent gcloud
line makes the same job, and plan files carry the new fields."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from jobspec import launcher
from jobspec.plandata import CloudPlan, dump_plan, load_plan
from tests.standins._schema import Validator, check_custom_job
from tests.test_plan import discovery_problems

TF17 = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"
RAY = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
ARGS = ["--a=1", "--b=2", "--c", "3 4", "--job-dir", "gs://my-bucket/probe"]
ENV = [{"name": "MODE", "value": "test"}, {"name": "API_TOKEN", "value": "****"}]


def _spec(tmp_path: Path, cloud: str, *, requirements: str = "[numpy]") -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    (tmp_path / "trainer").mkdir(exist_ok=True)
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("print('hi')\n")
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\nname: probe\n"
        f"trainer: {{package_path: trainer, module: trainer.task, requirements: {requirements}}}\n"
        "args: [--a=1]\nenv: {MODE: test, API_TOKEN: s3cr3t-value}\n"
        "targets:\n  cloud:\n    bucket: my-bucket\n    project: proj\n    args: [--b=2]\n"
        + cloud)
    return path


def _plan(cli: Any, spec: Path, *more: str) -> dict[str, Any]:
    out = cli("plan", str(spec), "--target", "cloud", "--json", *more, "--", "--c", "3 4")
    assert out.code == 0, out.err
    plan: dict[str, Any] = json.loads(out.out)
    return plan


def _valid(body: dict[str, Any]) -> None:
    """The strict checks: every field known and typed (two checkers), then Vertex's own."""
    assert discovery_problems(body) == []
    Validator("aiplatform.v1").message(body, "GoogleCloudAiplatformV1CustomJob", "custom_job")
    check_custom_job(body)


def _pools(plan: dict[str, Any]) -> list[dict[str, Any]]:
    pools: list[dict[str, Any]] = plan["request"]["jobSpec"]["workerPoolSpecs"]
    return pools


# --- image: the staged sdist through the launcher ------------------------------------------


def test_image_runs_the_staged_sdist_through_the_launcher_in_every_pool(cli, tmp_path: Path
                                                                        ) -> None:
    spec = _spec(tmp_path, "    image: python:3.11-slim\n    scale_tier: CUSTOM\n"
                           "    chief: {machine_type: n1-standard-4}\n"
                           "    workers: {machine_type: n1-standard-4, count: 2}\n")
    plan = _plan(cli, spec)
    _valid(plan["request"])
    staged = launcher.gcs_path(plan["staging_uri"])
    assert staged == plan["staged_path"] == (
        f"/gcs/my-bucket/jobspec-staging/packages/{plan['package']['sha256']}/"
        "trainer-0.0.0.tar.gz")
    expected = {"imageUri": "python:3.11-slim",
                "command": launcher.command(staged, "trainer.task"), "args": ARGS, "env": ENV}
    chief, workers = _pools(plan)
    assert chief["containerSpec"] == workers["containerSpec"] == expected
    assert "pythonPackageSpec" not in chief
    assert (plan["mode"], plan["image"], plan["build"]) == ("container", "python:3.11-slim", None)
    assert plan["command"] == expected["command"]
    assert plan["command"][:2] == ["sh", "-c"] and plan["command"][3] == "jobspec"
    assert plan["warnings"] == []


def test_runtime_version_resolves_to_a_maintained_image_with_cuda_for_accelerators(
        cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, '    runtime_version: "2.19"\n')
    plan = _plan(cli, spec)
    _valid(plan["request"])
    (pool,) = _pools(plan)
    assert pool["containerSpec"]["imageUri"] == "tensorflow/tensorflow:2.19.0"
    assert pool["containerSpec"]["command"] == launcher.command(plan["staged_path"],
                                                                "trainer.task")
    gpu = _plan(cli, spec, "--set", "targets.cloud.scale_tier=BASIC_GPU")
    _valid(gpu["request"])
    (pool,) = _pools(gpu)
    assert pool["containerSpec"]["imageUri"] == "tensorflow/tensorflow:2.19.0-gpu"
    assert pool["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"


def test_pyproject_maps_a_version_to_a_container_image_or_a_prebuilt_one(cli, tmp_path: Path
                                                                         ) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.jobspec.runtimes]\n"mine" = "europe-docker.pkg.dev/proj/imgs/tf:7"\n'
        f'"ray" = "{RAY}"\n')
    spec = _spec(tmp_path, '    runtime_version: "mine"\n')
    mine = _plan(cli, spec)
    assert (mine["mode"], mine["image"]) == ("container", "europe-docker.pkg.dev/proj/imgs/tf:7")
    ray = _plan(cli, spec, "--set", "targets.cloud.runtime_version=ray")
    _valid(ray["request"])
    assert ray["mode"] == "python-package"
    assert _pools(ray)[0]["pythonPackageSpec"]["executorImageUri"] == RAY


# --- command: bring your own image, nothing staged -----------------------------------------


def test_command_runs_the_image_as_given_and_stages_nothing(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    image: europe-docker.pkg.dev/proj/imgs/trainer:3\n"
                           "    command: [python3, -m, trainer.task]\n")
    plan = _plan(cli, spec)
    _valid(plan["request"])
    (pool,) = _pools(plan)
    assert pool["containerSpec"] == {"imageUri": "europe-docker.pkg.dev/proj/imgs/trainer:3",
                                     "command": ["python3", "-m", "trainer.task"],
                                     "args": ARGS, "env": ENV}
    assert (plan["mode"], plan["package"], plan["staging_uri"], plan["staged_path"]) == (
        "command", None, None, None)
    text = cli("plan", str(spec), "--target", "cloud").out
    assert "mode        container, bring your own image: its own command, nothing staged" in text
    assert "staging" not in text and "package  " not in text


def test_a_command_job_uploads_nothing(cli, cloud_env, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    image: europe-docker.pkg.dev/proj/imgs/trainer:3\n"
                           "    command: [python3, -m, trainer.task]\n")
    ran = cli("run", str(spec), "--target", "cloud", "--detach", "--set",
              f"targets.cloud.bucket={cloud_env.bucket}", "--set", "targets.cloud.project=test")
    assert ran.code == 0, ran.err
    (job,) = cloud_env.vertex.jobs.values()
    assert job["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["command"] == [
        "python3", "-m", "trainer.task"]
    assert cloud_env.gcs.list_objects(cloud_env.bucket) == ["probe/.jobspec/claim.json"]
    claim = json.loads(cloud_env.gcs.read_object(cloud_env.bucket, "probe/.jobspec/claim.json"))
    assert claim["package_sha256"] is None and claim["state"] == "submitted"
    assert "uploaded" not in ran.err


# --- build: a dependencies image -----------------------------------------------------------


def test_build_runs_the_planned_dependencies_image(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    region: europe-west4\n"
                           "    build: {base: python:3.11-slim, system_packages: [libgomp1]}\n",
                 requirements="[numpy, scipy]")
    plan = _plan(cli, spec)
    _valid(plan["request"])
    build = plan["build"]
    assert build["image"] == plan["image"] == _pools(plan)[0]["containerSpec"]["imageUri"]
    assert build["image"].startswith("europe-west4-docker.pkg.dev/proj/jobspec/trainer:deps-")
    assert build["tag"] == build["image"].rsplit(":", 1)[1]
    assert build["repository"] == "projects/proj/locations/europe-west4/repositories/jobspec"
    assert build["files"]["requirements.txt"] == "numpy\nscipy\n"  # trainer.requirements
    assert build["files"]["Dockerfile"].startswith("FROM python:3.11-slim\n")
    assert plan["mode"] == "container" and plan["staging_uri"] is not None
    text = cli("plan", str(spec), "--target", "cloud").out
    lines = text.splitlines()
    at = lines.index(f"build       {build['image']}  (Cloud Build makes it first, unless Artifact"
                     " Registry has the tag)")
    assert lines[at + 1:at + 3] == ["  docker    FROM python:3.11-slim",
                                    "  docker    RUN apt-get update && apt-get install -y"
                                    " --no-install-recommends libgomp1 && rm -rf"
                                    " /var/lib/apt/lists/*"]
    assert lines[at + 5:at + 7] == ["  pip       numpy", "  pip       scipy"]
    # the build's own requirements win over the trainer's; a code change keeps the tag
    own = _plan(cli, spec, "--set", "targets.cloud.build.requirements=[numpy]")
    assert own["build"]["files"]["requirements.txt"] == "numpy\n"
    (tmp_path / "trainer" / "task.py").write_text("print('changed')\n")
    again = _plan(cli, spec)
    assert again["build"]["tag"] == build["tag"]
    assert again["package"]["sha256"] != plan["package"]["sha256"]


# --- executor_image: Google's prebuilt images ----------------------------------------------


def test_an_expired_executor_image_is_refused_at_its_line_with_a_ready_image_line(
        cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"    executor_image: {TF17}\n")
    for command in ("plan", "run"):
        out = cli(command, str(spec), "--target", "cloud")
        assert out.code == 2
        assert out.err.startswith(
            f"{spec}:11:21: targets.cloud.executor_image: executor_image tf-cpu.2-17.py310"
            " reached its end of availability on 2026-07-11")
        assert "Use instead `image: tensorflow/tensorflow:2.17.0`" in out.err
        assert ("allow_unavailable_image: true (or --set"
                " targets.cloud.allow_unavailable_image=true)") in out.err
        assert "Traceback" not in out.err


def test_the_override_submits_the_expired_image_with_a_warning(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"    executor_image: {TF17}\n")
    plan = _plan(cli, spec, "--set", "targets.cloud.allow_unavailable_image=true")
    _valid(plan["request"])
    assert plan["mode"] == "python-package"
    (pool,) = _pools(plan)
    assert pool["pythonPackageSpec"] == {"executorImageUri": TF17,
                                         "packageUris": [plan["staging_uri"]],
                                         "pythonModule": "trainer.task", "args": ARGS,
                                         "env": ENV}
    (warning,) = [w for w in plan["warnings"] if "availability" in w]
    assert "Submitting anyway (allow_unavailable_image: true)" in warning


def test_an_expired_image_is_refused_as_image_too(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, f"    image: {TF17}\n")
    out = cli("plan", str(spec), "--target", "cloud")
    assert out.code == 2 and "targets.cloud.image: image tf-cpu.2-17.py310 reached" in out.err


# --- gcloud makes the same job -------------------------------------------------------------


def _gcloud_creates(words: list[str], vertex_url: str, tmp_path: Path) -> dict[str, Any]:
    """Run the plan's gcloud line against the Vertex stand-in; the body gcloud sent."""
    config = tmp_path / "gcloud-config"
    config.mkdir()
    token = tmp_path / "token"
    token.write_text("test-token")
    env = {**os.environ, "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_PROJECT": "proj",
           "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM": vertex_url,
           "CLOUDSDK_AUTH_ACCESS_TOKEN_FILE": str(token),
           "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false", "CLOUDSDK_METRICS_ENVIRONMENT": "bench",
           "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1"}
    done = subprocess.run([*words, "--format=json"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    sent: dict[str, Any] = json.loads(done.stdout)
    return sent


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
@pytest.mark.parametrize("cloud", [
    "    image: python:3.11-slim\n",
    "    image: gcr.io/proj/trainer:3\n    command: [python3, -m, trainer.task]\n",
    f"    executor_image: {RAY}\n"])
def test_the_gcloud_line_makes_the_same_job(cli, vertex, tmp_path: Path, cloud: str) -> None:
    spec = _spec(tmp_path, cloud + "    scale_tier: STANDARD_1\n    region: us-central1\n")
    out = cli("plan", str(spec), "--target", "cloud", "--json", "--set", "env={}",
              "--", "--x", "a,b c")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    sent = _gcloud_creates(plan["gcloud"], vertex.url, tmp_path)
    job = vertex.jobs[sent["name"].rsplit("/", 1)[1]]
    assert job["displayName"] == plan["request"]["displayName"]
    assert job["labels"] == plan["request"]["labels"]
    for made, planned in zip(job["jobSpec"]["workerPoolSpecs"],
                             plan["request"]["jobSpec"]["workerPoolSpecs"], strict=True):
        for key in ("containerSpec", "pythonPackageSpec", "machineSpec"):
            assert made.get(key) == planned.get(key), key
        assert int(made["replicaCount"]) == int(planned["replicaCount"])


# --- plans as data and as text -------------------------------------------------------------


@pytest.mark.parametrize("cloud", [
    "    image: python:3.11-slim\n",
    "    image: gcr.io/p/t:1\n    command: [python3, -m, trainer.task]\n",
    "    build: {base: python:3.11-slim}\n",
    f"    executor_image: {RAY}\n"])
def test_plan_files_carry_mode_image_build_and_package(tmp_path: Path, cloud: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from jobspec.loader import load
    from jobspec.plan import Host, plan_cloud

    monkeypatch.setenv("API_TOKEN_SOURCE", "s3cr3t-value")
    spec = _spec(tmp_path, cloud)
    spec.write_text(spec.read_text().replace("API_TOKEN: s3cr3t-value",
                                             "API_TOKEN: '${API_TOKEN_SOURCE}'"))
    plan = plan_cloud(load(spec, target="cloud"), submission_id="abc",
                      host=Host(env=dict(os.environ)))
    again = load_plan(dump_plan(plan), "plan.json")
    assert isinstance(again, CloudPlan)
    assert again == plan
    assert (again.mode, again.image, again.build, again.package is None) == (
        plan.mode, plan.image, plan.build, plan.mode == "command")
    data = json.loads(dump_plan(plan))
    data["plan"]["mode"] = "docker"
    with pytest.raises(Exception, match="'mode' is not one of container, command, python-package"):
        load_plan(json.dumps(data), "plan.json")


def test_plan_text_shows_mode_image_launcher_and_staged_path(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    image: python:3.11-slim\n")
    text = cli("plan", str(spec), "--target", "cloud").out
    plan = _plan(cli, spec)
    lines = text.splitlines()
    assert ("mode        container: the launcher installs the staged sdist, then runs the module"
            in lines)
    assert "image       python:3.11-slim" in lines
    assert f"staging     {plan['staging_uri']}" in lines
    assert f"  in job    {plan['staged_path']}" in lines
    command = next(line for line in lines if line.startswith("command     "))
    assert command.startswith("command     sh -c 'PIP_ROOT_USER_ACTION=ignore python3 -m pip ")
    assert command.endswith(' && exec python3 -m trainer.task "$@"\' jobspec')
    assert "--worker-pool-spec=machine-type=n1-standard-4,replica-count=1,container-image-uri=" \
           "python:3.11-slim" in text
    assert "  note      gcloud has no flag for the env above" in text
    assert "s3cr3t-value" not in text


def test_runtime_drift_is_told_for_a_container_image_of_known_python(tmp_path: Path) -> None:
    from jobspec.loader import load
    from jobspec.plan import Host, plan_local

    spec = _spec(tmp_path, "    image: python:3.10-slim\n")
    spec.write_text(spec.read_text().replace("targets:\n", "targets:\n  local: {}\n"))
    plan = plan_local(load(spec, target="local"), host=Host(python_version="3.11"))
    assert plan.warnings == ("runtime drift against target 'cloud': Python 3.11 here, 3.10 in "
                             "the cloud",)
    same = plan_local(load(spec, target="local"), host=Host(python_version="3.10"))
    assert same.warnings == ()
    tf = tmp_path / "tf.yaml"
    tf.write_text(spec.read_text().replace("image: python:3.10-slim",
                                           "image: tensorflow/tensorflow:2.18.0-gpu"))
    drift = plan_local(load(tf, target="local"),
                       host=Host(python_version="3.11", tensorflow="2.15.1"))
    assert drift.warnings == ("runtime drift against target 'cloud': TensorFlow 2.15.1 here, "
                              "2.18 in the cloud",)


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_args_gcloud_cannot_repeat_go_through_a_config_file(cli, vertex, tmp_path: Path) -> None:
    """gcloud 528's --args refuses an item given twice ("1000" in --train-steps 1000
    --eval-steps 1000); the plan's gcloud line then reads the request's jobSpec from
    custom_job_spec.yaml, which makes the same job."""
    spec = _spec(tmp_path, "    image: python:3.11-slim\n    region: us-central1\n")
    out = cli("plan", str(spec), "--target", "cloud", "--json", "--set", "env={}",
              "--", "--train-steps", "1000", "--eval-steps", "1000")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    words = plan["gcloud"]
    assert "--config=custom_job_spec.yaml" in words
    assert not any(w.startswith(("--args=", "--worker-pool-spec=", "--command=")) for w in words)
    text = cli("plan", str(spec), "--target", "cloud", "--set", "env={}",
               "--", "--train-steps", "1000", "--eval-steps", "1000").out
    assert ("  note      custom_job_spec.yaml: the request's jobSpec above, as YAML or JSON; "
            "gcloud's --args and --command refuse an item given twice ('1000')"
            in text.splitlines())
    config = tmp_path / "custom_job_spec.yaml"
    config.write_text(json.dumps(plan["request"]["jobSpec"]))  # JSON is YAML
    sent = _gcloud_creates([f"--config={config}" if w == "--config=custom_job_spec.yaml" else w
                            for w in words], vertex.url, tmp_path)
    job = vertex.jobs[sent["name"].rsplit("/", 1)[1]]
    assert job["labels"] == plan["request"]["labels"]
    (made,) = job["jobSpec"]["workerPoolSpecs"]
    (planned,) = plan["request"]["jobSpec"]["workerPoolSpecs"]
    assert made["containerSpec"] == planned["containerSpec"]
    assert made["containerSpec"]["args"].count("1000") == 2
