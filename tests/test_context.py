"""One Google Cloud context: project and region from the spec, then the environment, then the
active gcloud configuration's files, then Application Default Credentials, then the default;
`plan` says where each came from; status and list use the same; every Google request says
jobspec/<version>; the printed gcloud equivalent gives gcloud exactly the arguments sent."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from jobspec import __version__

IMAGE = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}
CONTEXT_VARIABLES = ("GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT", "CLOUDSDK_AI_REGION",
                     "CLOUDSDK_ACTIVE_CONFIG_NAME", "GOOGLE_APPLICATION_CREDENTIALS",
                     "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM",
                     "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", "STORAGE_EMULATOR_HOST")


def _spec(tmp_path: Path, cloud: str = "", *, args: list[str] | None = None) -> Path:
    """A tiny repo: trainer/task.py and job.yaml, whose cloud target holds CLOUD's lines."""
    (tmp_path / ".git").mkdir(parents=True, exist_ok=True)
    package = tmp_path / "trainer"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("import sys\nprint('args', sys.argv[1:], flush=True)\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        + (f"args: {json.dumps(args)}\n" if args else "")
        + f"targets:\n  cloud:\n    bucket: my-bucket\n    executor_image: {IMAGE}\n" + cloud)
    return spec


def _gcloud_folder(root: Path, active: str | None, configs: dict[str, str]) -> Path:
    """A gcloud configuration folder as gcloud writes it: active_config (no newline) and
    configurations/config_NAME."""
    folder = root / "gcloud"
    (folder / "configurations").mkdir(parents=True, exist_ok=True)
    if active is not None:
        (folder / "active_config").write_text(active)
    for name, text in configs.items():
        (folder / "configurations" / f"config_{name}").write_text(text)
    return folder


WORK = ("[core]\nproject = from-gcloud\naccount = someone@example.com\n\n"
        "[ai]\nregion = europe-west4\n")
DEFAULT = "[core]\nproject = from-default-config\n[ai]\nregion = asia-east1\n"


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No context anywhere: no variables, an empty gcloud folder, no ADC file."""
    for variable in CONTEXT_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    folder = _gcloud_folder(tmp_path, None, {})
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(folder))
    return folder


def _service_account(path: Path, project: str) -> Path:
    """A service-account key file (a fresh, unused key) whose project_id is PROJECT."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    path.write_text(json.dumps({
        "type": "service_account", "project_id": project, "private_key_id": "0" * 40,
        "private_key": pem, "client_email": f"runner@{project}.iam.gserviceaccount.com",
        "client_id": "1", "token_uri": "https://oauth2.googleapis.com/token"}))
    return path


def _plan(cli, spec: Path, *more: str) -> dict:
    out = cli("plan", str(spec), "--target", "cloud", "--json", *more)
    assert out.code == 0, out.err
    return json.loads(out.out)


STEPS = {
    # step: (spec lines, environment, gcloud folder (active, configs), ADC file project,
    #        expected project and its source, expected region and its source)
    "spec": ("    project: from-spec\n    region: asia-northeast1\n",
             {"GOOGLE_CLOUD_PROJECT": "from-env", "CLOUDSDK_AI_REGION": "europe-west1"},
             ("work", {"work": WORK}), "from-adc",
             ("from-spec", "spec"), ("asia-northeast1", "spec")),
    "environment": ("", {"GOOGLE_CLOUD_PROJECT": "from-env", "CLOUDSDK_CORE_PROJECT": "no",
                         "CLOUDSDK_AI_REGION": "europe-west1"},
                    ("work", {"work": WORK}), "from-adc",
                    ("from-env", "GOOGLE_CLOUD_PROJECT"), ("europe-west1", "CLOUDSDK_AI_REGION")),
    "gcloud's variable": ("", {"CLOUDSDK_CORE_PROJECT": "from-sdk-env"},
                          ("work", {"work": WORK}), "from-adc",
                          ("from-sdk-env", "CLOUDSDK_CORE_PROJECT"),
                          ("europe-west4", "gcloud configuration 'work'")),
    "gcloud configuration": ("", {}, ("work", {"work": WORK, "default": DEFAULT}), "from-adc",
                             ("from-gcloud", "gcloud configuration 'work'"),
                             ("europe-west4", "gcloud configuration 'work'")),
    "CLOUDSDK_ACTIVE_CONFIG_NAME": ("", {"CLOUDSDK_ACTIVE_CONFIG_NAME": "default"},
                                    ("work", {"work": WORK, "default": DEFAULT}), None,
                                    ("from-default-config", "gcloud configuration 'default'"),
                                    ("asia-east1", "gcloud configuration 'default'")),
    "no active_config file": ("", {}, (None, {"default": DEFAULT}), None,
                              ("from-default-config", "gcloud configuration 'default'"),
                              ("asia-east1", "gcloud configuration 'default'")),
    "ADC": ("    region: us-east1\n", {}, ("work", {"work": "[core]\naccount = a@b.c\n"}),
            "from-adc", ("from-adc", "Application Default Credentials"), ("us-east1", "spec")),
    "default region": ("    project: p1\n", {}, (None, {}), None, ("p1", "spec"),
                       ("us-central1", "default")),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_project_and_region_come_from_the_first_place_that_names_them(
        cli, clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    lines, env, (active, configs), adc, project, region = STEPS[step]
    folder = _gcloud_folder(tmp_path, active, configs)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    if adc:
        monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS",
                           str(_service_account(tmp_path / "key.json", adc)))
    plan = _plan(cli, _spec(tmp_path, lines))
    shown = plan["context"]
    assert (plan["project"], plan["region"]) == (project[0], region[0])
    assert plan["parent"] == f"projects/{project[0]}/locations/{region[0]}"
    assert shown["project"]["from"].startswith(project[1])
    assert shown["region"]["from"].startswith(region[1])
    if "gcloud configuration" in shown["project"]["from"]:  # and the file it read
        name = shown["project"]["from"].split("'")[1]
        assert str(folder / "configurations" / f"config_{name}") in shown["project"]["from"]
    # the endpoint follows the region, and the text plan says where each value came from
    assert plan["endpoint"] == f"https://{region[0]}-aiplatform.googleapis.com/"
    text = cli("plan", str(tmp_path / "job.yaml"), "--target", "cloud").out
    assert f"project     {project[0]}  (from {project[1]}" in text
    assert f"region      {region[0]}  (from {region[1]}" in text
    assert f"endpoint    {plan['endpoint']}  (the region's)" in text


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not installed")
def test_gcloud_reads_the_same_configuration(clean: Path, tmp_path: Path) -> None:
    """Cross-check of the reading: gcloud itself, on the same folder, names the same values."""
    from jobspec.context import resolve

    folder = _gcloud_folder(tmp_path, "work", {"work": WORK, "default": DEFAULT})
    envs = [{"PATH": os.environ["PATH"], "HOME": str(tmp_path), "CLOUDSDK_CONFIG": str(folder),
             "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "true",
             "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "true", **chosen}
            for chosen in ({}, {"CLOUDSDK_ACTIVE_CONFIG_NAME": "default"})]
    runs = [subprocess.Popen(["gcloud", "config", "list", "--format=json"], env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) for env in envs]
    for env, run in zip(envs, runs, strict=True):
        theirs = json.loads(run.communicate(timeout=60)[0])
        ours = resolve(None, None, env)
        assert [ours.project, ours.region] == [theirs["core"]["project"], theirs["ai"]["region"]]
    assert [resolve(None, None, env).project for env in envs] == ["from-gcloud",
                                                                   "from-default-config"]


def test_no_project_anywhere_names_every_place_looked(cli, clean: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    adc = clean / "application_default_credentials.json"  # a user login: it has no project
    adc.write_text(json.dumps({"type": "authorized_user", "client_id": "c",
                               "client_secret": "s", "refresh_token": "r"}))
    spec = _spec(tmp_path)
    for verb in ("plan", "run"):
        out = cli(verb, str(spec), "--target", "cloud")
        assert out.code == 2, out.err
        assert "Traceback" not in out.err
        for place in ("the target's `project:`", "GOOGLE_CLOUD_PROJECT", "CLOUDSDK_CORE_PROJECT",
                      f"gcloud configuration 'default' ({clean}/configurations/config_default)"
                      ": no such file", f"Application Default Credentials (no project in {adc})"):
            assert place in out.err, (place, out.err)
        assert "gcloud config set project" in out.err


def test_a_bad_region_from_the_environment_is_a_clear_error(cli, clean: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setenv("CLOUDSDK_AI_REGION", "Europe/West")
    out = cli("plan", str(_spec(tmp_path, "    project: p1\n")), "--target", "cloud")
    assert out.code == 2
    assert "CLOUDSDK_AI_REGION gives region 'Europe/West': expected a region like" in out.err
    # the spec's own region wins: the variable is not even looked at
    out = cli("plan", str(_spec(tmp_path, "    project: p1\n    region: europe-west1\n")),
              "--target", "cloud")
    assert out.code == 0, out.err


def test_interpolation_uses_the_same_context(clean: Path, tmp_path: Path) -> None:
    from jobspec.loader import load

    folder = _gcloud_folder(tmp_path, "work", {"work": WORK})
    spec = _spec(tmp_path, "    job_dir: gs://my-bucket/probe/${project}/${region}\n")
    loaded = load(spec, target="cloud", env={"CLOUDSDK_CONFIG": str(folder)})
    assert loaded.spec.targets["cloud"].job_dir == "gs://my-bucket/probe/from-gcloud/europe-west4"


@pytest.fixture
def cloud(cloud_env, gcs_proxy, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """The stand-ins, with the project and region in a gcloud configuration only."""
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT")
    monkeypatch.delenv("CLOUDSDK_CORE_PROJECT", raising=False)
    monkeypatch.delenv("CLOUDSDK_AI_REGION", raising=False)
    folder = _gcloud_folder(tmp_path / "home", "work", {
        "work": f"[core]\nproject = {cloud_env.project}\n[ai]\nregion = europe-west4\n"})
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(folder))
    return cloud_env


def test_run_status_list_and_cancel_share_the_gcloud_context(cli, cloud, gcs_proxy,
                                                             tmp_path: Path) -> None:
    spec = _spec(tmp_path / "repo")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}", "--detach")
    assert out.code == 0, out.err
    (job_id,) = cloud.vertex.jobs
    job = cloud.vertex.wait_for_state(job_id, "JOB_STATE_SUCCEEDED", timeout=30)
    assert "/locations/europe-west4/customJobs/" in job["name"]
    claim = json.loads(cloud.gcs.read_object(cloud.bucket, "probe/.jobspec/claim.json"))
    assert (claim["project"], claim["region"]) == ("test", "europe-west4")
    status = cli("status", "probe", "--bucket", cloud.bucket)
    assert status.code == 0, status.err
    assert status.out.startswith("probe: SUCCEEDED")
    listing = cli("list", "--target", "cloud", "--spec", str(spec), "--bucket", cloud.bucket)
    assert listing.code == 0, listing.err
    assert re.search(r"^probe\s+SUCCEEDED", listing.out, re.M)
    logs = cli("logs", "probe", "--bucket", cloud.bucket)
    assert logs.code == 0, logs.err
    assert "args ['--job-dir'" in logs.out
    cancel = cli("cancel", "probe", "--bucket", cloud.bucket)
    assert cancel.code == 0 and "already ended SUCCEEDED" in cancel.err
    paths = [r.path for r in cloud.vertex.requests]
    assert any(p.startswith("/v1/projects/test/locations/europe-west4/customJobs") for p in paths)
    assert not [p for p in paths if "/projects/-/" in p or "/locations/us-central1/" in p]
    # every request to Google's APIs said who made it: Vertex, Logging and Cloud Storage
    agent = f"jobspec/{__version__}"
    vertex_agents = {r.headers.get("user-agent", "") for r in cloud.vertex.requests}
    storage_agents = {r.headers.get("user-agent", "") for r in gcs_proxy.requests}
    assert vertex_agents and storage_agents
    assert all(a.startswith(agent + " ") for a in vertex_agents), vertex_agents
    assert all(agent in a.split() for a in storage_agents), storage_agents


def _gcloud_split(value: str) -> list[str]:
    """How gcloud splits a list flag's value (calliope.arg_parsers.ArgList), for machines
    without gcloud; the test below uses gcloud's own code when it is installed."""
    delim = ","
    if value.startswith("^") and "^" in value[1:]:
        delim, value = value[1:].split("^", 1)
    if not value:
        return []
    return (value if value.endswith(delim) else value + delim).split(delim)[:-1]


def _gcloud_splits(values: list[str]) -> list[list[str]]:
    sdk = Path(os.path.realpath(shutil.which("gcloud") or "/nonexistent")).parent.parent / "lib"
    if not (sdk / "googlecloudsdk" / "calliope" / "arg_parsers.py").is_file():
        return [_gcloud_split(v) for v in values]
    code = ("import json, sys\nsys.path[:0] = [sys.argv[1], sys.argv[1] + '/third_party']\n"
            "from googlecloudsdk.calliope.arg_parsers import ArgList\n"
            "print(json.dumps([ArgList()(v) for v in json.load(sys.stdin)]))\n")
    done = subprocess.run([sys.executable, "-c", code, str(sdk)], input=json.dumps(values),
                          text=True, capture_output=True, timeout=60, check=True)
    return json.loads(done.stdout)


def test_the_gcloud_equivalent_gives_gcloud_the_arguments_sent(cli, clean: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    args = ["--msg=a b", "--quote=it's \"so\"", "--list=1,2", "--time=x:y;z", "^caret^", ""]
    spec = _spec(tmp_path, "    project: p1\n", args=args)
    plan = _plan(cli, spec)
    sent = plan["request"]["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["args"]
    assert sent[:len(args)] == args
    text = cli("plan", str(spec), "--target", "cloud").out
    equivalent = text.split("equivalent  ", 1)[1].split("\nwarning", 1)[0]
    # pasted into bash: gcloud gets exactly the plan's words
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "gcloud").write_text(f"#!{sys.executable}\nimport json, sys\n"
                                 "print(json.dumps(sys.argv[1:]))\n")
    (fake / "gcloud").chmod(0o755)
    done = subprocess.run(["bash", "-c", equivalent], text=True, capture_output=True,
                          env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}, timeout=30)
    assert done.returncode == 0, done.stderr

    def same(words: list[str]) -> list[str]:  # each plan has its own submission id
        return [re.sub(r"jobspec-submission=[0-9a-f]+", "jobspec-submission=ID", w)
                for w in words]

    assert same(json.loads(done.stdout)) == same(plan["gcloud"][1:])
    # and as shlex reads it, once bash's line continuations are joined
    assert same(shlex.split(equivalent.replace("\\\n", ""))) == same(plan["gcloud"])
    value = next(w for w in plan["gcloud"] if w.startswith("--args="))[len("--args="):]
    assert value.startswith("^") and "," in value  # a comma inside an argument: ^D^ form
    pools = [w[len("--worker-pool-spec="):] for w in plan["gcloud"]
             if w.startswith("--worker-pool-spec=")]
    parsed = _gcloud_splits([value, *pools])
    assert parsed[0] == sent
    assert parsed[1][-2:] == [f"executor-image-uri={IMAGE}", "python-module=trainer.task"]


def test_gcloud_list_round_trips_awkward_values() -> None:
    from jobspec.gcloudline import gcloud_list

    cases = [["a", "b"], ["a,b", "c"], [","], [""], ["a", ""], ["^x^y"], ["^"],
             ["a:b,c", ":;|@#~!%+/"], ["x,", ",y", ""]]
    for items in cases:
        assert _gcloud_split(gcloud_list(items)) == items, items
    assert gcloud_list(["--a=1,2", "--b"]) == "^:^--a=1,2:--b"
    assert _gcloud_splits([gcloud_list(items) for items in cases]) == cases


@pytest.mark.parametrize("case", ["not an ini file", "a folder", "a name with a path"])
def test_an_unreadable_gcloud_configuration_is_named_not_a_traceback(
        cli, clean: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    config = clean / "configurations" / "config_default"
    if case == "not an ini file":
        config.write_text("project = no section header\n")
        reason = "cannot be read: File contains no section headers."
    elif case == "a folder":
        config.mkdir()
        reason = "cannot be read: Is a directory"
    else:
        (tmp_path / "config_x").write_text("[core]\nproject = elsewhere\n")
        monkeypatch.setenv("CLOUDSDK_ACTIVE_CONFIG_NAME", "../../config_x")
        reason = "not a configuration name"
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM", "http://127.0.0.1:9/")
    monkeypatch.setenv("CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING", "http://127.0.0.1:9/")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:9")
    out = cli("plan", str(_spec(tmp_path)), "--target", "cloud")
    assert out.code == 2 and "Traceback" not in out.err
    assert reason in out.err, out.err
    assert "Application Default Credentials (not asked: every endpoint is on loopback)" in out.err
