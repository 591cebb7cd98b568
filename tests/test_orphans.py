"""No orphans, whatever happens to jobspec: real `jobspec` processes, real trainers that start
`setsid` daemons and double-forked helpers, kill -9, Ctrl-C, SIGTERM, parallel sweeps, races.

Liveness is read from /proc (tests/test_local.py's `alive`), never from `ps`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.test_local import (
    alive,
    distributed,
    free_ports,
    make_project,
    runs_of,
    wait_all_gone,
    write_spec,
)

pytestmark = pytest.mark.timeout(60)

# The trainer of these tests, written into each project beside the probes.
ORPHAN = '''\
"""Write OUT/<task>-<pid>.json (pid, start time, the pids of what it started), then act.

ORPHAN_START: "daemon" starts a `setsid` daemon that keeps our stdout and stderr; "double"
forks twice with setsid in between, so the helper is orphaned at once. Both never end.
ORPHAN_EXIT=task=code,...: exit with that code; ORPHAN_HANG=task,... or "*": never end.
ORPHAN_IGNORE_TERM=1: ignore SIGTERM (and so does what it starts). Else it ends with 0.
ORPHAN_CHIEF_WAITS_FOR=task: the chief ends only once that task has written its record.
"""
import json, os, signal, subprocess, sys, time
from pathlib import Path

if os.environ.get("ORPHAN_IGNORE_TERM"):
    signal.signal(signal.SIGTERM, signal.SIG_IGN)

start = time.time()
task = json.loads(os.environ.get("TF_CONFIG") or "{}").get("task") or {}
name = f"{task['type']}-{task['index']}" if task else "single-0"
out = Path(os.environ["PROBE_OUT"])
record = {"pid": os.getpid(), "start": start, "task": name, "argv": sys.argv[1:],
          "stat_start": int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])}
what = os.environ.get("ORPHAN_START", "")
if "daemon" in what:
    daemon = subprocess.Popen([sys.executable, "-c", "import time\\nwhile True: time.sleep(1)"],
                              start_new_session=True)
    record["daemon"] = daemon.pid
if "double" in what:
    r, w = os.pipe()
    first = os.fork()
    if first == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            while True:
                time.sleep(1)
        os._exit(0)
    os.close(w)
    os.waitpid(first, 0)
    record["double"] = int(os.read(r, 64))
part = out / f"{name}-{os.getpid()}.part"
part.write_text(json.dumps(record))
part.rename(part.with_suffix(".json"))
print(f"{name} started", flush=True)
wait_for = os.environ.get("ORPHAN_CHIEF_WAITS_FOR")
if wait_for and name == "chief-0":  # until that task has written its record (at most 20 s)
    until = time.time() + 20
    while not list(out.glob(f"{wait_for}-*.json")) and time.time() < until:
        time.sleep(0.02)
codes = dict(item.split("=") for item in os.environ.get("ORPHAN_EXIT", "").split(",") if item)
if name in codes:
    sys.exit(int(codes[name]))
hang = os.environ.get("ORPHAN_HANG", "").split(",")
if "*" in hang or name in hang:
    while True:
        time.sleep(1)
'''

PROGRESS = '''\
"""Progress on one line with \\\\r, never a newline, until OUT/go exists (at most 20 s)."""
import os, sys, time
from pathlib import Path
go = Path(os.environ["PROBE_OUT"]) / "go"
sys.stdout.write("step 1/2\\r")
sys.stdout.flush()
deadline = time.monotonic() + 20
while not go.exists() and time.monotonic() < deadline:
    time.sleep(0.01)
sys.stdout.write("step 2/2\\rdone\\n")
'''

FLOOD = '''\
"""Print SIZE MiB without a single newline, in small writes, then wait for OUT/go."""
import os, sys, time
from pathlib import Path
out = Path(os.environ["PROBE_OUT"])
chunk = b"x" * 65536
for _ in range(int(os.environ["FLOOD_MIB"]) * 16):
    sys.stdout.buffer.write(chunk)
sys.stdout.buffer.flush()
(out / "written").touch()
deadline = time.monotonic() + 30
while not (out / "go").exists() and time.monotonic() < deadline:
    time.sleep(0.01)
'''

MANY = '''\
"""Print 100,000 numbered lines, then "done"."""
for i in range(100000):
    print("line", i)
print("done")
'''


# --- helpers --------------------------------------------------------------------------------


def _jobspec(args: Sequence[str], cwd: Path, env: dict[str, str], *, text: bool = True,
             **kwargs: Any) -> subprocess.Popen[Any]:
    return subprocess.Popen([sys.executable, "-m", "jobspec", *args], cwd=cwd,
                            env={**os.environ, **env}, stdin=subprocess.DEVNULL, text=text,
                            **kwargs)


class Run:
    """A `jobspec` process with both streams read as they come, byte by byte as written."""

    def __init__(self, args: Sequence[str], cwd: Path, env: dict[str, str]) -> None:
        self.proc = _jobspec(args, cwd, env, text=False, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
        self.out: list[bytes] = []
        self.err: list[bytes] = []
        self.pumps = [threading.Thread(target=self._pump, args=(s, b), daemon=True) for s, b in
                      ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for pump in self.pumps:
            pump.start()

    @staticmethod
    def _pump(stream: Any, into: list[bytes]) -> None:
        with stream:
            while chunk := os.read(stream.fileno(), 65536):
                into.append(chunk)

    def shown(self) -> str:
        return b"".join(self.out).decode()

    def finish(self, timeout: float = 30) -> tuple[int, str, str]:
        code = self.proc.wait(timeout=timeout)
        for pump in self.pumps:
            pump.join(timeout=10)
        return code, self.shown(), b"".join(self.err).decode()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = make_project(tmp_path / "proj")
    for name, text in (("orphan", ORPHAN), ("progress", PROGRESS), ("flood", FLOOD),
                       ("many", MANY)):
        (root / "probe" / f"{name}.py").write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "dumps"
    folder.mkdir()
    return folder


@pytest.fixture
def started() -> Iterator[list[subprocess.Popen[str]]]:
    """jobspec processes to SIGKILL at the end of the test, whatever happened."""
    procs: list[subprocess.Popen[str]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)  # and close its pipes


def records(out: Path, count: int, timeout: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        found = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(found)} of {count} trainers started")
        time.sleep(0.02)


def pids_of(found: Sequence[dict[str, Any]]) -> list[int]:
    return [r[k] for r in found for k in ("pid", "daemon", "double") if k in r]


def status_of(project: Path, name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((runs_of(project, name)[-1] / "status.json").read_text())
    return data


# --- kill -9 of jobspec ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["single", "distributed", "parallel sweep"])
def test_sigkill_of_jobspec_kills_trainers_and_their_setsid_daemons(
        project: Path, out: Path, started: list[Any], layout: str) -> None:
    local = {"distributed": distributed(free_ports(3), workers=1, ps=1)} \
        if layout == "distributed" else {}
    spec = write_spec(project, module="probe.orphan", local=local)
    args = ["run", str(spec), "--target", "local"]
    if layout == "parallel sweep":
        args = ["run", str(_sweep_spec(project, 2)), "--target", "local", "--parallel", "2"]
    count = {"single": 1, "distributed": 3, "parallel sweep": 2}[layout]
    proc = _jobspec(args, project,
                    {"PROBE_OUT": str(out), "ORPHAN_START": "daemon,double", "ORPHAN_HANG": "*"},
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(proc)
    found = records(out, count)
    pids = pids_of(found)
    assert len(pids) == 3 * count and all(alive(pid) for pid in pids)
    proc.kill()
    proc.wait(timeout=10)
    assert wait_all_gone(pids) == []


# --- what a trainer leaves behind -----------------------------------------------------------


@pytest.mark.parametrize(("trainer_exit", "jobspec_exit"), [(0, 0), (3, 1)])
def test_a_setsid_daemon_holding_stdout_does_not_keep_jobspec_waiting(
        project: Path, out: Path, trainer_exit: int, jobspec_exit: int) -> None:
    spec = write_spec(project, module="probe.orphan")
    begun = time.monotonic()
    run = Run(["run", str(spec), "--target", "local"], project,
              {"PROBE_OUT": str(out), "ORPHAN_START": "daemon,double",
               "ORPHAN_EXIT": f"single-0={trainer_exit}"})
    code, shown, err = run.finish(timeout=20)  # linger 2 s + grace 5 s at the very most
    took = time.monotonic() - begun
    assert code == jobspec_exit, err
    assert took < 15
    (found,) = records(out, 1)
    assert wait_all_gone([found["daemon"], found["double"]]) == []
    assert "single-0 started" in shown
    assert re.search(r"jobspec: the trainer ended; stopped what it left running: "
                     r"python3?[.\d]* \(pid \d+\), python3?[.\d]* \(pid \d+\)", err), err
    for pid in (found["daemon"], found["double"]):
        assert f"(pid {pid})" in err
    status = status_of(project, "probe")
    assert (status["exit_code"], status["jobspec_exit"]) == (trainer_exit, jobspec_exit)


def test_chief_starts_last_and_jobspec_says_what_it_stopped(project: Path, out: Path) -> None:
    port = free_ports(4)
    spec = write_spec(project, module="probe.orphan",
                      local={"distributed": distributed(port, workers=2, ps=1)})
    run = Run(["run", str(spec), "--target", "local"], project,
              {"PROBE_OUT": str(out), "ORPHAN_HANG": "worker-1,ps-0",
               # worker-0 has only its exit left when the chief ends: well inside the linger,
               # however slow the machine is at starting interpreters
               "ORPHAN_CHIEF_WAITS_FOR": "worker-0"})
    code, _, err = run.finish()
    assert code == 0, err
    # the chief ended as soon as it could: the others had started before it, and a worker
    # ending by itself within the linger is not stopped
    found = {r["task"]: r for r in records(out, 3, timeout=1)}
    assert set(found) >= {"chief-0", "worker-0", "worker-1"}
    for task, record in found.items():
        assert record["stat_start"] <= found["chief-0"]["stat_start"], task
    assert "jobspec: chief-0 ended; stopped worker-1, ps-0\n" in err
    assert wait_all_gone(pids_of(found.values())) == []


# --- interrupts -----------------------------------------------------------------------------


def _sweep_spec(project: Path, members: int) -> Path:
    spec = {"version": 1, "name": "sweep",
            "trainer": {"package_path": "probe", "module": "probe.orphan"},
            "matrix": {"i": list(range(1, members + 1))},
            "args": ["--i=${matrix.i}"],
            "targets": {"local": {"job_dir": "output/${name}"}}}
    path = project / "sweep.yaml"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupting_a_parallel_sweep_stops_every_member(
        project: Path, out: Path, sig: signal.Signals) -> None:
    spec = _sweep_spec(project, 3)
    run = Run(["run", str(spec), "--target", "local", "--parallel", "2"], project,
              {"PROBE_OUT": str(out), "ORPHAN_START": "daemon", "ORPHAN_HANG": "*"})
    found = records(out, 2)
    pids = pids_of(found)
    run.proc.send_signal(sig)
    code, _, err = run.finish(timeout=20)
    assert code == 130, err
    assert "Traceback" not in err
    assert wait_all_gone(pids) == []
    assert "jobspec: interrupted; stopping every run of the group" in err
    assert "jobspec: not started: sweep_i_3" in err
    for member in ("sweep_i_1", "sweep_i_2"):
        status = status_of(project, member)
        assert (status["state"], status["jobspec_exit"]) == ("interrupted", 130), member
        assert status["end"] is not None
        assert f"jobspec: {member}: interrupted" in err
    assert runs_of(project, "sweep_i_3") == []
    assert len(records(out, 2)) == 2  # the third never ran


def test_a_closed_terminal_stops_the_run_like_sigterm(project: Path, out: Path) -> None:
    if signal.getsignal(signal.SIGHUP) is signal.SIG_IGN:
        pytest.skip("SIGHUP is ignored here (nohup), and so it is by jobspec, by design")
    port = free_ports(2)
    spec = write_spec(project, module="probe.orphan",
                      local={"distributed": distributed(port, workers=1)})
    run = Run(["run", str(spec), "--target", "local"], project,
              {"PROBE_OUT": str(out), "ORPHAN_START": "double", "ORPHAN_HANG": "*"})
    pids = pids_of(records(out, 2))
    run.proc.send_signal(signal.SIGHUP)
    code, _, err = run.finish()
    assert code == 130, err
    assert wait_all_gone(pids) == []
    status = status_of(project, "probe")
    assert (status["state"], status["jobspec_exit"]) == ("interrupted", 130)


def test_a_second_interrupt_kills_every_member_at_once(project: Path, out: Path) -> None:
    spec = _sweep_spec(project, 2)
    run = Run(["run", str(spec), "--target", "local", "--parallel", "2"], project,
              {"PROBE_OUT": str(out), "ORPHAN_START": "daemon", "ORPHAN_HANG": "*",
               "ORPHAN_IGNORE_TERM": "1"})
    pids = pids_of(records(out, 2))
    run.proc.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 10
    while b"interrupt again to kill them at once" not in b"".join(run.err):
        assert time.monotonic() < deadline, run.err
        time.sleep(0.01)
    time.sleep(0.3)
    assert all(alive(pid) for pid in pids)  # they ignore SIGTERM: in their grace period
    run.proc.send_signal(signal.SIGINT)
    assert wait_all_gone(pids, timeout=3) == []  # not after the 5 s grace period
    code, _, err = run.finish()
    assert code == 130, err
    assert "Traceback" not in err
    for member in ("sweep_i_1", "sweep_i_2"):
        assert status_of(project, member)["state"] == "interrupted"


def test_interrupting_a_sequential_sweep_starts_no_other_member(project: Path,
                                                                out: Path) -> None:
    spec = _sweep_spec(project, 2)
    run = Run(["run", str(spec), "--target", "local"], project,
              {"PROBE_OUT": str(out), "ORPHAN_HANG": "*"})
    pids = pids_of(records(out, 1))
    run.proc.send_signal(signal.SIGINT)
    code, _, err = run.finish()
    assert code == 130, err
    assert wait_all_gone(pids) == []
    assert "jobspec: not started: sweep_i_2" in err
    assert status_of(project, "sweep_i_1")["state"] == "interrupted"


def test_ctrl_c_while_starting_up_never_shows_a_traceback(project: Path) -> None:
    """SIGINT at many moments of start-up, from jobspec's first line on (-X importtime says
    when that is: the line for the `jobspec` package; before it, CPython is still starting
    and its own messages are out of jobspec's reach)."""
    spec = write_spec(project, module="probe.orphan")
    outcomes = []
    for delay in [0.0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.07, 0.1] * 2:
        proc = subprocess.Popen(
            [sys.executable, "-X", "importtime", "-m", "jobspec", "plan", str(spec),
             "--target", "local"], cwd=project, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stderr is not None
        seen = []
        for line in proc.stderr:
            seen.append(line)
            if re.search(r"\|\s+jobspec$", line.rstrip()):
                break
        time.sleep(delay)
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=30)
        err = "".join(seen) + err
        assert "Traceback" not in err and "Exception ignored" not in err, (delay, err[-2000:])
        outcomes.append(proc.returncode)
        # -SIGINT: CPython itself ends with SIGINT (which a shell shows as 130 too) when the
        # interrupt came while exec() ran generated code (dataclasses, pydantic), even though
        # jobspec caught it: its "unhandled KeyboardInterrupt" flag stays set
        assert proc.returncode in (0, 130, -signal.SIGINT), (delay, err[-2000:])
    assert 130 in outcomes  # not all of them came too late


# --- one run of a job at a time -------------------------------------------------------------


def test_a_second_run_of_a_running_job_is_refused(project: Path, out: Path,
                                                  started: list[Any]) -> None:
    spec = write_spec(project, module="probe.orphan", local={"job_dir": "output/${name}"})
    env = {"PROBE_OUT": str(out), "ORPHAN_HANG": "*"}
    first = _jobspec(["run", str(spec), "--target", "local"], project, env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(first)
    records(out, 1)
    second = subprocess.run([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                             "local"], cwd=project, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 2, second.stderr
    record = runs_of(project)[-1]
    assert (f"probe is already running here (jobspec pid {first.pid}, record {record}): a "
            "second run would write the same job dir and records\n  hint: wait for it to end, "
            "or run this one under another name: --name probe_2") in second.stderr
    assert len(runs_of(project)) == 1
    assert len(records(out, 1)) == 1
    # under another name, with its own job dir, it runs
    other = subprocess.run([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                            "local", "--name", "probe_2"], cwd=project,
                           env={**os.environ, **env, "ORPHAN_HANG": ""},
                           capture_output=True, text=True, timeout=30)
    assert other.returncode == 0, other.stderr
    assert not list((project / ".jobspec" / "locks").glob("name-probe_2*"))  # it cleaned up


def test_two_names_with_one_job_dir_are_refused(project: Path, out: Path,
                                                started: list[Any]) -> None:
    spec = write_spec(project, module="probe.orphan", local={"job_dir": "output/shared"})
    env = {"PROBE_OUT": str(out), "ORPHAN_HANG": "*"}
    first = _jobspec(["run", str(spec), "--target", "local"], project, env,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    started.append(first)
    records(out, 1)
    second = subprocess.run([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                             "local", "--name", "other"], cwd=project, env={**os.environ, **env},
                            capture_output=True, text=True, timeout=30)
    assert second.returncode == 2, second.stderr
    assert (f"job dir {project / 'output' / 'shared'} is in use by run probe (jobspec pid "
            f"{first.pid}, record ") in second.stderr
    assert runs_of(project, "other") == []


def test_racing_starts_of_one_job_run_it_once(project: Path, out: Path,
                                              started: list[Any]) -> None:
    spec = write_spec(project, module="probe.orphan")
    env = {"PROBE_OUT": str(out), "ORPHAN_HANG": "*"}
    racers = [_jobspec(["run", str(spec), "--target", "local"], project, env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(4)]
    started.extend(racers)
    deadline = time.monotonic() + 30
    while sum(racer.poll() is not None for racer in racers) < 3:
        assert time.monotonic() < deadline, [racer.poll() for racer in racers]
        time.sleep(0.05)
    records(out, 1)
    (running,) = [racer for racer in racers if racer.poll() is None]
    for racer in racers:
        if racer is not running:
            err = racer.communicate()[1]
            assert racer.returncode == 2, err
            assert f"probe is already running here (jobspec pid {running.pid}, " in err
    assert len(list(out.glob("*.json"))) == 1
    assert len(runs_of(project)) == 1


# --- the run record holds jobspec's exit code -----------------------------------------------


def test_a_trainer_that_cannot_start_is_recorded_with_exit_2(project: Path, out: Path) -> None:
    port = free_ports(2)
    # an executable whose interpreter is missing: found by plan, refused by exec at start
    python = project / "broken-python"
    python.write_text(f"#!{project / 'no-such-interpreter'}\n")
    python.chmod(0o755)
    spec = write_spec(project, module="probe.orphan",
                      local={"python": str(python), "distributed": distributed(port, workers=1)})
    done = subprocess.run([sys.executable, "-m", "jobspec", "run", str(spec), "--target",
                           "local"], cwd=project, env={**os.environ, "PROBE_OUT": str(out)},
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2, done.stderr
    assert (f"cannot start worker-0: {python}: No such file or directory" in done.stderr), (
        done.stderr)
    status = status_of(project, "probe")
    assert (status["state"], status["jobspec_exit"]) == ("failed", 2)


# --- output ---------------------------------------------------------------------------------


def test_carriage_return_progress_streams_before_the_line_ends(project: Path,
                                                               out: Path) -> None:
    spec = write_spec(project, module="probe.progress")
    run = Run(["run", str(spec), "--target", "local"], project, {"PROBE_OUT": str(out)})
    deadline = time.monotonic() + 20
    while "step 1/2\r" not in run.shown():
        assert time.monotonic() < deadline, run.out
        time.sleep(0.01)
    assert run.proc.poll() is None  # seen while the trainer waits, with no newline yet
    (out / "go").touch()
    code, shown, err = run.finish()
    assert code == 0, err
    assert shown == "step 1/2\rstep 2/2\rdone\n"
    assert (runs_of(project)[-1] / "log").read_bytes().decode() == shown


def test_a_huge_line_is_read_in_bounded_memory(project: Path, out: Path) -> None:
    spec = write_spec(project, module="probe.flood")
    mib = 50
    proc = _jobspec(["run", str(spec), "--target", "local"], project,
                    {"PROBE_OUT": str(out), "FLOOD_MIB": str(mib)},
                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    log = None
    deadline = time.monotonic() + 40
    while log is None or log.stat().st_size < mib * 2**20:
        assert time.monotonic() < deadline and proc.poll() is None, "the output did not arrive"
        log = (runs_of(project) or [None])[-1]
        log = log / "log" if log else None
        time.sleep(0.05)
    peak = next(int(line.split()[1]) for line in
                Path(f"/proc/{proc.pid}/status").read_text().splitlines()
                if line.startswith("VmHWM:"))
    (out / "go").touch()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert peak < 45 * 1024, f"jobspec peaked at {peak // 1024} MiB for {mib} MiB of output"
    text = log.read_text()
    assert text.count("x") == mib * 2**20
    assert max(len(line) for line in text.splitlines()) == 64 * 1024


def test_a_reader_that_goes_away_does_not_stop_the_run(project: Path) -> None:
    """`jobspec run | head -1`: jobspec keeps draining the trainer into the log, quietly."""
    spec = write_spec(project, module="probe.many")
    proc = _jobspec(["run", str(spec), "--target", "local"], project, {}, text=False,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline() == b"line 0\n"
    proc.stdout.close()
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=30) == 0, err
    assert "Traceback" not in err and "Exception" not in err, err
    log = (runs_of(project)[-1] / "log").read_text()
    assert log.endswith("line 99999\ndone\n")
    assert status_of(project, "probe")["state"] == "succeeded"
