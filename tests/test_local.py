"""The local target, end to end: real `jobspec` processes running real probe trainers.

The probe package (tests/probe/) is copied into a fresh project per test; the probes write
what they see (argv, cwd, environment, pid) to $PROBE_OUT, and `gcloud ai-platform local
train` is the reference for what they should see.
"""

from __future__ import annotations

import json
import os
import pty
import queue
import random
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Outcome

PROBE = Path(__file__).resolve().parent / "probe"
HOST_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
PY310_IMAGE = "us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest"


# --- helpers --------------------------------------------------------------------------------


def free_ports(count: int) -> int:
    """The first of `count` consecutive free ports (never gcloud's default 27182)."""
    for _ in range(500):
        start = random.randrange(20000, 32000)
        if start <= 27182 < start + count:
            continue
        if all(_port_free(port) for port in range(start, start + count)):
            return start
    raise AssertionError("no free port range found")


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def make_project(root: Path) -> Path:
    """A copy of tests/probe with a pyproject.toml, so run records land inside it."""
    shutil.copytree(PROBE, root, ignore=shutil.ignore_patterns("__pycache__"))
    (root / "pyproject.toml").write_text("[tool.probe-project]\n", encoding="utf-8")
    return root


def write_spec(project: Path, *, name: str = "probe", module: str = "probe.dump",
               args: Sequence[str] = (), env: dict[str, str] | None = None,
               local: dict[str, Any] | None = None, requirements: Sequence[str] = (),
               more_targets: dict[str, Any] | None = None, filename: str = "job.yaml",
               package_path: str = "probe") -> Path:
    spec = {
        "version": 1,
        "name": name,
        "trainer": {"package_path": package_path, "module": module,
                    "requirements": list(requirements)},
        "args": list(args),
        "env": env or {},
        "targets": {"local": local or {}, **(more_targets or {})},
    }
    path = project / filename
    path.write_text(json.dumps(spec, indent=2), encoding="utf-8")  # JSON is YAML
    return path


def distributed(start_port: int, workers: int = 0, ps: int = 0, evaluators: int = 0
                ) -> dict[str, int]:
    return {"workers": workers, "parameter_servers": ps, "evaluators": evaluators,
            "start_port": start_port}


def read_dumps(out: Path) -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in out.glob("*.json")}


def wait_for_dumps(out: Path, count: int, timeout: float = 15) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = read_dumps(out)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"only {sorted(read_dumps(out))} of {count} probes started")


def alive(pid: int) -> bool:
    """Running or stopped, not a zombie: what is left of a process that we care about."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone, or going between open and read
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_all_gone(pids: Sequence[int], timeout: float = 5) -> list[int]:
    """The pids still alive after `timeout` seconds (the acceptance bound), else []."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.02)


def runs_of(project: Path, name: str = "probe") -> list[Path]:
    folder = project / ".jobspec" / "runs" / name
    return sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []


def last_status(project: Path, name: str = "probe") -> dict[str, Any]:
    data: dict[str, Any] = json.loads((runs_of(project, name)[-1] / "status.json").read_text())
    return data


def trainer_args(dump: dict[str, Any]) -> list[str]:
    argv: list[str] = dump["argv"]
    return argv[1:]  # argv[0] is the module's file, as with any `python -m`


class Live:
    """A `jobspec` subprocess whose stdout is read line by line, as it comes."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str | None]) -> None:
        merged = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jobspec", *args], cwd=cwd, env=merged,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.err: list[str] = []
        self.pumps = [threading.Thread(target=self._pump_out, daemon=True),
                      threading.Thread(target=self._pump_err, daemon=True)]
        for pump in self.pumps:
            pump.start()

    def _pump_out(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self) -> None:
        assert self.proc.stderr is not None
        with self.proc.stderr:
            self.err.extend(self.proc.stderr)

    def expect(self, text: str, timeout: float = 15) -> str:
        """The first unread stdout line containing `text`; fails at EOF or after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {text!r} in {timeout} s; saw {self.seen}"
                                     ) from None
            if line is None:
                raise AssertionError(f"output ended without {text!r}; saw {self.seen}; "
                                     f"stderr {''.join(self.err)}")
            self.seen.append(line)
            if text in line:
                return line

    def expect_err(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not any(text in line for line in list(self.err)):
            if time.monotonic() > deadline:
                raise AssertionError(f"no stderr line with {text!r}; saw {self.err}")
            time.sleep(0.01)

    def finish(self, timeout: float = 30) -> Outcome:
        code = self.proc.wait(timeout=timeout)
        for pump in self.pumps:
            pump.join(timeout=10)
        while (line := self.lines.get_nowait()) is not None:
            self.seen.append(line)
        return Outcome(code, "".join(self.seen), "".join(self.err))


@pytest.fixture
def live() -> Iterator[Any]:
    started: list[Live] = []

    def start(*args: str, cwd: Path, env: dict[str, str | None] | None = None) -> Live:
        """Run `jobspec ARGS`; a None value in `env` removes that variable."""
        started.append(Live(args, cwd, env or {}))
        return started[-1]

    yield start
    for each in started:
        if each.proc.poll() is None:
            each.proc.kill()  # its trainers follow through PR_SET_PDEATHSIG
            each.proc.wait(timeout=10)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return make_project(tmp_path / "proj")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "dumps"
    folder.mkdir()
    return folder


# --- the census job -------------------------------------------------------------------------


def test_census_job_writes_metrics(jobspec_proc: Any, tmp_path: Path) -> None:
    name = f"census_test_{uuid.uuid4().hex[:8]}"
    job_dir = tmp_path / "census"
    try:
        done = jobspec_proc("run", "specs/census.yaml", "--target", "local", "--name", name,
                            "--set", f"targets.local.job_dir={job_dir}", cwd=REPO)
        assert done.code == 0, done.err
        metrics = json.loads((job_dir / "metrics.json").read_text())
        assert 0.5 < metrics["accuracy"] <= 1.0
        assert metrics["steps"] == 1000
        assert (job_dir / "model" / "model.json").is_file()
    finally:
        shutil.rmtree(REPO / ".jobspec" / "runs" / name, ignore_errors=True)


# --- what the trainer sees ------------------------------------------------------------------


def test_single_process_argv_cwd_env(jobspec_proc: Any, project: Path, out: Path,
                                     tmp_path: Path) -> None:
    spec = write_spec(project, args=["--spec-arg", "with space"], env={"FROM_SPEC": "s"},
                      local={"job_dir": "out dir", "args": ["--target-arg=two words"],
                             "env": {"FROM_TARGET": "t"}})
    leaked = {"CLOUDSDK_CORE_PROJECT": "leak", "CLOUDSDK_CONFIG": str(tmp_path / "gcloud")}
    done = jobspec_proc("run", str(spec), "--target", "local", "--name", "renamed",
                        "--set", "env.FROM_SET=x", "--", "--cli", "a b", "--target", "cloud",
                        cwd=project, env={"PROBE_OUT": str(out), **leaked})
    assert done.code == 0, done.err
    assert done.out == "dumped single-0\n"  # one process: no task prefix
    (dump,) = read_dumps(out).values()
    expected_args = ["--spec-arg", "with space", "--target-arg=two words", "--cli", "a b",
                     "--target", "cloud", "--job-dir", "out dir"]
    assert trainer_args(dump) == expected_args
    assert dump["argv"][0] == str(project / "probe" / "dump.py")
    assert dump["cwd"] == str(project)  # the parent of package_path
    assert dump["executable"] == sys.executable
    env = dump["env"]
    assert json.loads(env["TF_CONFIG"]) == {
        "job": {"job_name": "probe.dump", "args": expected_args},
        "task": {}, "cluster": {}, "environment": "cloud"}
    assert "CLUSTER_SPEC" not in env
    assert env["AIP_MODEL_DIR"] == "out dir/model/"
    assert env["AIP_CHECKPOINT_DIR"] == "out dir/checkpoints/"
    assert env["AIP_TENSORBOARD_LOG_DIR"] == "out dir/logs/"
    assert env["CLOUD_ML_JOB_ID"] == "renamed"
    assert (env["FROM_SPEC"], env["FROM_TARGET"], env["FROM_SET"]) == ("s", "t", "x")
    assert [key for key in env if key.startswith("CLOUDSDK_")] == []
    assert "drift" not in done.err  # no cloud target, nothing to drift from


def test_target_python_is_used(jobspec_proc: Any, project: Path, out: Path,
                               tmp_path: Path) -> None:
    python = tmp_path / "bin" / "python-for-trainer"
    python.parent.mkdir()
    python.symlink_to(sys.executable)
    spec = write_spec(project, local={"python": str(python)})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out)})
    assert done.code == 0, done.err
    assert read_dumps(out)["single-0"]["executable"] == str(python)


def test_distributed_tf_config_cluster_spec_and_prefixes(jobspec_proc: Any, project: Path,
                                                         out: Path) -> None:
    port = free_ports(4)
    spec = write_spec(project, args=["--lr", "0.1"], local={
        "job_dir": "jobs/d", "distributed": distributed(port, workers=2, ps=1, evaluators=1)})
    done = jobspec_proc("run", str(spec), "--target", "local", "--", "--extra", "x y",
                        cwd=project, env={"PROBE_OUT": str(out), "PROBE_WAIT_FOR": "5"})
    assert done.code == 0, done.err
    dumps = read_dumps(out)
    assert sorted(dumps) == ["chief-0", "evaluator-0", "ps-0", "worker-0", "worker-1"]
    args = ["--lr", "0.1", "--extra", "x y", "--job-dir", "jobs/d"]
    cluster = {"chief": [f"localhost:{port}"], "ps": [f"localhost:{port + 1}"],
               "worker": [f"localhost:{port + 2}", f"localhost:{port + 3}"]}
    pools = {"chief": "workerpool0", "worker": "workerpool1", "ps": "workerpool2",
             "evaluator": "workerpool3"}
    for task, dump in dumps.items():
        kind, index = task.split("-")
        env = dump["env"]
        assert trainer_args(dump) == args
        assert dump["cwd"] == str(project)
        assert json.loads(env["TF_CONFIG"]) == {
            "job": {"job_name": "probe.dump", "args": args},
            "task": {"type": kind, "index": int(index)},
            "cluster": cluster, "environment": "cloud"}
        assert json.loads(env["CLUSTER_SPEC"]) == {
            "cluster": {"workerpool0": cluster["chief"], "workerpool1": cluster["worker"],
                        "workerpool2": cluster["ps"]},
            "environment": "cloud", "task": {"type": pools[kind], "index": int(index)}}
        assert env["AIP_MODEL_DIR"] == "jobs/d/model/"
        assert env["CLOUD_ML_JOB_ID"] == "probe"
    # every output line carries its task; each task printed exactly its own line
    lines = done.out.splitlines()
    assert len(lines) == 5
    for task in dumps:
        assert f"{task:<11} | dumped {task}" in lines


def test_primary_is_master_under_tensorflow_1(project: Path) -> None:
    from jobspec.loader import load
    from jobspec.plan import Host, plan_local

    port = free_ports(2)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1)})
    plan = plan_local(load(spec, target="local"), host=Host(tensorflow="1.15.5"))
    configs = [json.loads(p.env["TF_CONFIG"]) for p in plan.processes]
    assert [p.task for p in plan.processes] == ["master-0", "worker-0"]
    assert configs[0]["cluster"] == {"master": [f"localhost:{port}"], "ps": [],
                                     "worker": [f"localhost:{port + 1}"]}
    assert configs[0]["task"] == {"type": "master", "index": 0}


# --- the reference: gcloud ai-platform local train ------------------------------------------


def _gcloud_env(tmp_path: Path, out: Path) -> dict[str, str]:
    """gcloud offline, with `python` on PATH being this interpreter."""
    bin_dir = tmp_path / "gcloud-bin"
    bin_dir.mkdir()
    (bin_dir / "python").symlink_to(sys.executable)
    config = tmp_path / "gcloud-config"
    config.mkdir()
    return {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "CLOUDSDK_CONFIG": str(config), "CLOUDSDK_CORE_DISABLE_PROMPTS": "1",
            "CLOUDSDK_METRICS_ENVIRONMENT": "test", "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false",
            "PROBE_OUT": str(out)}


def _run_gcloud(project: Path, env: dict[str, str], flags: Sequence[str],
                user_args: Sequence[str]) -> None:
    gcloud = shutil.which("gcloud")
    assert gcloud is not None
    done = subprocess.run(
        [gcloud, "ai-platform", "local", "train", "--module-name", "probe.dump",
         "--package-path", "probe", *flags, "--", *user_args],
        cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=90)
    assert done.returncode == 0, done.stderr


# jobspec-only additions to the trainer's environment, on purpose (issue 3)
_JOBSPEC_ADDS = {"CLUSTER_SPEC", "CLOUD_ML_JOB_ID", "AIP_MODEL_DIR", "AIP_CHECKPOINT_DIR",
                 "AIP_TENSORBOARD_LOG_DIR", "PYTHONUNBUFFERED"}
# what gcloud leaks besides its ~150 CLOUDSDK_* settings
_GCLOUD_NOISE = {"GCE_METADATA_TIMEOUT", "PYTHONIOENCODING"}


def _compare_with_gcloud(ours: dict[str, Any], theirs: dict[str, Any]) -> None:
    assert sorted(ours) == sorted(theirs)
    for task in theirs:
        assert trainer_args(ours[task]) == trainer_args(theirs[task]), task
        assert ours[task]["cwd"] == theirs[task]["cwd"], task
        assert json.loads(ours[task]["env"]["TF_CONFIG"]) == json.loads(
            theirs[task]["env"]["TF_CONFIG"]), task
        our_env, their_env = ours[task]["env"], theirs[task]["env"]
        gcloud_only = {k for k in their_env if k not in our_env and not k.startswith("CLOUDSDK_")}
        assert gcloud_only <= _GCLOUD_NOISE
        assert set(our_env) - set(their_env) <= _JOBSPEC_ADDS
        different = {k for k in set(our_env) & set(their_env) if our_env[k] != their_env[k]}
        # PATH: gcloud's has our `python` first; PROBE_OUT: each run has its own
        assert different <= {"PATH", "PROBE_OUT"}, {k: (our_env[k], their_env[k])
                                                     for k in different}


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not on PATH")
def test_tf_config_matches_gcloud_distributed(jobspec_proc: Any, project: Path,
                                              tmp_path: Path) -> None:
    port = free_ports(4)
    ours_out, theirs_out = tmp_path / "ours", tmp_path / "theirs"
    ours_out.mkdir()
    theirs_out.mkdir()
    spec = write_spec(project, args=["--a", "1"], local={
        "job_dir": "out dir", "args": ["--b=two words"],
        "distributed": distributed(port, workers=2, ps=1, evaluators=1)})
    done = jobspec_proc("run", str(spec), "--target", "local", "--", "--c", "x y", cwd=project,
                        env={"PROBE_OUT": str(ours_out), "PROBE_WAIT_FOR": "5"})
    assert done.code == 0, done.err
    env = {**_gcloud_env(tmp_path, theirs_out), "PROBE_WAIT_FOR": "5"}
    _run_gcloud(project, env, ["--distributed", "--worker-count", "2",
                               "--parameter-server-count", "1", "--evaluator-count", "1",
                               "--start-port", str(port), "--job-dir", "out dir"],
                ["--a", "1", "--b=two words", "--c", "x y"])
    _compare_with_gcloud(read_dumps(ours_out), read_dumps(theirs_out))


@pytest.mark.skipif(shutil.which("gcloud") is None, reason="gcloud is not on PATH")
def test_tf_config_matches_gcloud_single(jobspec_proc: Any, project: Path,
                                         tmp_path: Path) -> None:
    ours_out, theirs_out = tmp_path / "ours", tmp_path / "theirs"
    ours_out.mkdir()
    theirs_out.mkdir()
    spec = write_spec(project, args=["--a", "1 2"], local={"job_dir": "/tmp/abs dir"})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(ours_out)})
    assert done.code == 0, done.err
    _run_gcloud(project, _gcloud_env(tmp_path, theirs_out), ["--job-dir", "/tmp/abs dir"],
                ["--a", "1 2"])
    _compare_with_gcloud(read_dumps(ours_out), read_dumps(theirs_out))


# --- failures -------------------------------------------------------------------------------


def test_failing_trainer_exits_1_with_its_traceback(jobspec_proc: Any, project: Path) -> None:
    spec = write_spec(project, module="probe.fail")
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project)
    assert done.code == 1
    assert "training starts" in done.out
    message = done.err.split("trainer exited with code 1", 1)
    assert len(message) == 2, done.err
    assert "Traceback (most recent call last):" in message[1]
    assert message[1].rstrip().endswith("RuntimeError: probe failure marker")
    status = last_status(project)
    assert (status["state"], status["exit_code"]) == ("failed", 1)


@pytest.mark.parametrize("sig", ["SIGKILL", "SIGSEGV"])
def test_trainer_killed_by_signal_is_named(jobspec_proc: Any, project: Path, sig: str) -> None:
    spec = write_spec(project, module="probe.die", env={"PROBE_SIGNAL": sig})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project)
    assert done.code == 1
    assert f"trainer was killed by {sig}" in done.err
    assert last_status(project)["exit_code"] == -signal.Signals[sig].value


# --- distributed lifecycle ------------------------------------------------------------------


def test_chief_end_stops_the_parameter_server(jobspec_proc: Any, project: Path,
                                              out: Path) -> None:
    port = free_ports(2)
    spec = write_spec(project, local={"distributed": distributed(port, ps=1)})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out), "PROBE_WAIT_FOR": "2",
                             "PROBE_GRANDCHILD": "1"})
    assert done.code == 0, done.err
    dumps = read_dumps(out)
    ps = dumps["ps-0"]
    assert wait_all_gone([ps["pid"], ps["grandchild"], dumps["chief-0"]["grandchild"]]) == []
    assert last_status(project)["state"] == "succeeded"
    # the ps is named; the chief's `sleep`, orphaned when the chief ended, is stopped too
    assert (f"jobspec: chief-0 ended; stopped ps-0 and what was left running: sleep (pid "
            f"{dumps['chief-0']['grandchild']}, left by chief-0)\n") in done.err


def test_worker_failing_early_fails_the_run(jobspec_proc: Any, project: Path,
                                            out: Path) -> None:
    port = free_ports(3)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1, ps=1)})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out), "PROBE_HANG": "chief-0",
                             "PROBE_EXIT": "worker-0=3"})
    assert done.code == 1
    assert "worker-0 exited with code 3" in done.err
    assert "worker-0 exits with 3" in done.err  # its stderr tail
    # the chief starts last, so it may not have written its dump yet: jobspec says it ran
    assert "jobspec: worker-0 failed; stopped chief-0, ps-0\n" in done.err
    pids = [dump["pid"] for dump in read_dumps(out).values()]
    assert wait_all_gone(pids) == []
    status = last_status(project)
    assert (status["state"], status["exit_code"], status["task"]) == ("failed", 3, "worker-0")
    shown = jobspec_proc("status", "probe", "--target", "local", cwd=project)
    assert shown.out.startswith("probe: failed, exit code 3 from worker-0, started "), shown


def test_busy_port_fails_before_anything_starts(jobspec_proc: Any, project: Path,
                                                out: Path) -> None:
    port = free_ports(4)
    spec = write_spec(project, local={"distributed": distributed(port, workers=2, ps=1)})
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", port + 2))  # worker-0's port
        holder.listen()
        done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                            env={"PROBE_OUT": str(out)})
    assert done.code == 2
    assert f"port {port + 2} for worker-0 is already in use" in done.err
    assert "Traceback" not in done.err
    assert read_dumps(out) == {}
    assert runs_of(project) == []


# --- output ---------------------------------------------------------------------------------


def test_output_streams_live(live: Any, project: Path, out: Path) -> None:
    spec = write_spec(project, module="probe.stream")
    # the probe prints without flushing: only jobspec can make its pipe line-buffered
    run = live("run", str(spec), "--target", "local", cwd=project,
               env={"PROBE_OUT": str(out), "PYTHONUNBUFFERED": None})
    assert run.expect("first line") == "first line\n"
    assert run.proc.poll() is None  # seen while the trainer still waits
    (out / "go").touch()
    done = run.finish()
    assert done.code == 0, done.err
    assert done.out == "first line\nafter go\n"


def _run_on_a_terminal(args: Sequence[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """`jobspec ARGS` with its stdout on a pseudo-terminal; (exit code, what it showed)."""
    main, side = pty.openpty()
    with subprocess.Popen([sys.executable, "-m", "jobspec", *args], cwd=cwd, env=env,
                          stdin=subprocess.DEVNULL, stdout=side, stderr=subprocess.PIPE) as proc:
        os.close(side)
        chunks = []
        while True:
            try:
                data = os.read(main, 4096)
            except OSError:  # EIO: every writer is gone
                break
            if not data:
                break
            chunks.append(data)
        os.close(main)
        proc.communicate(timeout=30)
    return proc.returncode, b"".join(chunks).decode().replace("\r\n", "\n")


def test_task_colours_on_a_terminal_only(project: Path, out: Path) -> None:
    port = free_ports(2)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1)})
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(PROBE_OUT=str(out), PROBE_WAIT_FOR="2")
    code, shown = _run_on_a_terminal(["run", str(spec), "--target", "local"], project, env)
    assert code == 0, shown
    assert "\x1b[36mchief-0  | \x1b[0mdumped chief-0\n" in shown
    assert "\x1b[33mworker-0 | \x1b[0mdumped worker-0\n" in shown
    assert "\x1b" not in (runs_of(project)[-1] / "log").read_text()  # the log stays plain
    for dump in out.glob("*.json"):
        dump.unlink()
    code, shown = _run_on_a_terminal(["run", str(spec), "--target", "local"], project,
                                     {**env, "NO_COLOR": "1"})
    assert code == 0, shown
    assert "\x1b" not in shown
    assert "chief-0  | dumped chief-0\n" in shown


# --- signals --------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_stops_every_process(live: Any, project: Path, out: Path,
                                    sig: signal.Signals) -> None:
    port = free_ports(3)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1, ps=1,
                                                                 evaluators=1)})
    run = live("run", str(spec), "--target", "local", cwd=project,
               env={"PROBE_OUT": str(out), "PROBE_HANG": "*", "PROBE_GRANDCHILD": "1"})
    dumps = wait_for_dumps(out, 4)
    pids = [d["pid"] for d in dumps.values()] + [d["grandchild"] for d in dumps.values()]
    assert all(alive(pid) for pid in pids)
    run.proc.send_signal(sig)
    done = run.finish()
    assert done.code == 130, done.err
    assert wait_all_gone(pids) == []
    assert "interrupted" in done.err
    assert "Traceback" not in done.err
    status = last_status(project)
    assert status["state"] == "interrupted"
    assert status["end"] is not None


def _start_stubborn_run(live: Any, project: Path, out: Path) -> tuple[Any, list[int]]:
    """A distributed run whose trainers ignore SIGTERM; returns it and their pids."""
    port = free_ports(2)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1)})
    run = live("run", str(spec), "--target", "local", cwd=project,
               env={"PROBE_OUT": str(out), "PROBE_HANG": "*", "PROBE_IGNORE_TERM": "1"})
    return run, [d["pid"] for d in wait_for_dumps(out, 2).values()]


def test_second_interrupt_kills_at_once(live: Any, project: Path, out: Path) -> None:
    run, pids = _start_stubborn_run(live, project, out)
    run.proc.send_signal(signal.SIGINT)
    run.expect_err("interrupted; stopping every process")
    assert all(alive(pid) for pid in pids)  # SIGTERM is ignored: in its grace period
    run.proc.send_signal(signal.SIGINT)
    done = run.finish()
    assert done.code == 130, done.err
    assert wait_all_gone(pids) == []
    assert last_status(project)["state"] == "interrupted"


@pytest.mark.slow  # waits out the grace period; test_second_interrupt_kills_at_once escalates too
def test_sigkill_after_the_grace_period(live: Any, project: Path, out: Path) -> None:
    run, pids = _start_stubborn_run(live, project, out)
    run.proc.send_signal(signal.SIGTERM)
    done = run.finish()
    assert done.code == 130, done.err
    assert wait_all_gone(pids) == []


def test_sigkill_of_jobspec_leaves_no_child(live: Any, jobspec_proc: Any, project: Path,
                                            out: Path) -> None:
    port = free_ports(3)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1, ps=1)})
    run = live("run", str(spec), "--target", "local", cwd=project,
               env={"PROBE_OUT": str(out), "PROBE_HANG": "*"})
    pids = [d["pid"] for d in wait_for_dumps(out, 3).values()]
    run.proc.kill()
    run.proc.wait(timeout=10)
    assert wait_all_gone(pids) == []
    shown = jobspec_proc("status", "probe", "--target", "local", cwd=project)
    assert shown.code == 0, shown.err
    assert shown.out.startswith("probe: lost")  # the record outlived its jobspec


# --- isolated mode --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def iso_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One project for the isolated tests: they share the probe package, so its venv too."""
    return make_project(tmp_path_factory.mktemp("isolated") / "proj")


@pytest.fixture(scope="module")
def pip_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """pip settings for isolated runs: a loopback package index (with the build tools), and no
    other source, so the sdist and its requirements install as in the cloud, offline."""
    from tests.standins.pyindex import serve

    made = serve(tmp_path_factory.mktemp("index"))
    index = next(made)
    yield index.env(tmp_path_factory.mktemp("pip-cache"))
    made.close()


def _venvs(project: Path) -> list[Path]:
    folder = project / ".jobspec" / "venvs"
    return [p for p in folder.iterdir() if not p.name.startswith(".")] if folder.is_dir() else []


def test_isolated_misses_a_file_left_out_of_the_package(jobspec_proc: Any, iso_project: Path,
                                                        pip_env: dict[str, str]) -> None:
    spec = write_spec(iso_project, module="probe.reads_data", filename="reads.yaml")
    plain = jobspec_proc("run", str(spec), "--target", "local", cwd=iso_project)
    assert plain.code == 0, plain.err
    assert plain.out == "table: label,value\nanswer,42\n"
    isolated = jobspec_proc("run", str(spec), "--target", "local", "--isolated",
                            cwd=iso_project, env=pip_env)
    assert isolated.code == 1
    tail = isolated.err.split("trainer exited with code 1", 1)[1]
    assert "FileNotFoundError" in tail
    assert "data/table.csv" in tail


def test_isolated_misses_an_undeclared_import(jobspec_proc: Any, iso_project: Path,
                                              pip_env: dict[str, str]) -> None:
    spec = write_spec(iso_project, module="probe.imports_sibling", filename="imports.yaml")
    plain = jobspec_proc("run", str(spec), "--target", "local", cwd=iso_project)
    assert plain.code == 0, plain.err
    assert plain.out == "helper says 42\n"
    spec = write_spec(iso_project, module="probe.imports_sibling", filename="imports.yaml",
                      local={"isolated": True})
    isolated = jobspec_proc("run", str(spec), "--target", "local", cwd=iso_project, env=pip_env)
    assert isolated.code == 1
    tail = isolated.err.split("trainer exited with code 1", 1)[1]
    assert "ModuleNotFoundError: No module named 'helperlib'" in tail


def test_isolated_runs_installed_package_from_an_empty_folder(
        jobspec_proc: Any, iso_project: Path, tmp_path: Path, pip_env: dict[str, str]) -> None:
    out = tmp_path / "dumps"
    out.mkdir()
    spec = write_spec(iso_project, filename="dump.yaml", args=["--table=probe/data/table.csv"],
                      local={"job_dir": "out"})
    done = jobspec_proc("run", str(spec), "--target", "local", "--isolated", cwd=iso_project,
                        env={"PROBE_OUT": str(out), **pip_env})
    assert done.code == 0, done.err
    dump = read_dumps(out)["single-0"]
    record = runs_of(iso_project)[-1]
    assert dump["cwd"] == str(record / "cwd")
    assert list((record / "cwd").iterdir()) == []
    (venv,) = _venvs(iso_project)
    assert dump["executable"] == str(venv / "bin" / "python3")  # the launcher's `python3`
    assert dump["argv"][0].startswith(str(venv))  # the installed copy, not the source tree
    assert trainer_args(dump) == ["--table=probe/data/table.csv", "--job-dir", "out"]
    # the relative path exists here but not in the empty folder: warned before the run
    assert "argument names 'probe/data/table.csv', a path in this repo" in done.err
    assert done.err.index("a path in this repo") < len(done.err)
    plain = jobspec_proc("run", str(spec), "--target", "local", cwd=iso_project,
                         env={"PROBE_OUT": str(out), **pip_env})
    assert plain.code == 0, plain.err
    assert "a path in this repo" not in plain.err


def test_isolated_venv_is_cached(jobspec_proc: Any, iso_project: Path,
                                 pip_env: dict[str, str]) -> None:
    spec = write_spec(iso_project, module="probe.fail", filename="cached.yaml")
    first = jobspec_proc("run", str(spec), "--target", "local", "--isolated", cwd=iso_project,
                         env=pip_env)
    assert first.code == 1  # the trainer fails; the venv is made all the same
    (venv,) = _venvs(iso_project)
    marker = venv / ".jobspec-ready"
    before = (venv.stat().st_ino, marker.stat().st_ino, marker.stat().st_mtime_ns)
    second = jobspec_proc("run", str(spec), "--target", "local", "--isolated", cwd=iso_project,
                         env=pip_env)
    assert second.code == 1
    assert _venvs(iso_project) == [venv]
    assert (venv.stat().st_ino, marker.stat().st_ino, marker.stat().st_mtime_ns) == before


def test_isolated_uninstallable_requirement_shows_pip(jobspec_proc: Any, project: Path,
                                                      out: Path, pip_env: dict[str, str]
                                                      ) -> None:
    spec = write_spec(project, requirements=["jobspec-probe-not-on-any-index==1.0"])
    done = jobspec_proc("run", str(spec), "--target", "local", "--isolated", cwd=project,
                        env={"PROBE_OUT": str(out), **pip_env})
    assert done.code == 1
    assert "installing probe-0.0.0.tar.gz into the isolated venv failed" in done.err
    assert "No matching distribution found for jobspec-probe-not-on-any-index==1.0" in done.err
    assert read_dumps(out) == {}  # the trainer never started
    assert list((project / ".jobspec" / "venvs").iterdir()) == []  # nothing half-made kept
    assert last_status(project)["state"] == "failed"


# --- records and the commands that read them ------------------------------------------------


def _parse_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_run_record_files(jobspec_proc: Any, project: Path, out: Path) -> None:
    subprocess.run(["git", "init", "-q", str(project)], check=True)
    spec = write_spec(project, local={"job_dir": "jobs/one"})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out)})
    assert done.code == 0, done.err
    (record,) = runs_of(project)
    plan = json.loads((record / "plan.json").read_text())
    assert (plan["kind"], plan["name"], plan["target"]) == ("local", "probe", "local")
    assert plan["processes"][0]["argv"][1:] == ["-m", "probe.dump", "--job-dir", "jobs/one"]
    assert (record / "log").read_text() == "dumped single-0\n"
    status = json.loads((record / "status.json").read_text())
    assert (status["state"], status["exit_code"]) == ("succeeded", 0)
    assert _parse_time(status["start"]) <= _parse_time(status["end"])
    # .jobspec/ is ignored by git without touching the project's own .gitignore
    assert not (project / ".gitignore").exists()
    untracked = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"],
                               cwd=project, capture_output=True, text=True, check=True).stdout
    assert untracked
    assert ".jobspec" not in untracked


def test_records_live_at_the_project_root(jobspec_proc: Any, project: Path, out: Path,
                                          tmp_path: Path) -> None:
    (project / "specs").mkdir()
    spec = write_spec(project, filename="specs/job.yaml", package_path="../probe")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=elsewhere,
                        env={"PROBE_OUT": str(out)})
    assert done.code == 0, done.err
    assert len(runs_of(project)) == 1  # the nearest folder above the spec with pyproject.toml
    assert not (elsewhere / ".jobspec").exists()
    assert not (project / "specs" / ".jobspec").exists()
    logs = jobspec_proc("logs", "probe", "--target", "local", cwd=project / "specs")
    assert (logs.code, logs.out) == (0, "dumped single-0\n")
    logs = jobspec_proc("logs", "probe", "--target", "local", "--spec", str(spec),
                        cwd=elsewhere)
    assert (logs.code, logs.out) == (0, "dumped single-0\n")


def test_logs_status_and_list(jobspec_proc: Any, project: Path, out: Path) -> None:
    spec = write_spec(project, env={"PROBE_PRINT": "first run"})
    assert jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out)}).code == 0
    for dump in out.glob("*.json"):
        dump.unlink()
    second = jobspec_proc("run", str(spec), "--target", "local", "--set",
                          "env.PROBE_PRINT=second run", "--", "--fail",
                          cwd=project, env={"PROBE_OUT": str(out), "PROBE_EXIT": "single-0=4"})
    assert second.code == 1
    assert len(runs_of(project)) == 2
    logs = jobspec_proc("logs", "probe", "--target", "local", cwd=project)
    assert logs.code == 0, logs.err
    # stdout and stderr are separate pipes: the log keeps each one's order, not their interleaving
    assert sorted(logs.out.splitlines()) == ["dumped single-0", "second run",
                                             "single-0 exits with 4"]
    assert logs.out.index("dumped single-0") < logs.out.index("second run")
    status = jobspec_proc("status", "probe", "--target", "local", cwd=project)
    assert status.code == 0, status.err
    assert status.out.startswith("probe: failed, exit code 4, started ")
    as_json = json.loads(jobspec_proc("status", "probe", "--target", "local", "--json",
                                      cwd=project).out)
    assert (as_json["state"], as_json["exit_code"]) == ("failed", 4)
    listed = jobspec_proc("list", "--target", "local", cwd=project)
    assert listed.code == 0, listed.err
    rows = [line.split() for line in listed.out.splitlines()]
    assert rows[0][:3] == ["NAME", "STATE", "RUNS"]
    assert rows[1][:3] == ["probe", "failed", "2"]
    missing = jobspec_proc("logs", "nope", "--target", "local", cwd=project)
    assert missing.code == 2
    assert "no local runs of 'nope'" in missing.err


def test_logs_follow_streams_until_the_run_ends(live: Any, project: Path, out: Path) -> None:
    spec = write_spec(project, module="probe.stream")
    run = live("run", str(spec), "--target", "local", cwd=project,
               env={"PROBE_OUT": str(out), "PYTHONUNBUFFERED": None})
    run.expect("first line")
    follow = live("logs", "probe", "--target", "local", "--follow", cwd=project)
    follow.expect("first line")
    assert follow.proc.poll() is None  # still following: the run goes on
    (out / "go").touch()
    assert run.finish().code == 0
    followed = follow.finish()
    assert followed.code == 0, followed.err
    assert followed.out == "first line\nafter go\n"


# --- runtime drift --------------------------------------------------------------------------


@pytest.mark.skipif(HOST_PYTHON == "3.10", reason="the cloud image is Python 3.10 too")
def test_runtime_drift_warns_once(jobspec_proc: Any, project: Path, out: Path) -> None:
    cloud = {"project": "p", "bucket": "probe-bucket", "executor_image": PY310_IMAGE}
    port = free_ports(2)
    spec = write_spec(project, local={"distributed": distributed(port, workers=1)},
                      more_targets={"cloud": cloud,
                                    "cloud-gpu": {"kind": "cloud", "extends": "cloud"}})
    done = jobspec_proc("run", str(spec), "--target", "local", cwd=project,
                        env={"PROBE_OUT": str(out), "PROBE_WAIT_FOR": "2"})
    assert done.code == 0, done.err
    assert done.err.count("runtime drift") == 1
    assert f"Python {HOST_PYTHON} here, 3.10 in the cloud" in done.err
