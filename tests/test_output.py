"""One output layer: --json on every command, one colour decision (--color, NO_COLOR,
FORCE_COLOR, terminal), -q/-v, and tables that fit COLUMNS. Through the real CLI: local runs
of the probe trainer, cloud jobs in the stand-ins."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Outcome
from tests.test_local import PROBE, free_ports

SECRET = "s3cr3t-value-123"
FAST_POLL = {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3", "JOBSPEC_RETRY_BASE": "0.05"}
GCLOUD_LOCAL = ["gcloud", "ai-platform", "local", "train", "--module-name", "trainer.task",
                "--package-path", "trainer", "--verbosity", "debug", "--", "--steps", "5"]
BAD_SPEC = ("version: 1\nname: bad\ntrainer: {package_path: probe, module: probe.dump}\n"
            "targets:\n  local:\n    regoin: us-central1\n  cloud: {kind: clod}\n")


def _project(root: Path, *, name: str = "probe") -> Path:
    """The probe package in a project, with job.yaml: a chief and a worker that print a line
    holding a secret, and bad.yaml: two mistakes."""
    shutil.copytree(PROBE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text("[tool.probe-project]\n", encoding="utf-8")
    (root / "out").mkdir()
    port = free_ports(2)
    (root / "job.yaml").write_text(
        f"version: 1\nname: {name}\ntrainer: {{package_path: probe, module: probe.dump}}\n"
        f"env: {{API_TOKEN: {SECRET}, PROBE_PRINT: 'token {SECRET}', PROBE_WAIT_FOR: '2',\n"
        f"      PROBE_OUT: {root / 'out'}}}\n"
        "targets:\n  local:\n    distributed: {workers: 1, parameter_servers: 0, "
        f"evaluators: 0, start_port: {port}}}\n", encoding="utf-8")
    (root / "bad.yaml").write_text(BAD_SPEC, encoding="utf-8")
    return root


def _proc(args: list[str], cwd: Path, env: dict[str, str] | None = None,
          drop: tuple[str, ...] = ("NO_COLOR", "FORCE_COLOR", "COLUMNS")) -> Outcome:
    """`jobspec ARGS` as a process with stdout and stderr on pipes."""
    base = {k: v for k, v in os.environ.items() if k not in drop}
    done = subprocess.run([sys.executable, "-m", "jobspec", *args], cwd=cwd,
                          env={**base, **(env or {})}, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)
    return Outcome(done.returncode, done.stdout, done.stderr)


@pytest.fixture
def on_a_terminal(monkeypatch: pytest.MonkeyPatch):
    """Run `jobspec ARGS` in this process with stdout and stderr on one pseudo-terminal;
    returns (exit code, every byte shown)."""
    from jobspec.cli import main

    def run(*args: str) -> tuple[int, bytes]:
        master, side = pty.openpty()
        chunks: list[bytes] = []

        def read() -> None:  # drained meanwhile: a full terminal buffer would block jobspec
            while True:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    return
                if not data:
                    return
                chunks.append(data)

        reader = threading.Thread(target=read)
        reader.start()
        stream = open(side, "w", encoding="utf-8", closefd=True)  # noqa: SIM115
        with monkeypatch.context() as patch:
            patch.setattr(sys, "stdout", stream)
            patch.setattr(sys, "stderr", stream)
            try:
                main(list(args))
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            finally:
                stream.close()
        reader.join(timeout=10)
        os.close(master)
        return code, b"".join(chunks)

    return run


def _json_lines(text: str) -> list[Any]:
    return [json.loads(line) for line in text.splitlines()]


# --- --json on every command -----------------------------------------------------------------


def test_every_local_command_prints_json(cli, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    ran = cli("run", "job.yaml", "--target", "local", "--json", cwd=project)
    assert ran.code == 0, ran.err
    # stdout: the outcome only; the trainers' own lines went to stderr
    assert json.loads(ran.out) == {"kind": "local", "name": "probe", "target": "local",
                                   "exit_code": 0, "state": "succeeded"}
    assert "token ****" in ran.err and SECRET not in ran.out + ran.err
    failed = cli("run", "job.yaml", "--target", "local", "--json",
                 "--name", "probe_fails", "--set", "env.PROBE_EXIT=chief-0=3", cwd=project)
    assert failed.code == 1
    outcome = json.loads(failed.out)
    assert (outcome["exit_code"], outcome["state"]) == (1, "failed")
    assert outcome["error"].startswith("chief-0 exited with code 3")

    valid = cli("validate", "job.yaml", "--json")
    assert valid.code == 0
    assert json.loads(valid.out) == {"ok": True, "files": [{"file": "job.yaml", "ok": True}],
                                     "summary": "1 spec(s) valid"}

    status = json.loads(cli("status", "probe", "--json").out)
    assert status["state"] == "succeeded" and status["exit_code"] == 0
    assert Path(status["record"]).parent == project / ".jobspec" / "runs" / "probe"

    logs = cli("logs", "probe", "--json")
    assert logs.code == 0, logs.err
    lines = _json_lines(logs.out)
    assert sorted((line["task"], line["text"]) for line in lines) == [
        ("chief-0", "dumped chief-0"), ("chief-0", "token ****"),
        ("worker-0", "dumped worker-0"), ("worker-0", "token ****")]
    assert SECRET not in logs.out

    listing = json.loads(cli("list", "--json").out)
    assert [(r["name"], r["state"], r["runs"]) for r in listing] == [
        ("probe", "succeeded", 1), ("probe_fails", "failed", 1)]

    cancel = cli("cancel", "probe", "--json")
    assert cancel.code == 0
    assert json.loads(cancel.out) == {"name": "probe", "where": "local", "members": [
        {"name": "probe", "result": "not running", "state": "succeeded"}]}
    # the info line is a JSON line on stderr too
    assert _json_lines(cancel.err) == [
        {"level": "info", "message": "probe is not running (local run, succeeded); nothing to "
         "cancel"}]


def test_runtimes_import_and_init_print_json(cli, tmp_path: Path) -> None:
    runtimes = json.loads(cli("runtimes", "--json").out)
    names = [r["name"] for r in runtimes["runtimes"]]
    assert "tf-cpu.2-17.py310" in names and "1.15" in names
    assert {t["name"] for t in runtimes["scale_tiers"]} >= {"BASIC", "BASIC_GPU", "CUSTOM"}
    assert runtimes["unsourced"]

    (tmp_path / "trainer").mkdir()
    imported = cli("import", "--json", "--", *GCLOUD_LOCAL, cwd=tmp_path)
    assert imported.code == 0, imported.err
    data = json.loads(imported.out)
    assert data["spec"]["trainer"] == {"package_path": "trainer", "module": "trainer.task"}
    assert data["spec"]["args"] == ["--steps", "5"]
    assert data["text"].startswith("# Editor schema") and data["written"] is None
    assert any("--verbosity is ignored" in n for n in data["notes"])
    assert any("not a Python package folder" in w for w in data["warnings"])
    assert imported.err == ""  # notes and warnings are in the JSON, not printed twice

    init = cli("init", "--json", "--dir", "new", "--name", "demo", cwd=tmp_path)
    assert init.code == 0, init.err
    made = json.loads(init.out)
    assert "specs/demo.yaml" in made["written"]
    assert made["next"] == ["jobspec validate new/specs/demo.yaml",
                            "jobspec run new/specs/demo.yaml --target local"]


def test_validate_json_gives_each_problem_and_keeps_exit_2(cli, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    out = cli("validate", "job.yaml", "bad.yaml", "--json", cwd=project)
    assert out.code == 2
    data = json.loads(out.out)
    assert data["ok"] is False
    assert data["files"][0] == {"file": "job.yaml", "ok": True}
    bad = data["files"][1]
    assert bad["file"] == "bad.yaml" and not bad["ok"]
    keys = {(p["line"], p["col"], p["key"]) for p in bad["problems"]}
    assert (6, 5, "targets.local.regoin") in keys
    assert all(set(p) == {"file", "line", "col", "key", "message"} for p in bad["problems"])
    assert _json_lines(out.err) == [{"error": {"message": f"{len(bad['problems'])} problem(s) "
                                               "in 1 file(s)", "exit_code": 2}}]


def test_errors_under_json_are_one_json_object_on_stderr(cli, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    missing = cli("status", "nothing_here", "--target", "local", "--json", cwd=project)
    assert missing.code == 2 and missing.out == ""
    (error,) = _json_lines(missing.err)
    assert error["error"]["exit_code"] == 2
    assert "no local runs of 'nothing_here'" in error["error"]["message"]
    spec_error = cli("list", "--target", "cloud", "--spec", "bad.yaml", "--json")
    assert spec_error.code == 2 and spec_error.out == ""
    (error,) = _json_lines(spec_error.err)
    assert error["error"]["exit_code"] == 2
    assert error["error"]["problems"] == [
        {"file": "bad.yaml", "line": 7, "col": 17, "key": "targets.cloud.kind",
         "message": "expected one of local, cloud, got the string 'clod' (did you mean "
         "'cloud'?)"}]
    usage = cli("list", "--json", "--no-such-option")
    assert usage.code == 2
    assert json.loads(usage.err)["error"]["message"] == "No such option '--no-such-option'."


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def test_cloud_status_list_logs_and_cancel_print_json(cli, cloud, tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text(
        "import os, time\nprint('started', os.environ['API_TOKEN'], flush=True)\n"
        "time.sleep(60)\n")
    (tmp_path / "job.yaml").write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        f"env: {{API_TOKEN: {SECRET}}}\n"
        f"targets:\n  cloud:\n    bucket: {cloud.bucket}\n    project: test\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n")
    ran = cli("run", "job.yaml", "--target", "cloud", "--detach", "--json", cwd=tmp_path)
    assert ran.code == 0, ran.err
    (job_id,) = cloud.vertex.jobs
    submitted = json.loads(ran.out)  # `run --json --detach`: the submitted job
    assert (submitted["name"], submitted["state"], submitted["bucket"]) == (
        "probe", "submitted", cloud.bucket)
    assert submitted["job"].endswith(f"/customJobs/{job_id}")
    cloud.vertex.wait_for_state(job_id, "JOB_STATE_RUNNING", timeout=20)
    where = ["--target", "cloud", "--bucket", cloud.bucket]

    status = json.loads(cli("status", "probe", *where, "--json").out)
    assert status["job"]["state"] == "JOB_STATE_RUNNING" and status["claim"]["state"]
    listing = json.loads(cli("list", *where, "--json").out)
    assert [(r["name"], r["state"]) for r in listing] == [("probe", "RUNNING")]
    deadline = time.monotonic() + 20  # the trainer installs its package first
    while True:
        logs = cli("logs", "probe", *where, "--json")
        assert logs.code == 0, logs.err
        lines = _json_lines(logs.out)  # every line is a JSON object
        if any(line["text"].startswith("started") for line in lines):
            break
        assert time.monotonic() < deadline, lines
        time.sleep(0.2)
    assert {"task": "workerpool0-0", "text": "started ****"} in lines
    assert SECRET not in logs.out
    cancel = cli("cancel", "probe", *where, "--json")
    assert cancel.code == 0, cancel.err
    assert json.loads(cancel.out) == {"name": "probe", "job": status["job"]["name"],
                                      "result": "cancel requested"}


# --- colour ----------------------------------------------------------------------------------


def test_no_color_means_not_one_escape_byte(on_a_terminal, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "p")
    (project / "trainer").mkdir()
    monkeypatch.chdir(project)
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("FORCE_COLOR", "1")  # NO_COLOR beats FORCE_COLOR, and a terminal
    shown = []
    for args in (["run", "job.yaml", "--target", "local"], ["validate", "job.yaml", "bad.yaml"],
                 ["run", "bad.yaml", "--target", "local"], ["list"], ["status", "probe"],
                 ["logs", "probe"], ["cancel", "probe"], ["runtimes"],
                 ["status", "nothing_here", "--target", "local"],
                 ["import", "--", *GCLOUD_LOCAL], ["-v", "validate", "job.yaml"]):
        code, out = on_a_terminal(*args)
        shown.append(out)
        assert b"\x1b" not in out, (args, out)
    text = b"".join(shown).decode()
    # what was checked: errors, warnings, notes and a distributed run's task prefixes
    assert "chief-0  | dumped chief-0" in text and "worker-0 | dumped worker-0" in text
    assert "bad.yaml:6:5: targets.local.regoin: unknown key" in text
    assert "warning: " in text and "note: " in text and "NAME   STATE" in text
    # and the same terminal does get colour without NO_COLOR
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.delenv("FORCE_COLOR")
    code, out = on_a_terminal("validate", "bad.yaml")
    assert code == 2 and b"\x1b[31;1mbad.yaml:6:5: " in out


def test_force_color_colours_a_pipe_and_color_never_beats_it(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = _project(tmp_path / "p")
    monkeypatch.chdir(project)
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("FORCE_COLOR", "1")
    forced = cli("run", "job.yaml", "--target", "local")  # captured: not a terminal
    assert forced.code == 0, forced.err
    assert "\x1b[36mchief-0  | \x1b[0mdumped chief-0\n" in forced.out
    errors = cli("validate", "bad.yaml")
    assert errors.code == 2
    assert "\x1b[31;1mbad.yaml:6:5: targets.local.regoin: unknown key" in errors.err
    for args in (["--color", "never", "validate", "bad.yaml"],
                 ["--color", "never", "run", "job.yaml", "--target", "local"],
                 ["--color", "never", "list"]):
        never = cli(*args)
        assert never.err or never.out
        assert "\x1b" not in never.out + never.err, args
    piped = _proc(["validate", "bad.yaml"], project, {"FORCE_COLOR": "1"})  # a real pipe
    assert "\x1b[31;1mbad.yaml:6:5: " in piped.err
    monkeypatch.delenv("FORCE_COLOR")
    plain = cli("validate", "bad.yaml")  # not a terminal, nothing forced
    assert "\x1b" not in plain.err and "bad.yaml:6:5:" in plain.err
    monkeypatch.setenv("NO_COLOR", "1")
    always = cli("--color", "always", "validate", "bad.yaml")
    assert "\x1b[31;1m" in always.err  # the flag beats NO_COLOR


@pytest.mark.parametrize(("flag", "env", "terminal", "expected"), [
    ("auto", {}, True, True),
    ("auto", {}, False, False),
    ("auto", {"NO_COLOR": "1"}, True, False),
    ("auto", {"NO_COLOR": ""}, True, True),  # set but empty: no-color.org says ignore it
    ("auto", {"NO_COLOR": "1", "FORCE_COLOR": "1"}, True, False),
    ("auto", {"FORCE_COLOR": "1"}, False, True),
    ("auto", {"FORCE_COLOR": "0"}, False, False),
    ("auto", {"TERM": "dumb"}, True, False),
    ("never", {"FORCE_COLOR": "1"}, True, False),
    ("always", {"NO_COLOR": "1"}, False, True),
])
def test_the_colour_decision_in_order(flag: str, env: dict[str, str], terminal: bool,
                                      expected: bool) -> None:
    from jobspec.output import decide_color

    class Stream:
        def isatty(self) -> bool:
            return terminal

    assert decide_color(flag, Stream(), {"TERM": "xterm", **env}) is expected  # type: ignore


# --- tables, -q, -v --------------------------------------------------------------------------


def test_tables_fit_columns(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    long_name = "a_rather_long_job_name_for_a_narrow_terminal_window"
    project = _project(tmp_path / "p", name=long_name)
    assert cli("run", "job.yaml", "--target", "local", cwd=project).code == 0
    monkeypatch.delenv("COLUMNS", raising=False)
    for args in (["list"], ["runtimes"]):
        wide = cli(*args)  # not a terminal, no COLUMNS: no limit
        assert max(len(line) for line in wide.out.splitlines()) > 60  # it had to shrink
        monkeypatch.setenv("COLUMNS", "60")
        narrow = cli(*args)
        monkeypatch.delenv("COLUMNS")
        assert narrow.code == 0, narrow.err
        assert max(len(line) for line in narrow.out.splitlines()) <= 60, narrow.out
    monkeypatch.setenv("COLUMNS", "60")
    listing = cli("list").out
    # the name is wrapped, never cut: it can still be read whole
    assert long_name in "".join(line.split()[0] if line.split() else ""
                                for line in listing.splitlines()[1:])


def test_quiet_hides_info_and_verbose_adds_detail(cli, tmp_path: Path) -> None:
    project = _project(tmp_path / "p")
    assert cli("run", "job.yaml", "--target", "local", cwd=project).code == 0
    loud = cli("cancel", "probe")
    assert loud.err.startswith("jobspec: probe is not running")
    quiet = cli("-q", "cancel", "probe")
    assert quiet.code == 0 and quiet.err == ""
    assert cli("-q", "status", "probe").out.startswith("probe: succeeded")  # results stay
    assert cli("-q", "validate", "bad.yaml").err.startswith("bad.yaml:")  # errors stay
    assert "jobspec: job.yaml: valid" not in cli("validate", "job.yaml").err
    assert "jobspec: job.yaml: valid" in cli("-v", "validate", "job.yaml").err
    both = cli("-q", "-v", "list")
    assert both.code == 2 and "-q and -v" in both.err


def test_upload_progress_bar_only_on_a_terminal_and_never_quiet() -> None:
    from jobspec.output import Output

    master, side = pty.openpty()
    with open(side, "w", encoding="utf-8") as terminal:
        out = Output()
        out_stderr = terminal

        class OnTerminal(Output):
            @property
            def stderr(self):  # type: ignore[override]
                return out_stderr

        shown = OnTerminal().progress("uploading package", 4 << 20)
        assert shown is not None
        advance, finish = shown
        for _ in range(4):
            advance(1 << 20)
        finish()
        chunks = []
        while select.select([master], [], [], 0.5)[0]:  # all that was written, in pieces
            chunks.append(os.read(master, 65536))
        data = b"".join(chunks).decode()
        assert "uploading package [" in data and "100%" in data and "\x1b" not in data
        assert data.endswith("\r")  # the line is cleared for what comes next
        assert OnTerminal(verbosity=-1).progress("uploading package", 10) is None
        assert OnTerminal(as_json=True).progress("uploading package", 10) is None
        assert out.progress("uploading package", 10) is None  # captured stderr: no terminal
    os.close(master)
