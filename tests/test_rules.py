"""The spec owns every rule: shared constants, strict targets, env at validate, stable sweep
names, [tool.jobspec] checked like a spec."""

from __future__ import annotations

from pathlib import Path

from tests.test_cloud import FAST_POLL, _project, _run


def test_cancel_treats_every_terminal_state_as_final(cli, cloud_env, monkeypatch,
                                                     tmp_path: Path) -> None:
    for key, value in FAST_POLL.items():
        monkeypatch.setenv(key, value)
    spec = _project(tmp_path, "print('done', flush=True)\n")
    assert _run(cli, spec, cloud_env.bucket, "--detach").code == 0
    (job_id,) = cloud_env.vertex.jobs
    cloud_env.vertex.wait_for_state(job_id, "JOB_STATE_SUCCEEDED", timeout=20)
    with cloud_env.vertex.lock:  # Vertex ends a job EXPIRED when it waited too long for resources
        cloud_env.vertex._jobs[job_id].data["state"] = "JOB_STATE_EXPIRED"
    out = cli("cancel", "probe", "--bucket", cloud_env.bucket)
    assert out.code == 0, out.err
    assert "probe already ended EXPIRED; nothing to cancel" in out.err
    assert cloud_env.vertex.jobs[job_id]["state"] == "JOB_STATE_EXPIRED"


def _spec(tmp_path: Path, text: str) -> Path:
    (tmp_path / ".git").mkdir(exist_ok=True)
    package = tmp_path / "trainer"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text("print(1)\n")
    spec = tmp_path / "job.yaml"
    spec.write_text("version: 1\nname: probe\n"
                    "trainer: {package_path: trainer, module: trainer.task}\n" + text)
    return spec


CLOUD = ("  cloud:\n    bucket: my-bucket\n"
         "    executor_image: us-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest\n")


def test_plan_and_run_check_every_target(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "targets:\n  local: {}\n" + CLOUD + "    regoin: us-east1\n")
    for command in ("plan", "run"):
        out = cli(command, str(spec), "--target", "local")
        assert out.code == 2, out.err
        assert "job.yaml:9:5: targets.cloud.regoin: unknown key (did you mean 'region'?)" in (
            out.err)
    assert not (tmp_path / ".jobspec").exists()  # run stopped before anything started


def test_a_set_on_another_target_is_checked(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "targets:\n  local: {}\n" + CLOUD)
    out = cli("plan", str(spec), "--target", "local", "--set", "targets.cloud.bucket=Bad_Bucket")
    assert out.code == 2
    assert "targets.cloud.bucket: 'Bad_Bucket' is not a valid bucket name" in out.err
    assert cli("plan", str(spec), "--target", "local").code == 0


def test_validate_allows_an_unset_variable_and_plan_does_not(cli, monkeypatch,
                                                              tmp_path: Path) -> None:
    monkeypatch.delenv("BUCKET", raising=False)
    monkeypatch.delenv("DATA_DIR", raising=False)
    spec = _spec(tmp_path, 'args: ["--data=${DATA_DIR}"]\ntargets:\n  local: {}\n'
                 + CLOUD.replace("my-bucket", "${BUCKET}"))
    out = cli("validate", str(spec))
    assert out.code == 0, out.err
    assert out.out == "1 spec(s) valid\n"
    assert ("job.yaml:8:13: targets.cloud.bucket: environment variable BUCKET is not set "
            "(write ${BUCKET:-default} to give a default): note: allowed by `validate`") in out.err
    assert "is not a valid bucket name" not in out.err  # '${BUCKET}' is not judged as a name
    strict = cli("validate", "--strict-env", str(spec))
    assert strict.code == 2
    assert "2 problem(s) in 1 file(s)" in strict.err
    # plan: the chosen target's variables must be set; another target's unset one is no error
    plan = cli("plan", str(spec), "--target", "local")
    assert plan.code == 2
    assert "args[0]: environment variable DATA_DIR is not set" in plan.err
    assert "BUCKET" not in plan.err
    monkeypatch.setenv("DATA_DIR", "data")
    assert cli("plan", str(spec), "--target", "local").code == 0
    assert "BUCKET is not set" in cli("plan", str(spec), "--target", "cloud").err


def test_validate_still_fails_on_other_problems_beside_an_unset_variable(cli, monkeypatch,
                                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("BUCKET", raising=False)
    spec = _spec(tmp_path, "targets:\n  local: {}\n" + CLOUD.replace("my-bucket", "${BUCKET}")
                 + "    regoin: us-east1\n")
    out = cli("validate", str(spec))
    assert out.code == 2
    assert "1 problem(s) in 1 file(s)" in out.err
    assert "targets.cloud.regoin: unknown key" in out.err


def _member_names(cli, spec: Path, matrix: str) -> list[str]:
    spec.write_text(spec.read_text().split("matrix:")[0] + matrix)
    out = cli("plan", str(spec), "--target", "local", "--json")
    assert out.code == 0, out.err
    import json

    return [m["name"] for m in json.loads(out.out)["members"]]


def test_sweep_members_keep_their_names_when_a_value_is_added(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "targets:\n  local: {}\nargs: ['--lr=${matrix.lr}']\nmatrix: {}\n")
    before = _member_names(cli, spec, "matrix:\n  lr: [0.1, 0.01]\n  opt: [adam]\n")
    assert before == ["probe_lr_0p1_opt_adam", "probe_lr_0p01_opt_adam"]
    after = _member_names(cli, spec, "matrix:\n  lr: [0.3, 0.1, 0.01]\n  opt: [adam]\n")
    assert after == ["probe_lr_0p3_opt_adam", *before]


def test_sweep_member_names_stay_names(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "targets:\n  local: {}\nargs: ['--x=${matrix.x}']\nmatrix: {}\n")
    names = _member_names(cli, spec, "matrix:\n  x: ['a/b', 'a b', -1, 1e-05, '" + "y" * 130
                          + "']\n")
    assert names[0].startswith("probe_x_a_b_") and names[1].startswith("probe_x_a_b_")
    assert names[0] != names[1]  # the same after sanitising: told apart by a hash
    assert names[2:4] == ["probe_x_m1", "probe_x_1em05"]
    assert len(names[4]) == 128
    assert len(set(names)) == 5


def test_the_schema_shows_each_rule_validate_applies(cli, tmp_path: Path) -> None:
    import json
    import re

    out = cli("schema")
    assert out.code == 0
    schema = json.loads(out.out)
    cloud = schema["$defs"]["CloudTarget"]["properties"]
    rules = {"name": schema["properties"]["name"], "bucket": cloud["bucket"],
             "region": cloud["region"]}
    assert rules["name"]["maxLength"] == 128
    assert (rules["bucket"]["minLength"], rules["bucket"]["maxLength"]) == (3, 222)
    assert schema["properties"]["env"]["propertyNames"]["pattern"] == (
        "^(?:[A-Za-z_][A-Za-z0-9_]*)$")
    assert schema["$defs"]["Trainer"]["properties"]["module"]["pattern"].startswith("^(?:")
    samples = {"name": ["job_1", "1job", "a-b", "x" * 128], "region": ["us-east1", "US-east1"],
               "bucket": ["my-bucket", "My-Bucket", "ab", "a..b"]}
    for key, values in samples.items():
        for value in values:
            spec = _spec(tmp_path, "targets:\n  local: {}\n" + CLOUD)
            text = spec.read_text()
            if key == "name":
                text = text.replace("name: probe", f"name: {value}")
            elif key == "bucket":
                text = text.replace("bucket: my-bucket", f"bucket: '{value}'")
            else:
                text += f"    region: {value}\n"
            spec.write_text(text)
            valid = cli("validate", str(spec)).code == 0
            rule = rules[key]
            shown = (re.search(rule["pattern"], value) is not None
                     and rule.get("minLength", 0) <= len(value) <= rule["maxLength"]
                     if "maxLength" in rule else re.search(rule["pattern"], value) is not None)
            assert shown == valid or (key == "bucket" and not valid), (key, value, shown, valid)


def test_tool_jobspec_is_checked_with_positions(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "targets:\n  local: {}\n")
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\n\n[tool.jobspec]\ndefault-spc = "job.yaml"\n'
                         '[tool.jobspec.runtimes]\n"2.1" = "img"\n"2.2" = ["x"]\n')
    out = cli("plan", "--target", "local", cwd=tmp_path)
    assert out.code == 2
    assert out.err.splitlines() == [
        "pyproject.toml:5:1: tool.jobspec.default-spc: unknown key (did you mean "
        "'default-spec'?)",
        '    5 | default-spc = "job.yaml"',
        "      | ^",
        'pyproject.toml:8:9: tool.jobspec.runtimes."2.2": expected an image URI (text), got a '
        "list",
        '    8 | "2.2" = ["x"]',
        "      |         ^",
    ]
    pyproject.write_text("[tool.jobspec]\n  default-spec = 3\n")
    out = cli("validate", cwd=tmp_path)
    assert out.code == 2
    assert out.err.splitlines()[0] == (
        "pyproject.toml:2:18: tool.jobspec.default-spec: expected the path of a spec file, "
        "relative to pyproject.toml, got the number 3")
    pyproject.write_text('[tool.jobspec]\ndefault-spec = "job.yaml"\n')
    assert cli("plan", "--target", "local", cwd=tmp_path).code == 0
    assert spec.name == "job.yaml"
