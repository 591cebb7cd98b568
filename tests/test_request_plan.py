"""Request → plan → executor: `plan --out FILE` + `run --plan FILE` does what `run` does, a
written plan holds no secret, names picked at submission come from the plan's data, and a
local run from the plan cache is exact (each input changed in turn gives a fresh plan) and
loads neither YAML, pydantic nor click."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

TOKEN = "tok-9f8e7d6c5b4a"  # a secret the spec reads through ${MY_TOKEN}
DUMP = """\
import json, os, sys
out = os.environ.pop("DUMP_TO")
env = {k: v for k, v in os.environ.items()}
with open(out, "w") as fh:
    json.dump({"argv": sys.argv, "cwd": os.getcwd(), "env": env}, fh, sort_keys=True)
print("trainer ran with", sys.argv[1:])
"""


def _project(tmp_path: Path, *, cloud: str = "", extends: bool = False) -> Path:
    (tmp_path / ".git").mkdir()
    package = tmp_path / "trainer"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(DUMP)
    head = "extends: base.yaml\n" if extends else ""
    if extends:
        (tmp_path / "base.yaml").write_text("args: [--from-base]\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(
        f"version: 1\n{head}name: probe\n"
        "trainer: {package_path: trainer, module: trainer.task}\n"
        "args: [--lr, '0.1', --run, '${name}']\n"
        "env: {API_TOKEN: '${MY_TOKEN}'}\n"
        "targets:\n  local:\n    kind: local\n"
        "  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n"
        + cloud)
    return spec


def _proc(*args: str, cwd: Path, env: dict[str, str] | None = None,
          python_args: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *python_args, "-m", "jobspec", *args], cwd=cwd,
                          env={**os.environ, "MY_TOKEN": TOKEN, **(env or {})},
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


def _received(path: Path) -> dict[str, object]:
    data = json.loads(path.read_text())
    for volatile in ("PWD",):
        data["env"].pop(volatile, None)
    return data


# ---- plan --out / run --plan ---------------------------------------------------------------

def test_local_run_from_a_plan_file_gives_the_trainer_what_run_gives(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    first = _proc("run", str(spec), "--target", "local", "--", "--extra", "x y", cwd=tmp_path,
                  env={"DUMP_TO": str(tmp_path / "run.json")})
    assert first.returncode == 0, first.stderr
    planned = _proc("plan", str(spec), "--target", "local", "--out", "p.json", "--", "--extra",
                    "x y", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert "wrote the plan to p.json" in planned.stderr
    text = (tmp_path / "p.json").read_text()
    assert TOKEN not in text and "MY_TOKEN" in text  # the name is kept, never the value
    second = _proc("run", "--plan", "p.json", cwd=tmp_path,
                   env={"DUMP_TO": str(tmp_path / "plan.json")})
    assert second.returncode == 0, second.stderr
    by_run, by_plan = _received(tmp_path / "run.json"), _received(tmp_path / "plan.json")
    assert by_run == by_plan
    assert by_run["argv"][1:] == ["--lr", "0.1", "--run", "probe", "--extra", "x y"]
    assert by_run["env"]["API_TOKEN"] == TOKEN  # the secret reached the trainer both times
    assert TOKEN not in second.stdout + second.stderr


def test_a_local_sweep_runs_from_its_plan_file(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace("args: [--lr, '0.1'", "matrix: {lr: ['0.1', '0.2']}\n"
                                             "args: [--lr, '${matrix.lr}'"))
    env = {"DUMP_TO": str(tmp_path / "out.json")}
    ran = _proc("run", str(spec), "-t", "local", cwd=tmp_path, env=env)
    assert ran.returncode == 0, ran.stderr
    assert _proc("plan", str(spec), "-t", "local", "--out", "p.json", cwd=tmp_path
                 ).returncode == 0
    again = _proc("run", "--plan", "p.json", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    for out in (ran.stdout, again.stdout):
        assert "trainer ran with ['--lr', '0.1', '--run', 'probe_lr_0p1']" in out
        assert "trainer ran with ['--lr', '0.2', '--run', 'probe_lr_0p2']" in out


def test_run_plan_refuses_a_missing_secret_variable(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    assert _proc("plan", str(spec), "-t", "local", "--out", "p.json", cwd=tmp_path
                 ).returncode == 0
    env = {k: v for k, v in os.environ.items() if k != "MY_TOKEN"}
    done = subprocess.run([sys.executable, "-m", "jobspec", "run", "--plan", "p.json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "MY_TOKEN is not set" in done.stderr and "Traceback" not in done.stderr


def test_a_secret_written_in_the_spec_is_not_written_to_a_plan(cli, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace("'${MY_TOKEN}'", "literal-secret-value"))
    out = cli("plan", str(spec), "-t", "local", "--out", str(tmp_path / "p.json"))
    assert out.code == 2
    assert "not the value of an environment variable" in out.err
    assert not (tmp_path / "p.json").exists()
    assert "literal-secret-value" not in out.out + out.err


@pytest.mark.parametrize("edit", [
    lambda d: "not json at all",
    lambda d: json.dumps({"jobspec_plan": 1}),
    lambda d: json.dumps({**d, "jobspec_version": "0.0.1"}),
    lambda d: json.dumps({**d, "plan": {**d["plan"], "kind": "quantum"}}),
    lambda d: json.dumps({**d, "plan": {**d["plan"], "processes": "rm -rf /"}}),
    lambda d: json.dumps({**d, "plan": {**d["plan"], "processes": []}}),
    lambda d: json.dumps({**d, "plan": {**d["plan"], "isolated": "yes"}}),
    lambda d: json.dumps({**d, "secret_env": [3]}),
], ids=["not-json", "no-plan", "other-version", "kind", "processes", "no-process", "type",
        "secret-env"])
def test_a_plan_file_edited_into_nonsense_exits_2(cli, tmp_path: Path, edit,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    spec = _project(tmp_path)
    path = tmp_path / "p.json"
    assert cli("plan", str(spec), "-t", "local", "--out", str(path)).code == 0
    path.write_text(edit(json.loads(path.read_text())))
    out = cli("run", "--plan", str(path))
    assert out.code == 2, out.err
    assert str(path) in out.err and "Traceback" not in out.err
    if "0.0.1" in path.read_text():
        assert "written by jobspec '0.0.1'" in out.err and "jobspec plan --out" in out.err
    else:
        assert "not a plan file jobspec wrote" in out.err


def test_run_plan_takes_no_spec_options(cli, tmp_path: Path) -> None:
    out = cli("run", "--plan", str(tmp_path / "p.json"), "--target", "local")
    assert out.code == 2 and "--target" in out.err and "make a new plan" in out.err


def test_run_without_target_or_plan_is_a_usage_error(cli, tmp_path: Path) -> None:
    out = cli("run", str(_project(tmp_path)))
    assert out.code == 2 and "Missing option '--target'" in out.err


@pytest.fixture
def cloud(cloud_env, monkeypatch: pytest.MonkeyPatch):
    for key, value in {"JOBSPEC_POLL_MIN": "0.1", "JOBSPEC_POLL_MAX": "0.3",
                       "JOBSPEC_RETRY_BASE": "0.05", "MY_TOKEN": TOKEN}.items():
        monkeypatch.setenv(key, value)
    return cloud_env


def _submitted(err: str) -> str:
    return err.split("jobspec: submitted ")[1].split(":")[0]


def test_cloud_counter_names_come_from_the_plan_and_match_run(cli, cloud,
                                                              tmp_path: Path) -> None:
    spec = _project(tmp_path, cloud="    name_suffix: counter\n")
    common = [str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={cloud.bucket}"]
    ran = cli("run", *common, "--detach")
    assert ran.code == 0, ran.err
    path = tmp_path / "p.json"
    planned = cli("plan", *common, "--out", str(path))
    assert planned.code == 0, planned.err
    assert "probe_N" in planned.out  # shown as before: the suffix is picked at submission
    assert TOKEN not in path.read_text()
    names = [_submitted(ran.err)]
    for _ in range(2):  # the same plan file twice: the executor picks the next name each time
        out = cli("run", "--plan", str(path), "--detach")
        assert out.code == 0, out.err
        names.append(_submitted(out.err))
    assert names == ["probe_1", "probe_2", "probe_3"]
    jobs = sorted(cloud.vertex.jobs.values(), key=lambda j: j["displayName"])
    assert [j["displayName"] for j in jobs] == names

    def same(job: dict[str, object], name: str) -> str:
        keep = {k: job[k] for k in ("displayName", "labels", "jobSpec")}
        keep["labels"] = {k: v for k, v in job["labels"].items()  # type: ignore[attr-defined]
                          if k != "jobspec-submission"}
        return json.dumps(keep, sort_keys=True).replace(name, "NAME")

    assert same(jobs[0], "probe_1") == same(jobs[1], "probe_2") == same(jobs[2], "probe_3")
    pool = jobs[1]["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]
    assert pool["args"][:4] == ["--lr", "0.1", "--run", "probe_2"]  # ${name}: the final name
    assert {"name": "API_TOKEN", "value": TOKEN} in pool["env"]
    assert jobs[1]["labels"]["jobspec-name"] == "probe_2"
    assert jobs[1]["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"] == (
        f"gs://{cloud.bucket}/probe_2")


def test_cloud_timestamp_name_goes_wherever_the_name_went(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path, cloud="    name_suffix: timestamp\n")
    out = cli("run", str(spec), "--target", "cloud", "--set",
              f"targets.cloud.bucket={cloud.bucket}", "--detach")
    assert out.code == 0, out.err
    name = _submitted(out.err)
    assert re.fullmatch(r"probe_\d{8}_\d{6}", name)
    (job,) = cloud.vertex.jobs.values()
    assert job["displayName"] == name and job["labels"]["jobspec-name"] == name
    assert job["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["args"][3] == name
    assert "__jsx0" not in json.dumps(job)
    claim = json.loads(cloud.gcs.read_object(cloud.bucket, f"{name}/.jobspec/claim.json"))
    assert claim["name"] == name and claim["job_dir"] == f"gs://{cloud.bucket}/{name}"


def test_cloud_single_name_plan_file_matches_run(cli, cloud, tmp_path: Path) -> None:
    spec = _project(tmp_path)
    common = [str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={cloud.bucket}"]
    path = tmp_path / "p.json"
    assert cli("plan", *common, "--name", "viaplan", "--out", str(path)).code == 0
    ran = cli("run", *common, "--name", "viarun", "--detach")
    assert ran.code == 0, ran.err
    out = cli("run", "--plan", str(path), "--detach")
    assert out.code == 0, out.err
    by = {j["displayName"]: j for j in cloud.vertex.jobs.values()}

    def same(job: dict[str, object], name: str) -> str:
        keep = {k: job[k] for k in ("displayName", "labels", "jobSpec")}
        keep["labels"] = {k: v for k, v in job["labels"].items()  # type: ignore[attr-defined]
                          if k != "jobspec-submission"}
        return json.dumps(keep, sort_keys=True).replace(name, "NAME")

    assert same(by["viarun"], "viarun") == same(by["viaplan"], "viaplan")


# ---- the plan cache --------------------------------------------------------------------------

@pytest.fixture
def cached(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A project whose `run job.yaml -t local` has run once (and so left a cached plan)."""
    from jobspec import fastpath

    monkeypatch.setenv("MY_TOKEN", TOKEN)
    monkeypatch.setenv("DUMP_TO", str(tmp_path / "out.json"))
    spec = _project(tmp_path, extends=True)
    monkeypatch.chdir(tmp_path)
    argv = ["run", "job.yaml", "--target", "local"]
    out = cli(*argv)
    assert out.code == 0, out.err

    def hit(args: list[str] = argv) -> bool:
        return fastpath.lookup(args) is not None

    assert hit()
    return spec, argv, hit


def test_cache_misses_when_the_spec_changes(cached) -> None:
    spec, _, hit = cached
    spec.write_text(spec.read_text().replace("'0.1'", "'0.2'"))
    assert not hit()


def test_cache_misses_when_an_extended_file_changes(cached, tmp_path: Path) -> None:
    _, _, hit = cached
    (tmp_path / "base.yaml").write_text("args: [--from-base, --more]\n")
    assert not hit()


def test_cache_follows_only_the_variables_the_spec_reads(cached,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, hit = cached
    monkeypatch.setenv("SOMETHING_ELSE", "1")
    assert hit()
    monkeypatch.setenv("MY_TOKEN", TOKEN + "-rotated")
    assert not hit()
    monkeypatch.setenv("MY_TOKEN", TOKEN)
    assert hit()
    monkeypatch.setenv("PATH", "/nowhere" + os.pathsep + os.environ["PATH"])
    assert not hit()  # which `python` runs the trainer may change


def test_cache_misses_on_another_command_line(cached) -> None:
    _, argv, hit = cached
    assert not hit([*argv, "--set", "args=[]"])
    assert not hit([*argv, "--", "--extra"])


def test_cache_misses_when_a_file_is_added_to_the_package(cached, tmp_path: Path) -> None:
    _, _, hit = cached
    (tmp_path / "trainer" / "__pycache__").mkdir(exist_ok=True)
    (tmp_path / "trainer" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    assert hit()  # bytecode the trainer's own run writes changes nothing
    (tmp_path / "trainer" / "util.py").write_text("")
    assert not hit()


def test_cache_misses_for_another_jobspec_version(cached,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from jobspec import fastpath

    _, _, hit = cached
    monkeypatch.setattr(fastpath, "__version__", "99.0")
    assert not hit()


def test_cache_misses_for_another_interpreter(cached, monkeypatch: pytest.MonkeyPatch) -> None:
    _, _, hit = cached
    monkeypatch.setattr(sys, "executable", sys.executable + "3")
    assert not hit()


def test_cache_holds_no_secret(cached, tmp_path: Path) -> None:
    files = list((tmp_path / ".jobspec" / "plans").iterdir())
    assert files and all(TOKEN not in f.read_text() for f in files)
    assert all(f.stat().st_mode & 0o077 == 0 for f in files)


def test_records_name_pattern_is_the_specs() -> None:
    from jobspec.records import _NAME_RE
    from jobspec.spec import NAME_RE

    assert _NAME_RE.pattern == NAME_RE.pattern


PROBE = """\
import atexit, json, sys
def dump():
    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("yaml", "pydantic", "click")
                   or m in ("jobspec.spec", "jobspec.loader", "jobspec.assemble", "jobspec.plan"))
    open(out, "w").write(json.dumps(heavy))
atexit.register(dump)
out = sys.argv[1]
sys.argv = ["jobspec", "run", "job.yaml", "--target", "local"]
from jobspec.__main__ import main
main()
"""


def test_a_cached_local_run_loads_nothing_heavy_and_a_change_is_seen(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    dump = {"DUMP_TO": str(tmp_path / "out.json")}

    def run() -> tuple[list[str], list[str]]:
        done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "mods.json")],
                              cwd=tmp_path, env={**os.environ, "MY_TOKEN": TOKEN, **dump},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        received = json.loads((tmp_path / "out.json").read_text())
        return json.loads((tmp_path / "mods.json").read_text()), received["argv"][1:]

    heavy, args = run()
    assert "pydantic" in heavy and "yaml" in heavy  # the first run plans
    heavy, again = run()
    assert heavy == [] and again == args  # the second runs the cached plan
    spec.write_text(spec.read_text().replace("'0.1'", "'0.3'"))
    heavy, changed = run()
    assert "pydantic" in heavy and changed[:2] == ["--lr", "0.3"]
    assert re.fullmatch(r"[0-9a-f]{64}\.json", next(
        (tmp_path / ".jobspec" / "plans").iterdir()).name)


def test_records_of_a_cached_run_are_those_of_a_planned_run(tmp_path: Path) -> None:
    spec = _project(tmp_path)
    env = {"DUMP_TO": str(tmp_path / "out.json")}
    for _ in range(2):
        done = _proc("run", str(spec), "--target", "local", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
        assert "trainer ran with ['--lr', '0.1', '--run', 'probe']" in done.stdout
    runs = sorted((tmp_path / ".jobspec" / "runs" / "probe").iterdir())
    plans = [json.loads((r / "plan.json").read_text()) for r in runs]
    assert len(plans) == 2 and plans[0] == plans[1]
    assert TOKEN not in json.dumps(plans)
    _ = REPO
