"""Secrets are masked on every output path: plans (text, JSON, the gcloud line), the trainer's
streamed output and the stderr tail of a failure, run records, `jobspec logs` (local and cloud,
with and without --follow), error messages; whether the secret is an env entry, sits inside an
argument, arrives through ${VAR} or --set. A secret too short to mask is refused.

The trainers print their secrets for real; every assertion looks at what a user would see or
find on disk or in the bucket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, Outcome

ENV_SECRET = "tok-EnvEntry-7f3a"  # env: {API_TOKEN: ...}
VAR_SECRET = 'q"uo\'te-Var-91c2'  # ${MY_TOKEN}, inside an argument; quotes test the escaping
SET_SECRET = "hunter2-Set-55d0"  # --set env.DB_PASSWORD=...
LISTED_SECRET = "listed-Plain-0b7e"  # ${PLAIN_VALUE}, a name listed under secrets:
ALL = (ENV_SECRET, VAR_SECRET, SET_SECRET, LISTED_SECRET)
IMAGE = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}

# Prints every secret it got, on stdout and on stderr, then fails.
LEAKY_TRAINER = """\
import os, sys, time
secrets = [os.environ.get("API_TOKEN"), os.environ.get("DB_PASSWORD"), *sys.argv[1:]]
print("out:", *secrets, flush=True)
print("err:", *secrets, file=sys.stderr, flush=True)
time.sleep(float(os.environ.get("PAUSE", "0")))
print("late:", *secrets, flush=True)
sys.exit(3)
"""


def _leaks(text: str) -> list[str]:
    forms = [(s, (s, json.dumps(s)[1:-1], repr(s)[1:-1], repr('"' + s)[2:-1])) for s in ALL]
    return [s for s, written in forms if any(w in text for w in written)]


def _project(root: Path, trainer: str = LEAKY_TRAINER, *, cloud: str = "",
             extra: str = "") -> Path:
    (root / ".git").mkdir()
    package = root / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(trainer)
    spec = root / "job.yaml"
    spec.write_text(
        "version: 1\nname: leaky\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "args: ['--auth=${MY_TOKEN}', '--plain=${PLAIN_VALUE}']\n"
        f"env: {{API_TOKEN: {ENV_SECRET}}}\n"
        "secrets: [PLAIN_VALUE]\n" + extra
        + "targets:\n  local: {}\n  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        f"    executor_image: {IMAGE}\n" + cloud)
    return spec


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {"MY_TOKEN": VAR_SECRET, "PLAIN_VALUE": LISTED_SECRET}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def _proc(*args: str, cwd: Path, env: dict[str, str] | None = None,
          drop: tuple[str, ...] = ()) -> Outcome:
    """jobspec as a real process, without the variables in DROP (a later shell)."""
    full = {k: v for k, v in {**os.environ, **(env or {})}.items() if k not in drop}
    full["PYTHONPATH"] = str(REPO)
    done = subprocess.run([sys.executable, "-m", "jobspec", *args], cwd=cwd, env=full,
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    return Outcome(done.returncode, done.stdout, done.stderr)


# --- plans ---------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
@pytest.mark.parametrize("target", ["local", "cloud"])
def test_plan_masks_env_argument_interpolated_and_set_secrets(
        cli, secret_env, tmp_path: Path, target: str, as_json: bool) -> None:
    spec = _project(tmp_path)
    out = cli("plan", str(spec), "--target", target, "--set", f"env.DB_PASSWORD={SET_SECRET}",
              *(["--json"] if as_json else []))
    assert out.code == 0, out.err
    assert _leaks(out.out + out.err) == []
    text = out.out
    if as_json:
        data = json.loads(out.out)
        text = json.dumps(data)
        if target == "local":
            (proc,) = data["processes"]
            assert proc["argv"][-2:] == ["--auth=****", "--plain=****"]
            assert proc["env"]["API_TOKEN"] == "****" and proc["env"]["DB_PASSWORD"] == "****"
            tf_config = json.loads(proc["env"]["TF_CONFIG"])
            assert tf_config["job"]["args"] == ["--auth=****", "--plain=****"]
        else:
            python = data["request"]["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]
            assert python["args"][:2] == ["--auth=****", "--plain=****"]
            assert {"name": "DB_PASSWORD", "value": "****"} in python["env"]
            assert "--args=--auth=****,--plain=****,--job-dir,gs://placeholder-bucket/leaky" in (
                data["gcloud"])
    elif target == "local":
        assert "'--auth=****' '--plain=****'" in text and "API_TOKEN=****" in text
    else:
        assert "'--args=--auth=****,--plain=****,--job-dir,gs://placeholder-bucket/leaky'" in (
            text)
    assert "****" in text


def test_set_can_carry_a_secret_inside_an_argument(cli, secret_env, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    out = cli("plan", str(spec), "--target", "local", "--json",
              "--set", "targets.local.args=['--again=${MY_TOKEN}']")
    assert out.code == 0, out.err
    (proc,) = json.loads(out.out)["processes"]
    assert proc["argv"][-3:] == ["--auth=****", "--plain=****", "--again=****"]
    assert _leaks(out.out + out.err) == []


# --- a local run, its records, and `jobspec logs` --------------------------------------------


def test_local_run_masks_output_tail_records_and_logs(secret_env, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    env = {"PAUSE": "1.0"}
    run = subprocess.Popen(
        [sys.executable, "-m", "jobspec", "run", str(spec), "--target", "local",
         "--set", f"env.DB_PASSWORD={SET_SECRET}"],
        cwd=tmp_path, env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    records = tmp_path / ".jobspec" / "runs" / "leaky"
    deadline = time.monotonic() + 20
    while not any(records.glob("*/log")) or not next(records.glob("*/log")).read_text():
        assert time.monotonic() < deadline, "the run wrote no log line"
        time.sleep(0.05)
    # --follow while the run goes on, from a shell that has none of the secrets
    following = _proc("logs", "leaky", "--follow", cwd=tmp_path, drop=tuple(secret_env))
    out, err = run.communicate(timeout=30)
    assert run.returncode == 1, err
    assert _leaks(out + err) == []
    assert "out: **** **** --auth=**** --plain=****" in out
    assert "late: **** **** --auth=**** --plain=****" in out
    assert "err: **** **** --auth=**** --plain=****" in err
    # the failure message repeats the stderr tail: masked too
    assert "trainer exited with code 3; last lines of its stderr:\nerr: **** ****" in err
    (record,) = records.iterdir()
    for name in ("log", "plan.json", "status.json"):
        assert _leaks((record / name).read_text()) == [], name
    assert "late: ****" in (record / "log").read_text()
    assert following.code == 0, following.err
    assert "late: **** **** --auth=**** --plain=****" in following.out
    assert _leaks(following.out + following.err) == []
    after = _proc("logs", "leaky", cwd=tmp_path, drop=tuple(secret_env))
    assert after.code == 0 and after.out == (record / "log").read_text()
    assert _leaks(after.out + after.err) == []


# --- cloud: the streamed log, and `jobspec logs` in a later process --------------------------


def test_cloud_run_and_later_logs_mask_secrets(cli, cloud_env, secret_env, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    spec = _project(tmp_path)
    run = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud_env.bucket}", "--set",
              f"env.DB_PASSWORD={SET_SECRET}")
    assert run.code == 1, run.err
    assert "workerpool0-0 | out: **** **** --auth=**** --plain=****" in run.out
    assert _leaks(run.out + run.err) == []
    (job,) = cloud_env.vertex.jobs.values()
    lines = cloud_env.vertex.job_log_lines(job["name"].rsplit("/", 1)[1])
    assert any(VAR_SECRET in line for line in lines)  # the trainer really printed them
    claim = cloud_env.gcs.read_object(cloud_env.bucket, "leaky/.jobspec/claim.json")
    assert _leaks(claim.decode()) == []
    # a later shell: none of the variables, and no plan made in this process
    for follow in ([], ["--follow"]):
        logs = _proc("logs", "leaky", "--target", "cloud", "--bucket", cloud_env.bucket,
                     *follow, cwd=tmp_path, env=FAST_POLL, drop=tuple(secret_env))
        assert logs.code == (1 if follow else 0), logs.err
        assert "workerpool0-0 | err: **** **** --auth=**** --plain=****" in logs.out
        assert _leaks(logs.out + logs.err) == [], follow


def test_server_error_echoing_the_request_is_masked(cli, cloud_env, secret_env,
                                                    tmp_path: Path) -> None:
    """Google's APIs quote the offending value in a 400; the message reaches the terminal, the
    claim in the bucket and `jobspec status`."""
    spec = _project(tmp_path)
    echo = f"Invalid value at 'custom_job.job_spec.worker_pool_specs[0]', \"--auth={VAR_SECRET}\""
    cloud_env.vertex.faults.add(method="POST", path_regex=r"/customJobs$", status=503,
                                times=1, message="busy: " + echo)
    cloud_env.vertex.faults.add(method="POST", path_regex=r"/customJobs$", status=400,
                                times=1, message=echo)
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud_env.bucket}")
    assert out.code == 4, out.err
    assert "create failed (UNAVAILABLE: busy: Invalid value at" in out.err  # the retry notice
    assert "INVALID_ARGUMENT: Invalid value at" in out.err and "--auth=****" in out.err
    assert _leaks(out.out + out.err) == []
    claim = json.loads(cloud_env.gcs.read_object(cloud_env.bucket, "leaky/.jobspec/claim.json"))
    assert claim["state"] == "failed" and "--auth=****" in claim["error"]
    assert _leaks(json.dumps(claim)) == []
    status = _proc("status", "leaky", "--target", "cloud", "--bucket", cloud_env.bucket,
                   cwd=tmp_path, drop=tuple(secret_env))
    assert status.code == 2 and "its claim is failed (INVALID_ARGUMENT" in status.err
    assert _leaks(status.out + status.err) == []


# --- refusals ------------------------------------------------------------------------------


HOW = ("too short to mask safely (a secret needs at least 8); if it is not a secret, give it a "
       "name without TOKEN, SECRET, PASSWORD, CREDENTIALS, PASSWD, or ending in _KEY, and leave "
       "it out of `secrets:`")


@pytest.mark.parametrize(("where", "error"), [
    ("env", f"job.yaml:5:18: env.API_TOKEN: secret env API_TOKEN is 3 character(s) long: {HOW}"),
    ("var", "job.yaml:4:8: args[0]: secret environment variable MY_TOKEN (read through "
            f"${{MY_TOKEN}}) is 3 character(s) long: {HOW}"),
    ("set", "--set env.DB_PASSWORD=…:1:23: env.DB_PASSWORD: secret env DB_PASSWORD is 3 "
            f"character(s) long: {HOW}"),
], ids=["env", "var", "set"])
def test_short_secret_is_refused_without_showing_it(cli, secret_env, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    where: str, error: str) -> None:
    spec = _project(tmp_path)
    more = []
    if where == "env":
        spec.write_text(spec.read_text().replace(ENV_SECRET, "Zq7"))
    elif where == "var":
        monkeypatch.setenv("MY_TOKEN", "Zq7")
    else:
        more = ["--set", "env.DB_PASSWORD=Zq7"]
    monkeypatch.chdir(tmp_path)
    for command in ("plan", "run"):
        out = cli(command, "job.yaml", "--target", "local", *more)
        assert out.code == 2
        assert out.err == error + "\n"  # the place, not the line: it would show the value
    assert not (tmp_path / ".jobspec" / "runs").exists()  # refused before running


def test_empty_secret_is_fine(cli, secret_env, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace(ENV_SECRET, "''"))
    out = cli("plan", str(spec), "--target", "local", "--json")
    assert out.code == 0, out.err
    assert json.loads(out.out)["processes"][0]["env"]["API_TOKEN"] == ""


@pytest.mark.parametrize(("key", "value", "path"), [
    ("targets.cloud.job_dir", "gs://placeholder-bucket/leaky/${MY_TOKEN}", "targets.cloud.job_dir"),
    ("trainer.requirements", "['pkg @ git+https://x:${MY_TOKEN}@example.com/pkg.git']",
     "trainer.requirements[0]"),
], ids=["job_dir", "requirements"])
def test_secret_outside_args_and_env_is_refused(cli, secret_env, tmp_path: Path, key: str,
                                                value: str, path: str) -> None:
    """A job_dir is an object path, a requirement is uploaded in the package metadata: jobspec
    cannot mask them there, so it refuses the secret."""
    spec = _project(tmp_path)
    out = cli("plan", str(spec), "--target", "cloud", "--set", f"{key}={value}")
    assert out.code == 2
    assert (f"{path}: secret environment variable MY_TOKEN (read through ${{MY_TOKEN}}) is used "
            "here: only args and env may carry a secret (this value is shown, stored or "
            "uploaded as written)") in out.err
    assert f"| --set {key}={value}" in out.err  # the line shows the reference, not the value
    assert _leaks(out.out + out.err) == []


def test_spec_error_quoting_a_secret_masks_it(cli, secret_env, tmp_path: Path) -> None:
    """A secret interpolated into a value the spec rejects: the error quotes the value."""
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace("name: leaky", "name: ${MY_TOKEN}"))
    out = cli("plan", str(spec), "--target", "local")
    assert out.code == 2
    assert "name" in out.err
    assert _leaks(out.out + out.err) == []


def test_spec_error_showing_a_line_that_holds_a_secret_masks_it(cli, secret_env,
                                                                 tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace(f"{ENV_SECRET}}}", f"{ENV_SECRET}, BAD: [1]}}"))
    for command in (["plan", str(spec), "--target", "local"], ["validate", str(spec)]):
        out = cli(*command)
        assert out.code == 2
        assert "env.BAD: expected a string, got a list" in out.err
        assert "| env: {API_TOKEN: ****, BAD: [1]}" in out.err
        assert _leaks(out.out + out.err) == []
