"""`jobspec clean`: old run records, unused isolated venvs and stale caches go; the latest runs,
a running run, a venv in use and anything outside .jobspec/ stay.

Records are written with the real `Records` API and aged with os.utime; the venv and the
running record come from real `jobspec run --isolated` processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobspec.records import Records, StateDir
from tests.test_isolated import index, pip_env  # noqa: F401 (the package index fixtures)

DAY = 86400.0
TASK = '''\
import sys, time
if sys.argv[1:] == ["sleep"]:
    print("sleeping", flush=True)
    time.sleep(120)
print("done")
'''


def age(path: Path, seconds: float) -> None:
    """PATH and everything under it last touched SECONDS ago."""
    when = time.time() - seconds
    for top, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.utime(os.path.join(top, name), (when, when), follow_symlinks=False)
    os.utime(path, (when, when), follow_symlinks=False)


def project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.clean-test]\n", encoding="utf-8")
    return root


def runs_of(root: Path, name: str, ages_in_days: list[float]) -> list[Path]:
    """Finished runs of NAME, oldest first, made with the real Records API."""
    records = Records(StateDir(root).runs)
    folders = []
    for _ in ages_in_days:
        run = records.start(name, {"target": "local"})
        run.set_status(state="succeeded", exit_code=0, end="x", pid=None)
        with run.open_log() as log:
            log.write("x" * 1000)
        folders.append(run.folder)
        time.sleep(0.002)  # distinct timestamps
    for folder, days in zip(folders, ages_in_days, strict=True):
        age(folder, days * DAY)
    return folders


def test_old_records_go_and_the_latest_of_each_job_stays(tmp_path: Path, cli) -> None:
    root = project(tmp_path / "p")
    train = runs_of(root, "train", [90, 60, 40])
    evals = runs_of(root, "evals", [90, 1])
    done = cli("clean", cwd=root)
    assert done.code == 0, done.err
    assert [f.exists() for f in train] == [False, False, True]  # the latest one, however old
    assert [f.exists() for f in evals] == [False, True]  # one day old: kept
    assert done.out.count("removed run .jobspec/runs/") == 3
    assert "freed " in done.out.splitlines()[-1]
    listed = cli("list", "--json", cwd=root)
    assert {r["name"]: r["runs"] for r in json.loads(listed.out)} == {"train": 1, "evals": 1}

    again = cli("clean", "--keep", "0", "--older-than", "2d", cwd=root)
    assert again.code == 0, again.err
    assert not train[2].exists() and evals[1].exists()
    assert not (StateDir(root).runs / "train").exists()  # its folder went with its last run


def test_dry_run_removes_nothing_and_json_says_the_same(tmp_path: Path, cli) -> None:
    root = project(tmp_path / "p")
    folders = runs_of(root, "train", [90, 60, 1])
    dry = cli("clean", "--dry-run", cwd=root)
    assert dry.code == 0, dry.err
    assert all(f.exists() for f in folders)
    assert dry.out.count("would remove run") == 2
    assert dry.out.splitlines()[-1].startswith("would free ")
    data = json.loads(cli("clean", "--dry-run", "--json", cwd=root).out)
    assert data["dry_run"] is True
    assert [r["path"] for r in data["removed"]] == [str(f) for f in folders[:2]]
    assert data["bytes_freed"] == sum(r["bytes"] for r in data["removed"]) > 2000
    assert all(f.exists() for f in folders)
    real = json.loads(cli("clean", "--json", cwd=root).out)
    assert real["dry_run"] is False and real["removed"] == data["removed"]
    assert [f.exists() for f in folders] == [False, False, True]


def test_links_inside_jobspec_are_never_followed(tmp_path: Path, cli) -> None:
    root = project(tmp_path / "p")
    outside = tmp_path / "precious"
    outside.mkdir()
    (outside / "data.txt").write_text("keep me", encoding="utf-8")
    old, latest = runs_of(root, "train", [90, 60])
    (old / "cwd").mkdir()
    (old / "cwd" / "out").symlink_to(outside)  # a relative output a trainer linked out
    state = StateDir(root)
    (state.runs / "evil").symlink_to(outside)  # a job folder that is a link
    state.venvs.mkdir(parents=True)
    (state.venvs / "abc").symlink_to(outside)  # a venv that is a link
    (state.venvs / ".abc-x").symlink_to(outside)  # a staging folder that is a link
    state.groups.mkdir(parents=True)
    (state.groups / "g.json").symlink_to(outside / "data.txt")
    state.studies.mkdir(parents=True)
    (state.studies / "s.json").symlink_to(outside / "data.txt")  # a study record that is a link
    packages = state.gcs / "b" / "jobspec-staging" / "packages"
    packages.mkdir(parents=True)
    (packages / ("a" * 64)).symlink_to(outside)  # a staged sdist's folder that is a link
    (state.gcs / "b2").symlink_to(outside)  # a bucket that is a link
    age(state.root, 90 * DAY)
    age(outside, 90 * DAY)
    done = cli("clean", "--keep", "0", "--older-than", "1s", cwd=root)
    assert done.code == 0, done.err
    assert not old.exists() and not latest.exists()
    assert (outside / "data.txt").read_text(encoding="utf-8") == "keep me"
    assert sorted(p.name for p in outside.iterdir()) == ["data.txt"]
    for link in ("runs/evil", "venvs/abc", "venvs/.abc-x", "groups/g.json", "studies/s.json",
                 f"gcs/b/jobspec-staging/packages/{'a' * 64}", "gcs/b2"):
        assert (state.root / link).is_symlink(), link
    assert "left alone .jobspec/runs/evil: a symbolic link" in done.err


def test_stale_caches_staging_folders_and_orphan_groups_go(tmp_path: Path, cli) -> None:
    from jobspec import __version__

    root = project(tmp_path / "p")
    state = StateDir(root)
    runs_of(root, "kept", [1])
    state.groups.mkdir(parents=True)
    for group, members in (("gone", ["m1", "m2"]), ("alive", ["m1", "kept"])):
        path = state.groups / f"{group}.json"
        path.write_text(json.dumps({"group": group, "members": members}), encoding="utf-8")
        age(path, 90 * DAY)
    state.plans.mkdir(parents=True)
    today = time.strftime("%Y-%m-%d")
    (state.plans / "old.json").write_text(json.dumps({"version": __version__,
                                                      "day": "2000-01-01"}), encoding="utf-8")
    (state.plans / "now.json").write_text(json.dumps({"version": __version__, "day": today}),
                                          encoding="utf-8")
    state.venvs.mkdir(parents=True)
    left = state.venvs / ".k1-abcd"  # a build killed long ago: no lock holder
    (left / "venv").mkdir(parents=True)
    (left / ".building").write_text("1\n", encoding="utf-8")
    busy = state.venvs / ".k2-efgh"  # a build at work: its builder holds the lock
    busy.mkdir()
    with open(busy / ".building", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        done = cli("clean", "--json", cwd=root)
    assert done.code == 0, done.err
    kinds = sorted((r["kind"], Path(r["path"]).name) for r in json.loads(done.out)["removed"])
    assert kinds == [("group", "gone.json"), ("plan", "old.json"), ("staging", ".k1-abcd")]
    assert busy.is_dir() and (state.plans / "now.json").is_file()
    assert (state.groups / "alive.json").is_file()


def test_a_bad_duration_is_a_usage_error(tmp_path: Path, cli) -> None:
    root = project(tmp_path / "p")
    for bad in ("30", "3x", "-1d", "1.5d"):
        done = cli("clean", "--older-than", bad, cwd=root)
        assert done.code == 2
        assert f"'{bad}' is not a duration" in done.err
        assert "Traceback" not in done.err
    assert cli("clean", "--keep", "-1", cwd=root).code == 2


@contextlib.contextmanager
def unremovable(path: Path) -> Iterator[None]:
    """A file in PATH's folder nobody can remove: the folder read-only, or (as root, who ignores
    that) the file immutable."""
    if os.geteuid() != 0:
        path.parent.chmod(0o500)
        try:
            yield
        finally:
            path.parent.chmod(0o700)
        return
    if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode != 0:
        pytest.skip("no way to make a file unremovable for root here")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def test_a_path_it_cannot_remove_is_a_warning(tmp_path: Path, cli) -> None:
    root = project(tmp_path / "p")
    folders = runs_of(root, "train", [90, 80, 1])
    with unremovable(folders[0] / "log"):
        done = cli("clean", cwd=root)
        data = json.loads(cli("clean", "--json", cwd=root).out)
    assert done.code == 0
    assert f"warning: cannot remove .jobspec/runs/train/{folders[0].name}" in done.err
    assert folders[0].exists() and not folders[1].exists() and folders[2].exists()
    assert [f["path"] for f in data["failed"]] == [str(folders[0])]


# --- isolated venvs and a running run, with real jobspec processes ------------------------------


@pytest.fixture(scope="module")
def iso(tmp_path_factory: pytest.TempPathFactory, pip_env: dict[str, str]  # noqa: F811
        ) -> Iterator[tuple[Path, dict[str, str]]]:
    root = project(tmp_path_factory.mktemp("iso") / "proj")
    (root / "trainer").mkdir()
    (root / "trainer" / "__init__.py").write_text("", encoding="utf-8")
    (root / "trainer" / "task.py").write_text(TASK, encoding="utf-8")
    spec = {"version": 1, "name": "nap",
            "trainer": {"package_path": "trainer", "module": "trainer.task"},
            "targets": {"local": {}}}
    (root / "job.yaml").write_text(json.dumps(spec), encoding="utf-8")
    yield root, pip_env


def jobspec(root: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "jobspec", *args], cwd=root,
                            env={**os.environ, **env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)


def test_a_venv_in_use_or_used_lately_stays_and_an_unused_one_goes(
        iso: tuple[Path, dict[str, str]], cli) -> None:
    root, env = iso
    state = StateDir(root)
    first = jobspec(root, env, "run", "job.yaml", "--target", "local", "--isolated")
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    [venv] = [p for p in state.venvs.iterdir() if not p.name.startswith(".")]

    recent = cli("clean", "--keep", "0", "--older-than", "1h", cwd=root)
    assert recent.code == 0, recent.err
    assert venv.is_dir()  # used a moment ago

    running = jobspec(root, env, "run", "job.yaml", "--target", "local", "--isolated", "--",
                      "sleep")
    try:
        deadline = time.monotonic() + 60
        logs: list[Path] = []
        while time.monotonic() < deadline:
            logs = [p for p in (state.runs / "nap").glob("*/log") if "sleeping" in p.read_text()]
            if logs:
                break
            time.sleep(0.1)
        assert logs, "the isolated run did not start"
        age(state.root, 90 * DAY)  # everything looks old now: only the locks and pids protect
        busy = cli("clean", "--keep", "0", "--older-than", "1d", "--json", cwd=root)
        assert busy.code == 0, busy.err
        data = json.loads(busy.out)
        assert venv.is_dir(), busy.out  # its run holds it
        assert data["kept_running"] == [str(logs[0].parent)]
        assert logs[0].parent.is_dir()
        assert [r["kind"] for r in data["removed"]] == ["run"]  # the first, finished run
    finally:
        running.terminate()
        running.communicate(timeout=30)
    age(state.root, 90 * DAY)
    done = cli("clean", "--keep", "0", "--older-than", "1d", cwd=root)
    assert done.code == 0, done.err
    assert not venv.exists()
    assert f"removed venv .jobspec/venvs/{venv.name}" in done.out
    assert not (state.runs / "nap").exists()


def test_staged_sdists_go_when_unused_but_never_while_a_run_uses_them(
        iso: tuple[Path, dict[str, str]], cli) -> None:
    from jobspec.clean import size_text

    root, env = iso
    state = StateDir(root)
    first = jobspec(root, env, "run", "job.yaml", "--target", "local", "--isolated")
    out, err = first.communicate(timeout=180)
    assert first.returncode == 0, err
    [sdist] = [p for p in state.gcs.rglob("packages/*/*") if not p.name.startswith(".")]
    folder = sdist.parent  # .jobspec/gcs/BUCKET/PREFIX/packages/SHA256/
    older = folder.with_name("0" * 64)  # the same package, staged before a change to its code
    older.mkdir()
    (older / sdist.name).write_bytes(sdist.read_bytes())
    age(older, 90 * DAY)
    age(folder, 60 * DAY)
    shown = f".jobspec/{older.relative_to(state.root)}"

    dry = cli("clean", "--older-than", "1d", "--dry-run", cwd=root)
    assert dry.code == 0, dry.err
    lines = dry.out.splitlines()
    assert [line for line in lines if " sdist " in line] == [
        f"would remove sdist {shown} ({size_text(older.stat().st_size + sdist.stat().st_size)})"
    ], dry.out  # the space it frees: the folder and its file
    assert lines[-1].startswith("would free ")
    assert older.is_dir() and folder.is_dir()  # a dry run; the latest of its package stays

    running = jobspec(root, env, "run", "job.yaml", "--target", "local", "--isolated", "--",
                      "sleep")
    try:
        deadline = time.monotonic() + 60
        logs: list[Path] = []
        while time.monotonic() < deadline and not logs:
            logs = [p for p in (state.runs / "nap").glob("*/log") if "sleeping" in p.read_text()]
            time.sleep(0.1)
        assert logs, "the isolated run did not start"
        age(state.root, 90 * DAY)  # everything looks old now: only the running run protects
        busy = cli("clean", "--keep", "0", "--older-than", "1d", "--json", cwd=root)
        assert busy.code == 0, busy.err
        removed = {(r["kind"], r["path"]) for r in json.loads(busy.out)["removed"]}
        assert ("sdist", str(older)) in removed and not older.exists()
        assert sdist.is_file(), busy.out  # the running run was planned with it
    finally:
        running.terminate()
        running.communicate(timeout=30)
    age(state.root, 90 * DAY)
    done = cli("clean", "--keep", "0", "--older-than", "1d", cwd=root)
    assert done.code == 0, done.err
    assert f"removed sdist .jobspec/{folder.relative_to(state.root)} (" in done.out
    assert not folder.exists()
    assert list(state.gcs.iterdir()) == []  # the folders it left empty went with it


# --- studies ----------------------------------------------------------------------------------


def test_a_study_keeps_its_trials_records_and_goes_with_them(tmp_path: Path, cli) -> None:
    from tests.test_tuning import project as study_project
    from tests.test_tuning import tuning

    spec = study_project(tmp_path / "p", tuning("RANDOM_SEARCH", trials=2, seed=3))
    root = spec.parent
    out = cli("run", str(spec), "--target", "local", "--json", cwd=root)
    assert out.code == 0, out.err
    records = [Path(t["record"]) for t in json.loads(out.out)["trials"]]
    record = StateDir(root).study_file("toy")
    for trial in records:
        age(trial, 90 * DAY)
    age(record, 1 * DAY)  # a long study: its first trials ended well before it did

    young = cli("clean", "--keep", "0", "--older-than", "2d", cwd=root)
    assert young.code == 0, young.err
    assert record.is_file() and all(r.is_dir() for r in records), young.out
    assert cli("logs", "toy_trial_1", cwd=root).code == 0  # what the study points at is there

    age(record, 90 * DAY)
    latest = cli("clean", "--older-than", "2d", cwd=root)  # --keep 1: the study's one record
    assert latest.code == 0, latest.err
    assert record.is_file() and all(r.is_dir() for r in records), latest.out

    dry = cli("clean", "--keep", "0", "--older-than", "2d", "--dry-run", cwd=root)
    assert dry.code == 0, dry.err
    said = sorted(line.rsplit(" (", 1)[0] for line in dry.out.splitlines()[:-1])
    assert said == sorted([f"would remove run .jobspec/runs/{r.parent.name}/{r.name}"
                           for r in records] + ["would remove study .jobspec/studies/toy.json"])
    assert dry.out.splitlines()[-1].startswith("would free ")
    assert record.is_file() and all(r.is_dir() for r in records)
    done = cli("clean", "--keep", "0", "--older-than", "2d", "--json", cwd=root)
    assert done.code == 0, done.err
    assert sorted(r["kind"] for r in json.loads(done.out)["removed"]) == ["run", "run", "study"]
    assert not record.exists() and not any(r.parent.exists() for r in records)
    assert "toy" not in cli("list", cwd=root).out


def test_a_running_study_keeps_its_record_and_every_trials(tmp_path: Path, cli) -> None:
    from tests.test_tuning import project as study_project
    from tests.test_tuning import tuning

    spec = study_project(tmp_path / "p", tuning("RANDOM_SEARCH", trials=2, seed=3,
                                                parallel_trial_count=1),
                         env={"MODE": "sleep-even"})  # trial 2 sleeps
    root = spec.parent
    state = StateDir(root)
    record = state.study_file("toy")
    running = jobspec(root, {}, "run", str(spec), "--target", "local")
    try:
        deadline = time.monotonic() + 60
        trials: list[dict[str, object]] = []
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError, ValueError):
                trials = json.loads(record.read_text())["trials"]
            if [t["state"] for t in trials] == ["succeeded", "running"]:
                break
            time.sleep(0.1)
        assert [t["state"] for t in trials] == ["succeeded", "running"], trials
        records = [Path(str(t["record"])) for t in trials]
        age(state.root, 90 * DAY)  # everything looks old: only the running study protects
        busy = cli("clean", "--keep", "0", "--older-than", "1d", "--json", cwd=root)
        assert busy.code == 0, busy.err
        data = json.loads(busy.out)
        assert data["removed"] == [] and str(record) in data["kept_running"], busy.out
        assert record.is_file() and all(r.is_dir() for r in records)
    finally:
        running.terminate()
        running.communicate(timeout=30)
    assert json.loads(record.read_text())["state"] == "interrupted"
    age(state.root, 90 * DAY)
    done = cli("clean", "--keep", "0", "--older-than", "1d", cwd=root)
    assert done.code == 0, done.err
    assert not record.exists() and not any(r.exists() for r in records), done.out
