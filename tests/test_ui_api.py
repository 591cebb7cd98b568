"""`jobspec ui`: its JSON API and its safety, against real run records (real `jobspec run`
processes of a tiny trainer) and a real cloud job in the Vertex stand-in. The server runs as a
real `jobspec ui` process; requests go over HTTP."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

SECRET = "s3cr3t-value-for-the-ui"
FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}

TRAINER = '''\
import argparse, json, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--job-dir")
p.add_argument("--steps", type=int, default=5)
p.add_argument("--fail", action="store_true")
p.add_argument("--wait-for")
a = p.parse_args()
print("token in the trainer:", os.environ.get("API_TOKEN"), flush=True)
for s in range(1, a.steps + 1):
    print(f"step {s} loss {1 / s:.4f}", flush=True)
if a.wait_for:
    n = 0
    while not os.path.exists(a.wait_for) and n < 300:
        n += 1
        print(f"tick {n}", flush=True)
        time.sleep(0.2)
if a.fail:
    raise ValueError("the loss went to nan")
if a.job_dir and "://" not in a.job_dir:
    os.makedirs(a.job_dir, exist_ok=True)
    rows = [{"step": s, "loss": 1 / s, "accuracy": 0.5 + s / 40} for s in range(1, a.steps + 1)]
    with open(os.path.join(a.job_dir, "metrics.json"), "w") as fh:
        json.dump(rows, fh)
'''


def make_project(root: Path, bucket: str = "placeholder-bucket") -> Path:
    """A project: tiny/task.py, job.yaml (a local target and a cloud target on BUCKET) as the
    default spec of pyproject.toml."""
    (root / "tiny").mkdir(parents=True)
    (root / "tiny" / "__init__.py").write_text("")
    (root / "tiny" / "task.py").write_text(TRAINER)
    (root / "pyproject.toml").write_text('[tool.jobspec]\ndefault-spec = "job.yaml"\n')
    (root / "job.yaml").write_text(
        "version: 1\nname: tiny\ntrainer: {package_path: tiny, module: tiny.task}\n"
        'env: {API_TOKEN: "${MY_TOKEN:-unset-token-value}"}\n'
        "targets:\n  local:\n    job_dir: output/${name}\n"
        f"  cloud:\n    bucket: {bucket}\n    project: test\n    region: us-central1\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n"
        "    job_dir: gs://${bucket}/${name}\n")
    return root


def run_job(root: Path, *args: str, env: dict[str, str] | None = None,
            wait: bool = True) -> subprocess.Popen[bytes] | subprocess.CompletedProcess[str]:
    """`jobspec run job.yaml ARGS` in ROOT, a real process, MY_TOKEN=SECRET."""
    command = [sys.executable, "-m", "jobspec", "run", "job.yaml", *args]
    full_env = {**os.environ, "MY_TOKEN": SECRET, **FAST_POLL, **(env or {})}
    if not wait:
        return subprocess.Popen(command, cwd=root, env=full_env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    return subprocess.run(command, cwd=root, env=full_env, capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)


@dataclass
class Ui:
    proc: subprocess.Popen[str]
    url: str
    token: str
    printed: list[str]

    def get(self, path: str, *, host: str | None = None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + path.lstrip("/"))
        if host is not None:
            request.add_header("Host", host)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = response.read()
                code = response.status
                kind = response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            body, code, kind = exc.read(), exc.code, exc.headers.get("Content-Type", "")
        return code, json.loads(body) if "json" in kind else body.decode()

    def raw(self, path: str) -> tuple[int, bytes]:
        """GET PATH exactly as written (no normalising of ../ or %2e), over a plain socket."""
        port = int(self.url.rsplit(":", 1)[1].strip("/"))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                         "Connection: close\r\n\r\n".encode())
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body

    def post(self, action: str, job: str, token: str | None) -> tuple[int, Any]:
        request = urllib.request.Request(self.url + f"api/{action}", method="POST",
                                         data=json.dumps({"id": job}).encode(),
                                         headers={"Content-Type": "application/json"})
        if token is not None:
            request.add_header("X-Jobspec-Token", token)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            code = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise
        return code


def start_ui(root: Path, *args: str) -> Ui:
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "ui", *args], cwd=root,
                            env={**os.environ}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL)
    printed: list[str] = []
    assert proc.stdout is not None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        printed.append(line)
        if line.startswith("open http"):
            break
    text = "".join(printed)
    found = re.search(r"at (http://127\.0\.0\.1:\d+/)\n", text)
    token = re.search(r"actions token: (\S+)\n", text)
    assert found and token, text
    return Ui(proc, found.group(1), token.group(1), printed)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


@pytest.fixture
def ui_of() -> Iterator[Any]:
    """start(ROOT, *ARGS): a `jobspec ui` process in ROOT; each is ended after the test."""
    yield from ui_servers()


def ui_servers() -> Iterator[Any]:
    started: list[Ui] = []

    def start(root: Path, *args: str) -> Ui:
        started.append(start_ui(root, *args))
        return started[-1]

    yield start
    for ui in started:
        if ui.proc.poll() is None:
            ui.proc.kill()
            ui.proc.wait()
        if ui.proc.stdout is not None:
            ui.proc.stdout.close()


def local_row(ui: Ui, name: str, *, latest: bool = True) -> dict[str, Any]:
    code, data = ui.get("api/local")
    assert code == 200
    return next(r for r in data["rows"] if r["name"] == name and r["latest"] == latest)


# --- the jobs table -----------------------------------------------------------------------


def test_the_table_lists_a_finished_local_run_and_a_cloud_job(project: Path, cloud_env,
                                                              ui_of) -> None:
    make_project_bucket = cloud_env.bucket
    (project / "job.yaml").write_text((project / "job.yaml").read_text().replace(
        "placeholder-bucket", make_project_bucket))
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c",
           "commit.gpgsign=false"]
    if (project / ".git").is_dir() and not any((project / ".git").iterdir()):
        (project / ".git").rmdir()  # a marker folder: make it a real repository
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the code"]):
        subprocess.run([*git, *args], cwd=project, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=project, check=True,
                          capture_output=True, text=True).stdout.strip()
    done = run_job(project, "--target", "cloud", wait=False)  # meanwhile, the local run
    assert run_job(project, "--target", "local").returncode == 0
    assert isinstance(done, subprocess.Popen) and done.wait(timeout=120) == 0
    ui = ui_of(project)
    row = local_row(ui, "tiny")
    assert row["state"] == "succeeded" and row["target"] == "local" and row["exit_code"] == 0
    assert row["spec"] == "job.yaml" and row["seconds"] is not None and row["user"]
    assert row["cost"] is None  # a local run has no price
    assert row["commit"] == head  # the code it came from, kept in its record
    code, cloud = ui.get("api/cloud")
    assert code == 200, cloud
    (job,) = cloud["rows"]
    assert job["name"] == "tiny" and job["state"] == "succeeded" and job["target"] == "cloud"
    assert job["console"].startswith("https://console.cloud.google.com/agent-platform/"
                                     "locations/us-central1/training/")
    assert job["region"] == "us-central1" and job["user"] and job["seconds"] is not None
    assert job["commit"] == head  # kept in the name's claim
    assert cloud["targets"] == [{"target": "cloud", "bucket": cloud_env.bucket}]
    code, detail = ui.get("api/job/cloud/cloud/tiny")
    assert code == 200 and detail["request"]["jobSpec"]["workerPoolSpecs"]
    assert [h["state"] for h in detail["history"]][0] == "claimed"
    assert detail["history"][-1]["state"] == "succeeded"
    code, log = ui.get("api/log/cloud/cloud/tiny?offset=0")
    assert code == 200 and "step 5 loss 0.2000" in log["text"] and not log["running"]
    assert "workerpool0-0" in log["tasks"]
    code, rerun = ui.post("rerun", "cloud/cloud/tiny", ui.token)
    assert rerun["command"] == "jobspec run job.yaml --target cloud"
    assert f"tiny stays taken in gs://{cloud_env.bucket}" in rerun["note"]
    # cancel of a job that ended: `jobspec cancel`'s answer, once
    code, answer = ui.post("cancel", "cloud/cloud/tiny", ui.token)
    assert code == 200 and answer["result"] == "already ended", answer
    assert answer["state"] == "JOB_STATE_SUCCEEDED"
    code, again = ui.post("cancel", "cloud/cloud/tiny", ui.token)
    assert again["result"] == "already requested" and again["noop"]
    assert ui.stop() == 130


def test_a_job_page_has_its_plan_log_history_and_metrics(project: Path, ui_of) -> None:
    assert run_job(project, "--target", "local").returncode == 0
    assert run_job(project, "--target", "local", "--", "--fail").returncode == 1
    ui = ui_of(project)
    good = local_row(ui, "tiny", latest=False)
    code, page = ui.get(f"api/job/{good['id']}")
    assert code == 200
    assert page["plan"]["processes"][0]["argv"][-2:] == ["--job-dir", "output/tiny"]
    assert [h["state"] for h in page["history"]] == ["running", "succeeded"]
    (metrics,) = page["metrics"]
    assert metrics["file"] == "output/tiny/metrics.json"
    assert metrics["series"]["loss"] == [[1.0, 1.0], [2.0, 0.5], [3.0, 1 / 3], [4.0, 0.25],
                                         [5.0, 0.2]]
    assert page["cancel_command"] == "jobspec cancel tiny --target local"
    bad = local_row(ui, "tiny")
    assert bad["state"] == "failed" and bad["exit_code"] == 1
    code, log = ui.get(f"api/log/{bad['id']}?offset=0")
    assert code == 200 and not log["running"]
    assert "Traceback (most recent call last):" in log["text"]
    assert "ValueError: the loss went to nan" in log["text"]
    # read in pieces from an offset, as the page follows a log
    code, rest = ui.get(f"api/log/{bad['id']}?offset={log['next'] - 10}")
    assert rest["text"] == log["text"][-10:] and rest["next"] == log["next"]


def test_a_running_jobs_log_is_read_as_it_grows(project: Path, ui_of) -> None:
    stop = project / "stop"
    running = run_job(project, "--target", "local", "--", "--wait-for", str(stop), wait=False)
    try:
        ui = ui_of(project)
        deadline = time.monotonic() + 20
        row: dict[str, Any] = {}
        while time.monotonic() < deadline and row.get("state") != "running":
            row = next((r for r in ui.get("api/local")[1]["rows"] if r["name"] == "tiny"), {})
            time.sleep(0.1)
        assert row["state"] == "running" and row["seconds"] is None
        offset, seen = 0, ""
        while "tick 3" not in seen and time.monotonic() < deadline:
            chunk = ui.get(f"api/log/{row['id']}?offset={offset}")[1]
            assert chunk["running"]
            seen += chunk["text"]
            offset = chunk["next"]
            time.sleep(0.2)
        assert "tick 1\ntick 2\ntick 3" in seen
        stop.touch()
        assert isinstance(running, subprocess.Popen) and running.wait(timeout=30) == 0
        end = ui.get(f"api/log/{row['id']}?offset={offset}")[1]
        assert not end["running"] and seen + end["text"] == (
            Path(project / ".jobspec/runs/tiny" / row["run"] / "log").read_text())
    finally:
        stop.touch()
        if isinstance(running, subprocess.Popen) and running.poll() is None:
            running.kill()


def test_a_sweeps_members_are_grouped_under_it(project: Path, ui_of) -> None:
    spec = project / "job.yaml"
    spec.write_text(spec.read_text()
                    + "matrix:\n  steps: [2, 3]\nargs: ['--steps=${matrix.steps}']\n")
    done = run_job(project, "--target", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    ui = ui_of(project)
    code, data = ui.get("api/local")
    (group,) = data["groups"]
    assert group["kind"] == "matrix" and len(group["members"]) == 2
    assert {r["name"] for r in data["rows"]} == set(group["members"])
    code, page = ui.get(f"api/group/local/{group['name']}")
    assert code == 200 and [r["state"] for r in page["rows"]] == ["succeeded", "succeeded"]
    assert page["study"] is None
    code, rerun = ui.post("rerun", page["rows"][0]["id"], ui.token)
    assert rerun["command"] == "jobspec run job.yaml --target local --name tiny"
    assert rerun["note"] == "reruns every member of matrix tiny"


STUDY_TRAINER = '''\
import argparse, math, os
import hypertune
p = argparse.ArgumentParser()
p.add_argument("--lr", type=float, required=True)
p.add_argument("--units", type=int, required=True)
p.add_argument("--job-dir")
a = p.parse_args()
score = 1 - ((math.log10(a.lr) + 2) / 2) ** 2 - ((a.units - 24) / 32) ** 2
ht = hypertune.HyperTune()
for step in (1, 2, 3):
    ht.report_hyperparameter_tuning_metric("score", score - 0.3 / step, step)
print(f"trial {os.environ['CLOUD_ML_TRIAL_ID']}: score {score:.4f}", flush=True)
'''


def make_study(root: Path, trials: int = 6) -> Path:
    """A project whose spec has a tuning: block (random search over two parameters), with a
    trainer that reports `score` with cloudml-hypertune."""
    import yaml

    (root / "tuner").mkdir(parents=True)
    (root / "tuner" / "__init__.py").write_text("")
    (root / "tuner" / "task.py").write_text(STUDY_TRAINER)
    (root / "pyproject.toml").write_text("[tool.ui-study-test]\n")
    tuning = {"metrics": [{"metric_id": "score", "goal": "MAXIMIZE"}],
              "algorithm": "RANDOM_SEARCH", "seed": 3, "max_trial_count": trials,
              "parallel_trial_count": 2,
              "parameters": [
                  {"parameter_id": "lr", "double_value_spec": {"min_value": 0.0001,
                                                               "max_value": 1.0},
                   "scale_type": "UNIT_LOG_SCALE"},
                  {"parameter_id": "units", "integer_value_spec": {"min_value": 1,
                                                                   "max_value": 64}}]}
    spec = {"version": 1, "name": "toy", "tuning": tuning,
            "trainer": {"package_path": "tuner", "module": "tuner.task"},
            "targets": {"local": {"job_dir": "out"}}}
    (root / "job.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
    return root


def test_a_studys_trials_are_grouped_and_its_page_marks_the_best(tmp_path: Path,
                                                                 ui_of) -> None:
    project = make_study(tmp_path / "proj")
    done = run_job(project, "--target", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads((project / ".jobspec/studies/toy.json").read_text())
    ui = ui_of(project)
    code, data = ui.get("api/local")
    (group,) = [g for g in data["groups"] if g["kind"] == "study"]
    assert group["name"] == "toy" and group["members"] == [t["name"] for t in record["trials"]]
    assert len(group["members"]) == 6
    code, page = ui.get("api/group/local/toy")
    study = page["study"]
    assert study["metric"] == "score" and study["goal"] == "MAXIMIZE"
    assert study["parameters"] == ["lr", "units"] and study["state"] == "succeeded"
    scores = {t["id"]: t["metric"] for t in study["trials"]}
    assert study["best"] == max(scores, key=lambda k: scores[k]) == record["best"]
    assert all(t["run"] and t["run"].startswith(f"local/{t['name']}/") for t in study["trials"])
    # a trial's own page plots its hypertune reports over steps
    trial = ui.get(f"api/job/{study['trials'][0]['run']}")[1]
    (hp,) = [m for m in trial["metrics"] if m["source"] == "hypertune"]
    assert [p[0] for p in hp["series"]["score"]] == [1.0, 2.0, 3.0]
    assert hp["series"]["score"][-1][1] == pytest.approx(scores[study["trials"][0]["id"]])


def test_a_vertex_tuning_jobs_page_has_its_trials_and_best(tmp_path: Path, cloud_env,
                                                            ui_of) -> None:
    root = tmp_path / "proj"
    (root / "trainer").mkdir(parents=True)
    (root / "trainer" / "__init__.py").write_text("")
    (root / "trainer" / "task.py").write_text(
        "import argparse, hypertune\n"
        "p = argparse.ArgumentParser()\n"
        "p.add_argument('--lr', type=float)\np.add_argument('--units', type=int)\n"
        "p.add_argument('--job-dir')\na = p.parse_args()\n"
        "hypertune.HyperTune().report_hyperparameter_tuning_metric(\n"
        "    hyperparameter_metric_tag='accuracy', metric_value=1 - abs(a.lr - 0.3)"
        " - 0.01 * a.units, global_step=7)\n")
    (root / "pyproject.toml").write_text('[tool.jobspec]\ndefault-spec = "job.yaml"\n')
    (root / "job.yaml").write_text(
        "version: 1\nname: study\ntrainer: {package_path: trainer, module: trainer.task}\n"
        f"env: {{PYTHONPATH: {root}}}\n"
        f"targets:\n  cloud:\n    bucket: {cloud_env.bucket}\n    project: test\n"
        "    image: us-docker.pkg.dev/test/images/trainer:1\n"
        "    command: [python3, -m, trainer.task]\n"
        "tuning:\n  metrics: [{metric_id: accuracy, goal: MAXIMIZE}]\n  parameters:\n"
        "    - {parameter_id: lr, discrete_value_spec: {values: [0.1, 0.3]}}\n"
        "    - {parameter_id: units, integer_value_spec: {min_value: 1, max_value: 2}}\n"
        "  algorithm: GRID_SEARCH\n  max_trial_count: 4\n  parallel_trial_count: 2\n")
    done = run_job(root, "--target", "cloud")
    assert done.returncode == 0, done.stdout + done.stderr
    ui = ui_of(root)
    (row,) = ui.get("api/cloud")[1]["rows"]
    assert row["name"] == "study" and row["state"] == "succeeded"
    code, page = ui.get("api/job/cloud/cloud/study")
    assert code == 200, page
    study = page["study"]
    assert study["metric"] == "accuracy" and study["goal"] == "MAXIMIZE"
    assert study["algorithm"] == "GRID_SEARCH" and study["parameters"] == ["lr", "units"]
    assert len(study["trials"]) == 4 and {t["state"] for t in study["trials"]} == {"succeeded"}
    best = next(t for t in study["trials"] if t["id"] == study["best"])
    assert best["parameters"] == {"lr": 0.3, "units": 1}
    assert best["metric"] == pytest.approx(0.99)


# --- served safely -------------------------------------------------------------------------


def test_secrets_never_reach_the_page(project: Path, ui_of) -> None:
    assert run_job(project, "--target", "local").returncode == 0
    assert run_job(project, "--target", "local", "--", "--fail").returncode == 1
    ui = ui_of(project)
    bodies = []
    for path in ("", "static/app.js", "api/local", "api/cloud"):
        bodies.append(json.dumps(ui.get(path)[1]))
    for row in ui.get("api/local")[1]["rows"]:
        page = ui.get(f"api/job/{row['id']}")[1]
        assert page["plan"]["processes"][0]["env"]["API_TOKEN"] == "****"
        log = ui.get(f"api/log/{row['id']}?offset=0")[1]
        assert "token in the trainer: ****" in log["text"]
        bodies += [json.dumps(page), json.dumps(log),
                   json.dumps(ui.post("rerun", row["id"], ui.token)[1])]
    assert all(SECRET not in body for body in bodies)
    assert SECRET not in "".join(ui.printed)


def test_nothing_outside_the_project_is_served(project: Path, ui_of, tmp_path: Path) -> None:
    assert run_job(project, "--target", "local").returncode == 0
    (tmp_path / "outside.txt").write_text("outside the project")
    ui = ui_of(project)
    run = local_row(ui, "tiny")["run"]
    for path in ("/static/../../pyproject.toml", "/static/..%2f..%2fpyproject.toml",
                 "/static/%2e%2e/%2e%2e/job.yaml", "/../job.yaml", "/job.yaml",
                 "/static/app.js/../../job.yaml", f"/api/log/local/tiny/{run}/../../../job.yaml",
                 "/api/log/local/..%2f..%2f..%2fjob.yaml/x", "/api/log/local/tiny/..%2fplans",
                 f"/api/job/local/tiny/..%2f{run}", "/api/job/local/..%2ftiny/x",
                 "/api/log/local/tiny/%2fetc%2fpasswd", "/api/job/cloud/..%2f..%2fjob.yaml/x",
                 "/static/uplot.LICENSE", "//etc/passwd", "/api/log/local/tiny/"):
        code, body = ui.raw(path)
        assert code == 404, (path, code, body[:200])
        assert b"outside the project" not in body and b"targets:" not in body
    # a metrics file that is a link to outside the project is not read
    job_dir = project / "output" / "tiny"
    (job_dir / "metrics.json").unlink()
    (job_dir / "metrics.json").symlink_to(tmp_path / "outside.txt")
    (tmp_path / "outside.txt").write_text('{"leaked": 1}')
    assert ui.get(f"api/job/local/tiny/{run}")[1]["metrics"] == []
    # another site's page cannot reach the server by a name that resolves to it
    code, answer = ui.get("api/local", host="attacker.example:80")
    assert code == 403 and "rows" not in answer


def test_actions_need_the_printed_token(project: Path, ui_of) -> None:
    assert run_job(project, "--target", "local").returncode == 0
    ui = ui_of(project)
    row = local_row(ui, "tiny")
    for token in (None, "", ui.token[:-1], ui.token + "x", "not-the-token"):
        code, answer = ui.post("cancel", row["id"], token)
        assert code == 403 and "token" in answer["error"]
        code, answer = ui.post("rerun", row["id"], token)
        assert code == 403
    code, answer = ui.post("rerun", row["id"], ui.token)
    assert code == 200 and answer["command"] == "jobspec run job.yaml --target local --name tiny"
    code, answer = ui.post("cancel", "local/tiny/../../x", ui.token)
    assert code == 404


def test_cancel_stops_a_running_run_once(project: Path, ui_of) -> None:
    stop = project / "stop"
    running = run_job(project, "--target", "local", "--", "--wait-for", str(stop), wait=False)
    assert isinstance(running, subprocess.Popen)
    try:
        ui = ui_of(project)
        deadline = time.monotonic() + 20
        row: dict[str, Any] = {}
        while time.monotonic() < deadline and "tick 1" not in (
                ui.get(f"api/log/{row['id']}?offset=0")[1]["text"] if row else ""):
            row = next((r for r in ui.get("api/local")[1]["rows"] if r["name"] == "tiny"), {})
            time.sleep(0.1)
        code, first = ui.post("cancel", row["id"], ui.token)
        assert code == 200 and first["result"] == "cancel requested", first
        code, second = ui.post("cancel", row["id"], ui.token)
        assert code == 200 and second["noop"] and second["result"] == "already requested"
        assert "nothing done" in second["message"]
        assert running.wait(timeout=30) == 130  # stopped once, as by Ctrl-C
        assert local_row(ui, "tiny")["state"] == "interrupted"
    finally:
        stop.touch()
        if running.poll() is None:
            running.kill()


def test_a_running_cloud_job_is_followed_and_cancelled_once(project: Path, cloud_env,
                                                            ui_of) -> None:
    (project / "job.yaml").write_text((project / "job.yaml").read_text().replace(
        "placeholder-bucket", cloud_env.bucket))
    stop = project / "stop"
    try:
        done = run_job(project, "--target", "cloud", "--detach", "--", "--wait-for", str(stop))
        assert done.returncode == 0, done.stderr
        ui = ui_of(project)
        seen, cursor = "", 0
        deadline = time.monotonic() + 30
        while "tick 2" not in seen and time.monotonic() < deadline:
            code, chunk = ui.get(f"api/log/cloud/cloud/tiny?offset={cursor}")
            assert code == 200, chunk
            seen += chunk["text"]
            cursor = chunk["next"]
            time.sleep(0.2)
        assert "workerpool0-0 | tick 1\n" in seen and chunk["running"]
        assert "token in the trainer: ****" in seen and SECRET not in seen
        code, first = ui.post("cancel", "cloud/cloud/tiny", ui.token)
        assert code == 200 and first["result"] == "cancel requested", first
        code, second = ui.post("cancel", "cloud/cloud/tiny", ui.token)
        assert second["result"] == "already requested" and second["noop"]
        state = ""
        while state != "cancelled" and time.monotonic() < deadline:
            state = ui.get("api/job/cloud/cloud/tiny")[1]["state"]
            time.sleep(0.2)
        assert state == "cancelled"
        (job,) = cloud_env.vertex.jobs.values()
        assert job["state"] == "JOB_STATE_CANCELLED"
    finally:
        stop.touch()


def test_damaged_records_do_not_break_the_page(project: Path, ui_of) -> None:
    assert run_job(project, "--target", "local").returncode == 0
    runs = project / ".jobspec/runs"
    for name, status, plan in (("broken", "{not json", "[1, 2]"),
                               ("odd", '{"state": 7, "start": {"a": 1}, "end": "yesterday"}',
                                '{"processes": "x", "job_dir": 5, "spec": ["a"]}')):
        folder = runs / name / "20260101T000000.000000Z"
        folder.mkdir(parents=True)
        (folder / "status.json").write_text(status)
        (folder / "plan.json").write_text(plan)
    (project / ".jobspec/groups").mkdir()
    (project / ".jobspec/groups/g.json").write_text('{"members": "not a list"}')
    ui = ui_of(project)
    code, data = ui.get("api/local")
    assert code == 200 and {r["name"] for r in data["rows"]} == {"tiny", "broken", "odd"}
    states = {r["name"]: r["state"] for r in data["rows"]}
    assert states["broken"] == "unknown" and states["tiny"] == "succeeded"
    for row in data["rows"]:
        assert ui.get(f"api/job/{row['id']}")[0] == 200
        assert ui.get(f"api/log/{row['id']}?offset=0")[0] == 200


# --- the server itself ------------------------------------------------------------------------


def test_ctrl_c_stops_the_server_with_exit_130(project: Path, ui_of) -> None:
    ui = ui_of(project)
    assert ui.url.startswith("http://127.0.0.1:")
    assert ui.get("")[0] == 200
    assert ui.stop() == 130
    assert ui.proc.stdout is not None and "jobspec: stopped" in ui.proc.stdout.read()


def test_a_port_in_use_is_a_usage_error(project: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "jobspec", "ui", "--port", str(port)],
                              cwd=project, capture_output=True, text=True, timeout=30,
                              stdin=subprocess.DEVNULL)
    assert done.returncode == 2
    assert f"port {port} on 127.0.0.1 is in use" in done.stderr
    assert "Traceback" not in done.stderr


def test_other_commands_do_not_import_the_ui() -> None:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "jobspec", "validate",
                           "specs/census.yaml"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()}
    assert "jobspec.cli_ui" in imported  # the command is registered ...
    assert not {m for m in imported if m.startswith("jobspec.ui")}  # ... its server is not
    assert "http.server" not in imported


# --- metrics files ----------------------------------------------------------------------------


def test_metrics_are_read_from_hypertune_lines_and_json_shapes() -> None:
    from jobspec.ui.metrics import parse

    hypertune = "\n".join(json.dumps({"global_step": str(step), "accuracy": str(value),
                                      "timestamp": 1525851440.1 + step, "trial": "3"})
                          for step, value in ((100, 0.7), (200, 0.8), (300, 0.85)))
    assert parse(hypertune) == ({"accuracy": [[100.0, 0.7], [200.0, 0.8], [300.0, 0.85]]}, {})
    assert parse('{"accuracy": 0.85, "auc": null, "loss": [0.9, 0.5], "name": "x"}') == (
        {"loss": [[1.0, 0.9], [2.0, 0.5]]}, {"accuracy": 0.85})
    assert parse('[{"step": 2, "loss": 0.5}, {"step": 1, "loss": 1}]') == (
        {"loss": [[1.0, 1.0], [2.0, 0.5]]}, {})
    assert parse("not json at all") == ({}, {})
    assert parse("[" * 100000) == ({}, {})
    assert parse('{"loss": NaN, "ok": Infinity}') == ({}, {})


def test_a_hypertune_file_named_by_the_runs_environment_is_plotted(project: Path,
                                                                   ui_of) -> None:
    (project / "tiny" / "task.py").write_text(
        "import json, os\n"
        "with open(os.environ['CLOUD_ML_HP_METRIC_FILE'], 'w') as fh:\n"
        "    for step in (1, 2, 3):\n"
        "        fh.write(json.dumps({'global_step': str(step), 'rmse': str(1 / step),\n"
        "                             'timestamp': 1.0, 'trial': '1'}) + '\\n')\n")
    spec = project / "job.yaml"
    spec.write_text(spec.read_text().replace(
        'env: {API_TOKEN: "${MY_TOKEN:-unset-token-value}"}',
        "env: {CLOUD_ML_HP_METRIC_FILE: output/hp.metrics}"))
    (project / "output").mkdir()
    done = run_job(project, "--target", "local")
    assert done.returncode == 0, done.stdout + done.stderr
    ui = ui_of(project)
    page = ui.get(f"api/job/{local_row(ui, 'tiny')['id']}")[1]
    (hp,) = [m for m in page["metrics"] if m["source"] == "hypertune"]
    assert hp["file"] == "output/hp.metrics"
    assert hp["series"] == {"rmse": [[1.0, 1.0], [2.0, 0.5], [3.0, 1 / 3]]}


def _copy_runs(project: Path, count: int) -> None:
    """COUNT more records of job tiny: copies of its one real record, with new stamps."""
    folder = project / ".jobspec/runs/tiny"
    (real,) = list(folder.iterdir())
    status = json.loads((real / "status.json").read_text())
    for i in range(count):
        stamp = f"20260101T{i // 3600:02d}{i // 60 % 60:02d}{i % 60:02d}.000000Z"
        copy = folder / stamp
        shutil.copytree(real, copy)
        start = f"2026-01-01T{i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}.000Z"
        (copy / "status.json").write_text(json.dumps({**status, "start": start,
                                                      "end": start.replace(".000Z", ".900Z")}))


copy_runs = _copy_runs
