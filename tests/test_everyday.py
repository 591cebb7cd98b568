"""Everyday mistakes caught before credits are spent: a module typo, a follow-up command typed as
printed, `status`/`logs`/`cancel` without --target, a broken GOOGLE_APPLICATION_CREDENTIALS."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

import pytest

FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}
IMAGE = "us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest"
HELLO = "print('hello from probe', flush=True)\n"


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def project(root: Path, *, module: str = "trainer.task", body: str = HELLO,
            bucket: str = "placeholder-bucket", more: str = "") -> Path:
    """A repo whose default spec is specs/job.yaml (job `probe`, targets local and cloud)."""
    root.mkdir(parents=True, exist_ok=True)
    (root / ".git").mkdir()
    (root / "trainer").mkdir()
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text(body)
    (root / "trainer" / "model.py").write_text("")
    (root / "specs").mkdir()
    (root / "specs" / "job.yaml").write_text(
        "version: 1\nname: probe\ntrainer:\n  package_path: ../trainer\n"
        f"  module: {module}\n{more}targets:\n  local: {{}}\n  cloud:\n    bucket: {bucket}\n"
        f"    project: test\n    executor_image: {IMAGE}\n")
    (root / "pyproject.toml").write_text('[tool.jobspec]\ndefault-spec = "specs/job.yaml"\n')
    return root


FOLLOWUP = re.compile(r"`(jobspec [^`]+)`")


def followups(text: str) -> list[str]:
    return FOLLOWUP.findall(text)


def typed(cli, command: str, cwd: Path):
    """COMMAND as a user would type it in CWD: split like a shell, run by the real CLI."""
    words = shlex.split(command)
    assert words[0] == "jobspec", command
    return cli(*words[1:], cwd=cwd)


# --- trainer.module must be a module of the package ------------------------------------------

TYPO = ("specs/job.yaml:5:11: trainer.module: no module 'trainer.taks' in package_path "
        "'../trainer': neither trainer/taks.py nor trainer/taks/__main__.py exists (did you "
        "mean 'trainer.task'?)\n    5 |   module: trainer.taks\n      |           ^\n")


@pytest.mark.parametrize("command", [["validate"], ["plan", "--target", "cloud"],
                                     ["run", "--target", "cloud"]], ids=lambda c: c[0])
def test_module_typo_is_exit_2_at_its_line_before_anything_is_staged(cli, cloud, tmp_path: Path,
                                                                     command) -> None:
    root = project(tmp_path / "repo", module="trainer.taks", bucket=cloud.bucket)
    out = cli(*command, cwd=root)
    assert (out.code, out.out) == (2, "")
    assert out.err.startswith(TYPO), out.err
    assert cloud.gcs.list_object_metadata(cloud.bucket) == []
    assert cloud.vertex.jobs == {}


def test_module_outside_the_package_suggests_its_full_name(cli, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", module="task")
    out = cli("validate", cwd=root)
    assert out.code == 2
    assert out.err.splitlines()[0] == (
        "specs/job.yaml:5:11: trainer.module: module 'task' is not in package_path "
        "'../trainer': the package is 'trainer', so its modules are named 'trainer.NAME' "
        "(did you mean 'trainer.task'?)")


def test_a_package_module_needs_main_and_runs_once_it_has_one(cli, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", module="trainer.tool")
    (root / "trainer" / "tool").mkdir()
    (root / "trainer" / "tool" / "__init__.py").write_text("")
    (root / "trainer" / "tool" / "run.py").write_text("")
    out = cli("plan", "--target", "local", cwd=root)
    assert out.code == 2
    assert out.err.splitlines()[0] == (
        "specs/job.yaml:5:11: trainer.module: no module 'trainer.tool' in package_path "
        "'../trainer': trainer/tool is a folder without __main__.py, which `python -m "
        "trainer.tool` would run (did you mean 'trainer.tool.run'?)")
    (root / "trainer" / "tool" / "__main__.py").write_text("print('main of tool', flush=True)\n")
    assert cli("validate", cwd=root).code == 0
    ran = cli("run", "--target", "local", cwd=root)
    assert ran.code == 0, ran.err
    assert "main of tool" in ran.out


def test_a_subfolder_without_init_is_refused_when_the_cloud_would_leave_it_out(
        cli, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", module="trainer.jobs.train")
    (root / "trainer" / "jobs").mkdir()
    (root / "trainer" / "jobs" / "train.py").write_text("print('trained', flush=True)\n")
    out = cli("validate", cwd=root)
    assert out.code == 2
    assert out.err.splitlines()[0] == (
        "specs/job.yaml:5:11: trainer.module: trainer/jobs has no __init__.py: the cloud target "
        "installs the package with find_packages(), which leaves trainer/jobs out, so `python "
        "-m trainer.jobs.train` would fail there (add trainer/jobs/__init__.py)")
    local_only = root / "specs" / "local.yaml"  # python -m finds it: fine for a local run
    local_only.write_text((root / "specs" / "job.yaml").read_text().split("  cloud:")[0])
    ran = cli("run", "specs/local.yaml", "--target", "local", cwd=root)
    assert (ran.code, ran.out) == (0, "trained\n"), ran.err
    (root / "trainer" / "jobs" / "__init__.py").write_text("")
    assert cli("validate", cwd=root).code == 0


def test_a_missing_package_path_is_already_an_error(cli, tmp_path: Path) -> None:
    root = project(tmp_path / "repo")
    spec = root / "specs" / "job.yaml"
    spec.write_text(spec.read_text().replace("../trainer", "../trainr"))
    out = cli("validate", cwd=root)
    assert out.code == 2
    assert out.err.startswith("specs/job.yaml:4:17: trainer.package_path: '../trainr' is not a "
                              "folder"), out.err


# --- status, logs and cancel find the job wherever it is -------------------------------------


def test_a_local_run_is_found_without_target_and_without_the_network(cli,
                                                                     tmp_path: Path) -> None:
    root = project(tmp_path / "repo")  # its cloud target names a real bucket: never asked
    assert cli("run", "--target", "local", cwd=root).code == 0
    status = cli("status", "probe", cwd=root)
    assert status.code == 0, status.err
    assert status.out.startswith("probe: succeeded, exit code 0")
    logs = cli("logs", "probe", cwd=root)
    assert (logs.code, logs.out) == (0, "hello from probe\n")
    cancel = cli("cancel", "probe", cwd=root)
    assert cancel.code == 0
    assert "probe is not running (local run, succeeded); nothing to cancel" in cancel.err
    assert "gs://" not in status.err + logs.err + cancel.err


def test_a_local_sweep_is_found_without_target(cli, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", more="matrix:\n  lr: [1, 2]\n")
    assert cli("run", "--target", "local", cwd=root).code == 0
    status = cli("status", "probe", cwd=root)
    assert status.code == 0, status.err
    assert status.out.splitlines()[0] == "group probe: 2 runs"
    assert "probe_lr_2" in status.out and "succeeded" in status.out


def test_cancel_stops_a_running_local_run(cli, tmp_path: Path) -> None:
    body = "import time\nprint('started', flush=True)\ntime.sleep(60)\n"
    root = project(tmp_path / "repo", body=body)
    run = subprocess.Popen([sys.executable, "-m", "jobspec", "run", "--target", "local"],
                           cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while "started" not in cli("logs", "probe", cwd=root).out:
            assert time.monotonic() < deadline, "the local run never started"
            time.sleep(0.1)
        assert cli("status", "probe", cwd=root).out.startswith("probe: running")
        out = cli("cancel", "probe", cwd=root)
        assert out.code == 0, out.err
        assert f"cancel requested for probe (local run, jobspec process {run.pid})" in out.err
        run.wait(timeout=15)
    finally:
        run.kill()
        run.communicate()
    assert run.returncode == 130
    assert cli("status", "probe", cwd=root).out.startswith("probe: interrupted")


def test_a_cloud_job_is_found_without_target_and_detach_followups_work_verbatim(
        cli, cloud, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket)
    out = cli("run", "--target", "cloud", "--detach", cwd=root)
    assert out.code == 0, out.err
    assert followups(out.err) == ["jobspec logs probe --follow", "jobspec cancel probe"]
    logs = typed(cli, "jobspec logs probe --follow", root)
    assert logs.code == 0, logs.err
    assert "workerpool0-0 | hello from probe" in logs.out
    assert (f"jobspec: found probe in gs://{cloud.bucket}/probe/ (target cloud of "
            "specs/job.yaml)") in logs.err
    status = cli("status", "probe", cwd=root)
    assert status.out.startswith("probe: SUCCEEDED"), status.err
    cancel = typed(cli, "jobspec cancel probe", root)
    assert cancel.code == 0, cancel.err
    assert "probe already ended SUCCEEDED; nothing to cancel" in cancel.err


@pytest.mark.parametrize("why", ["bucket-set-on-the-command-line", "local-run-of-that-name"])
def test_followups_name_the_bucket_when_the_plain_command_would_miss_the_job(
        cli, cloud, tmp_path: Path, jobspec_proc, why: str) -> None:
    if why == "local-run-of-that-name":
        root = project(tmp_path / "repo", bucket=cloud.bucket)
        assert cli("run", "--target", "local", cwd=root).code == 0
        submit = ["run", "--target", "cloud", "--detach"]
    else:
        root = project(tmp_path / "repo")
        submit = ["run", "--target", "cloud", "--detach", "--set",
                  f"targets.cloud.bucket={cloud.bucket}"]
    out = cli(*submit, cwd=root)
    assert out.code == 0, out.err
    assert followups(out.err) == [f"jobspec logs probe --follow --bucket {cloud.bucket}",
                                  f"jobspec cancel probe --bucket {cloud.bucket}"]
    words = shlex.split(followups(out.err)[0])
    logs = jobspec_proc(*words[1:], cwd=root, env=cloud.env | FAST_POLL)  # typed in a shell
    assert logs.code == 0, logs.err
    assert "workerpool0-0 | hello from probe" in logs.out
    if why == "local-run-of-that-name":  # without --bucket: the local run, as documented
        assert cli("logs", "probe", cwd=root).out == "hello from probe\n"


def test_a_failed_follow_points_at_commands_that_work(cli, cloud, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket)
    cloud.vertex.faults.add("GET", r"/customJobs/[^/]+$", status=403, times=1)
    out = cli("run", "--target", "cloud", cwd=root)
    assert out.code == 4, out.err
    assert followups(out.err) == ["jobspec logs probe --follow", "jobspec status probe"]
    for command in followups(out.err):
        done = typed(cli, command, root)
        assert done.code == 0, (command, done.err)
    assert "workerpool0-0 | hello from probe" in typed(cli, "jobspec logs probe", root).out
    assert len(cloud.vertex.jobs) == 1


def test_an_interrupted_follow_points_at_commands_that_work(cli, cloud, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket,
                   body="import time\nprint('working', flush=True)\ntime.sleep(30)\n")
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "run", "--target", "cloud"],
                            cwd=root, env={**os.environ, **FAST_POLL}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "working" in line:
            break
    proc.send_signal(2)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert followups(err) == ["jobspec logs probe --follow", "jobspec cancel probe"]
    cancel = typed(cli, "jobspec cancel probe", root)
    assert cancel.code == 0, cancel.err
    assert "cancel requested for probe" in cancel.err
    (job_id,) = cloud.vertex.jobs
    cloud.vertex.wait_for_state(job_id, "JOB_STATE_CANCELLED", timeout=20)
    logs = typed(cli, "jobspec logs probe --follow", root)
    assert logs.code == 1 and "workerpool0-0 | working" in logs.out, logs.err


def test_group_followups_work_verbatim(cli, cloud, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket, more="matrix:\n  lr: [1, 2]\n")
    cloud.vertex.run_jobs = False
    out = cli("run", "--target", "cloud", "--detach", cwd=root)
    assert out.code == 0, out.err
    assert followups(out.err) == ["jobspec status probe", "jobspec cancel probe"]
    status = typed(cli, "jobspec status probe", root)
    assert status.code == 0, status.err
    assert status.out.splitlines()[0] == "group probe: 2 jobs"
    logs = cli("logs", "probe", cwd=root)  # a group has no log of its own: say what does
    assert logs.code == 2
    assert followups(logs.err) == ["jobspec status probe", "jobspec logs probe_lr_1"]
    assert typed(cli, "jobspec logs probe_lr_1", root).code == 0
    cancel = typed(cli, "jobspec cancel probe", root)
    assert cancel.code == 0, cancel.err
    assert "cancel requested for probe_lr_1" in cancel.err
    assert "cancel requested for probe_lr_2" in cancel.err


def test_list_without_target_says_how_to_list_cloud_jobs(cli, cloud, tmp_path: Path) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket)
    assert cli("run", "--target", "cloud", "--detach", cwd=root).code == 0
    out = cli("list", cwd=root)
    assert out.code == 0
    assert out.out.startswith("no local runs under")
    assert followups(out.err) == ["jobspec list --target cloud"]
    assert f"cloud jobs of target cloud (gs://{cloud.bucket})" in out.err
    listed = typed(cli, followups(out.err)[0], root)
    assert listed.code == 0, listed.err
    assert listed.out.splitlines()[1].startswith("probe ")


@pytest.mark.parametrize("command", ["status", "logs", "cancel"])
def test_an_absent_job_names_every_place_looked_in(cli, cloud, tmp_path: Path,
                                                   command: str) -> None:
    root = project(tmp_path / "repo", bucket=cloud.bucket)
    out = cli(command, "nosuch", cwd=root)
    assert (out.code, out.out) == (2, "")
    assert out.err.splitlines()[0] == (
        "no job named 'nosuch': looked in .jobspec/runs/ (no run named nosuch), "
        ".jobspec/groups/ (no group named nosuch), "
        f"gs://{cloud.bucket}/nosuch/ (target cloud of specs/job.yaml): no claim")


@pytest.mark.parametrize("name", ["../probe", "runs/probe", ".jobspec"])
def test_a_name_that_is_a_path_is_refused(cli, tmp_path: Path, name: str) -> None:
    root = project(tmp_path / "repo")
    assert cli("run", "--target", "local", cwd=root).code == 0
    for command in ("status", "logs", "cancel"):
        out = cli(command, name, "--target", "local", cwd=root)
        assert (out.code, out.out) == (2, "")
        assert out.err.startswith(f"{name!r} is not a job name"), out.err


def test_an_absent_job_says_why_the_cloud_could_not_be_asked(cli, tmp_path: Path,
                                                             monkeypatch) -> None:
    root = project(tmp_path / "repo")
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    out = cli("status", "nosuch", cwd=root)
    assert out.code == 4
    assert out.err.splitlines()[0] == (
        "no job named 'nosuch': looked in .jobspec/runs/ (no run named nosuch), "
        ".jobspec/groups/ (no group named nosuch), gs://placeholder-bucket/nosuch/ (target "
        "cloud of specs/job.yaml): could not look: cannot use GOOGLE_APPLICATION_CREDENTIALS="
        f"{tmp_path / 'key.json'}: File {tmp_path / 'key.json'} was not found.")
    assert "Traceback" not in out.err


def test_an_absent_job_says_when_the_bucket_did_not_answer(cli, cloud_env, gcs_proxy,
                                                          tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("JOBSPEC_STORAGE_DEADLINE", "0.3")  # the storage retries, cut short
    root = project(tmp_path / "repo", bucket=cloud_env.bucket)
    # connections reset. (With 503 answers, a connection of the retried downloads stays open
    # until garbage collection: a ResourceWarning in a later test; reported, not our subject.)
    gcs_proxy.faults.add("GET", object_regex=r"claim\.json$", drop="before", times=None)
    out = cli("logs", "probe", cwd=root)
    assert out.code == 4
    claim = f"gs://{cloud_env.bucket}/probe/.jobspec/claim.json"
    said = out.err.splitlines()
    # the retry is announced at once, then the places looked in, and why the cloud one failed
    assert said[0].startswith(f"jobspec: reading {claim}: connection failed: "), said
    assert said[0].endswith("; retrying for up to 0.3 s"), said
    assert said[-1] == ("  hint: a cloud job elsewhere: pass --target T (with --spec FILE), "
                        "or --bucket BUCKET"), said
    assert said[-2].startswith(
        "no job named 'probe': looked in .jobspec/runs/ (no run named probe), .jobspec/groups/ "
        f"(no group named probe), gs://{cloud_env.bucket}/probe/ (target cloud of "
        f"specs/job.yaml): could not look: cannot read {claim}: "), said
    assert "Connection reset by peer" in said[-2]


def test_init_prints_next_commands_that_work_from_here(cli, tmp_path: Path) -> None:
    out = cli("init", "--dir", "proj", "--name", "demo", "--bucket", "demo-bucket", cwd=tmp_path)
    assert out.code == 0, out.err
    commands = [line.strip() for line in out.out.splitlines() if line.startswith("  jobspec ")]
    assert commands == ["jobspec validate proj/specs/demo.yaml",
                        "jobspec run proj/specs/demo.yaml --target local"]
    for command in commands:
        done = typed(cli, command, tmp_path)
        assert done.code == 0, (command, done.err)


def test_import_points_at_a_validate_command_that_works_from_here(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = project(tmp_path / "repo")
    monkeypatch.delenv("BUCKET_NAME", raising=False)
    gcloud = ("gcloud ml-engine jobs submit training census_single_7 --job-dir "
              "gs://$BUCKET_NAME/census_single_7 --module-name trainer.task --package-path "
              "trainer/ --region us-central1 --runtime-version 1.2")
    out = cli("import", "-o", "specs/imported job.yaml", "--string", gcloud, cwd=root)
    assert out.code == 0, out.err
    (command,) = [c for c in followups(out.err) if c.startswith("jobspec validate")]
    assert command == "jobspec validate --strict-env 'specs/imported job.yaml'"
    done = typed(cli, command, root)
    assert done.code == 2  # what the import said: BUCKET_NAME is not set here
    assert "environment variable BUCKET_NAME is not set" in done.err
    monkeypatch.setenv("BUCKET_NAME", "census-bucket")
    assert typed(cli, command, root).code == 0


# --- a broken GOOGLE_APPLICATION_CREDENTIALS ---------------------------------------------------

CREDENTIALS = {
    "missing": (None, "File {path} was not found."),
    "folder": ("folder", "Is a directory"),
    "not-json": ("{not json", "File {path} is not a valid json file: JSONDecodeError: "
                 "Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    "json-list": ("[1, 2]", "its content is not a JSON object ('list' object has no attribute "
                  "'get')"),
    "wrong-type": ('{"type": "nope"}', "The file {path} does not have a valid type. Type is "
                   "nope, expected one of ('authorized_user', 'service_account', "
                   "'external_account', 'external_account_authorized_user', "
                   "'impersonated_service_account', 'gdch_service_account')."),
}


@pytest.mark.parametrize("case", list(CREDENTIALS))
def test_broken_credentials_file_is_exit_4_with_google_auths_reason(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    content, reason = CREDENTIALS[case]
    path = tmp_path / "key.json"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_text(content)
    for key in ("STORAGE_EMULATOR_HOST", "CLOUDSDK_API_ENDPOINT_OVERRIDES_AIPLATFORM",
                "CLOUDSDK_API_ENDPOINT_OVERRIDES_LOGGING"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    root = project(tmp_path / "repo")
    for command in (["run", "--target", "cloud"], ["status", "probe", "--target", "cloud"]):
        out = cli(*command, cwd=root)
        assert (out.code, out.out) == (4, ""), out.err
        assert "Traceback" not in out.err
        assert out.err.endswith(
            f"cannot use GOOGLE_APPLICATION_CREDENTIALS={path}: {reason.format(path=path)}\n"
            "  hint: point it at a service-account key file (JSON), or unset it to use "
            "`gcloud auth application-default login` credentials\n")


def test_secret_key_content_is_never_printed(cli, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "key.json"
    path.write_text(json.dumps({"type": "service_account", "private_key": "SECRET-KEY-BYTES"}))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(path))
    out = cli("status", "probe", "--target", "cloud", cwd=project(tmp_path / "repo"))
    assert out.code == 4
    assert "Failed to load service account credentials" in out.err
    assert "SECRET-KEY-BYTES" not in out.err + out.out

