"""Bounded work, never a traceback (issue 9, item 4): each attack below is refused by
`jobspec validate` (or `plan`, for command-line overrides) with exit 2 and the exact
`file:line:col: key.path: message` users see; what must keep working keeps working.

- a trailing newline in every kind of name (`$` in `re.match` used to let "name\\n" through);
- a NUL character in any key or text;
- every GCS bucket naming rule;
- interpolation that would build a huge text (a big variable repeated, or a chain of
  builtins), bounded per spec;
- `--set` paths that nest too deep or are too long, `--set extends=...`, and `--set` on a value
  shared through a YAML alias (copy on write);
- a cloud job_dir outside gs://BUCKET/NAME/, the folder the name's claim protects.
"""

# ruff: noqa: E501 - the pinned messages are the long lines users see; wrapping would hide them

from __future__ import annotations

import json
from pathlib import Path
from textwrap import dedent

import pytest

HEAD = """\
version: 1
name: job
trainer:
  package_path: trainer
  module: trainer.task
"""


def project(tmp_path: Path, spec: str) -> Path:
    (tmp_path / "trainer").mkdir(exist_ok=True)
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("")
    path = tmp_path / "spec.yaml"
    path.write_text(spec)
    return path


def refused(cli, tmp_path: Path, spec: str, *args: str, command: str = "validate") -> str:
    """Exit 2, nothing on stdout, no traceback: the error text."""
    project(tmp_path, spec)
    extra = ("--target", "local") if command == "plan" and "--target" not in args else ()
    result = cli(command, "spec.yaml", *extra, *args, cwd=tmp_path)
    assert "Traceback" not in result.out + result.err
    assert (result.code, result.out) == (2, ""), result.err
    return result.err


def cloud_spec(lines: str) -> str:
    """HEAD plus a cloud target holding ``lines`` after a valid bucket and image."""
    return HEAD + "targets:\n  cloud:\n    executor_image: img\n" + lines


# ---------------------------------------------------------------------------------------------
# A trailing newline, in every kind of name: refused at its line


NEWLINE = [
    pytest.param(
        HEAD.replace("name: job", 'name: "job\\n"') + "targets: {local: {}}\n",
        """\
        spec.yaml:2:7: name: expected a letter, then letters, digits or underscores, at most 128 characters, got 'job\\n'
            2 | name: "job\\n"
              |       ^
        """, id="name"),
    pytest.param(
        HEAD.replace("module: trainer.task", 'module: "trainer.task\\n"') + "targets: {local: {}}\n",
        """\
        spec.yaml:5:11: trainer.module: expected a dotted Python module name like trainer.task, got 'trainer.task\\n'
            5 |   module: "trainer.task\\n"
              |           ^
        """, id="module"),
    pytest.param(
        cloud_spec('    bucket: "my-bucket\\n"\n'),
        """\
        spec.yaml:9:13: targets.cloud.bucket: 'my-bucket\\n' is not a valid bucket name: expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit
            9 |     bucket: "my-bucket\\n"
              |             ^
        """, id="bucket"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    region: "us-central1\\n"\n'),
        """\
        spec.yaml:10:13: targets.cloud.region: expected a region like us-central1, got 'us-central1\\n'
           10 |     region: "us-central1\\n"
              |             ^
        """, id="region"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    labels: {"team\\n": ml}\n'),
        """\
        spec.yaml:10:14: targets.cloud.labels['team\\n']: label key 'team\\n' must start with a lowercase letter and hold at most 63 lowercase letters, digits, '_' or '-'
           10 |     labels: {"team\\n": ml}
              |              ^
        """, id="label-key"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    labels: {team: "ml\\n"}\n'),
        """\
        spec.yaml:10:20: targets.cloud.labels.team: label value 'ml\\n' may hold at most 63 lowercase letters, digits, '_' or '-'
           10 |     labels: {team: "ml\\n"}
              |                    ^
        """, id="label-value"),
    pytest.param(
        HEAD + 'env: {"MODE\\n": fast}\ntargets: {local: {}}\n',
        """\
        spec.yaml:6:7: env['MODE\\n']: 'MODE\\n' is not a valid environment variable name
            6 | env: {"MODE\\n": fast}
              |       ^
        """, id="env-name"),
    pytest.param(
        HEAD + 'secrets: ["API_TOKEN\\n"]\ntargets: {local: {}}\n',
        """\
        spec.yaml:6:11: secrets[0]: 'API_TOKEN\\n' is not a valid environment variable name
            6 | secrets: ["API_TOKEN\\n"]
              |           ^
        """, id="secret-name"),
    pytest.param(
        HEAD + 'targets:\n  "gpu\\n": {kind: local}\n',
        """\
        spec.yaml:7:3: targets['gpu\\n']: target name 'gpu\\n' must be letters, digits, '-' or '_'
            7 |   "gpu\\n": {kind: local}
              |   ^
        """, id="target-name"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    project: "my-project\\n"\n'),
        """\
        spec.yaml:10:14: targets.cloud.project: expected a project ID like my-project (lowercase letters, digits and '-'), got 'my-project\\n'
           10 |     project: "my-project\\n"
              |              ^
        """, id="project"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    python_version: "3.10\\n"\n'),
        """\
        spec.yaml:10:21: targets.cloud.python_version: expected a Python version like "3.10", got '3.10\\n'
           10 |     python_version: "3.10\\n"
              |                     ^
        """, id="python-version"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    staging_prefix: "staging\\n"\n'),
        """\
        spec.yaml:10:21: targets.cloud.staging_prefix: expected a bucket folder without line breaks or control characters, got 'staging\\n' (it holds '\\n')
           10 |     staging_prefix: "staging\\n"
              |                     ^
        """, id="staging-prefix"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    job_dir: "gs://my-bucket/job\\n"\n'),
        """\
        spec.yaml:10:14: targets.cloud.job_dir: expected a gs:// path without line breaks or control characters, got 'gs://my-bucket/job\\n' (it holds '\\n')
           10 |     job_dir: "gs://my-bucket/job\\n"
              |              ^
        """, id="job-dir"),
    pytest.param(
        HEAD + '  requirements: ["numpy\\n"]\ntargets: {local: {}}\n',
        """\
        spec.yaml:6:18: trainer.requirements[0]: expected a pip requirement without line breaks or control characters, got 'numpy\\n' (it holds '\\n')
            6 |   requirements: ["numpy\\n"]
              |                  ^
        """, id="requirement"),
    pytest.param(
        HEAD + 'targets:\n  local:\n    python: "python3\\n"\n',
        """\
        spec.yaml:8:13: targets.local.python: expected an interpreter path without line breaks or control characters, got 'python3\\n' (it holds '\\n')
            8 |     python: "python3\\n"
              |             ^
        """, id="python"),
    pytest.param(
        HEAD + 'matrix: {"lr\\n": [1, 2]}\ntargets: {local: {}}\n',
        """\
        spec.yaml:6:10: matrix['lr\\n']: matrix key 'lr\\n' cannot be used as ${matrix.KEY}: expected a letter or '_', then letters, digits, '_' or '-'
            6 | matrix: {"lr\\n": [1, 2]}
              |          ^
        """, id="matrix-key"),
    pytest.param(
        HEAD + 'targets:\n  local:\n    job_dir: "output\\n"\n',
        """\
        spec.yaml:8:14: targets.local.job_dir: expected a folder without line breaks or control characters, got 'output\\n' (it holds '\\n')
            8 |     job_dir: "output\\n"
              |              ^
        """, id="local-job-dir"),
    pytest.param(
        cloud_spec('    bucket: my-bucket\n    scale_tier: CUSTOM\n    chief: {machine_type: n1-standard-4, accelerator: {type: "NVIDIA_TESLA_T4\\n"}}\n'),
        """\
        spec.yaml:11:62: targets.cloud.chief.accelerator.type: expected an accelerator type like NVIDIA_TESLA_T4, got 'NVIDIA_TESLA_T4\\n'
           11 |     chief: {machine_type: n1-standard-4, accelerator: {type: "NVIDIA_TESLA_T4\\n"}}
              |                                                              ^
        """, id="accelerator"),
    pytest.param(
        HEAD + 'args: ["--out=${name\\n}"]\ntargets: {local: {}}\n',
        """\
        spec.yaml:6:8: args[0]: '${name\\n}' is not a valid reference: use ${name}, ${VAR} or ${VAR:-default}
            6 | args: ["--out=${name\\n}"]
              |        ^
        """, id="reference"),
]


@pytest.mark.parametrize(("spec", "expected"), NEWLINE)
def test_a_trailing_newline_is_refused_in_every_name(spec: str, expected: str, cli,
                                                     tmp_path: Path) -> None:
    assert refused(cli, tmp_path, spec) == dedent(expected) + "1 problem(s) in 1 file(s)\n"


def test_a_trailing_newline_from_the_command_line_is_refused(cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--name", "job\n",
                  command="plan")
    assert err.startswith("--name job\ufffd:1:8: name: expected a letter, then letters, digits or "
                          "underscores, at most 128 characters, got 'job\\n'\n")


# ---------------------------------------------------------------------------------------------
# NUL characters: refused wherever they are, at their own line


def test_a_nul_is_refused_in_any_key_or_value(cli, tmp_path: Path) -> None:
    spec = HEAD + dedent("""\
        args: ["--a=1\\0rm"]
        env: {"X\\0Y": "1", MODE: "fast\\0"}
        description: "a\\x00b"
        targets:
          local:
            job_dir: "out\\u0000"
        """)
    assert refused(cli, tmp_path, spec) == dedent("""\
        spec.yaml:6:8: args[0]: expected text without NUL characters, got the string '--a=1\\x00rm'
            6 | args: ["--a=1\\0rm"]
              |        ^
        spec.yaml:7:7: env['X\\x00Y']: expected a key without NUL characters, got the string 'X\\x00Y'
            7 | env: {"X\\0Y": "1", MODE: "fast\\0"}
              |       ^
        spec.yaml:7:26: env.MODE: expected text without NUL characters, got the string 'fast\\x00'
            7 | env: {"X\\0Y": "1", MODE: "fast\\0"}
              |                          ^
        spec.yaml:8:14: description: expected text without NUL characters, got the string 'a\\x00b'
            8 | description: "a\\x00b"
              |              ^
        spec.yaml:11:14: targets.local.job_dir: expected text without NUL characters, got the string 'out\\x00'
           11 |     job_dir: "out\\u0000"
              |              ^
        5 problem(s) in 1 file(s)
        """)


def test_a_nul_in_the_base_file_path_is_refused(cli, tmp_path: Path) -> None:
    # found by bench/fuzz_specs.py: resolving the path raised ValueError (a traceback)
    assert refused(cli, tmp_path, 'extends: "base\\0.yaml"\n' + HEAD) == dedent("""\
        spec.yaml:1:10: extends: expected the path of a base spec file without NUL characters, got the string 'base\\x00.yaml'
            1 | extends: "base\\0.yaml"
              |          ^
        1 problem(s) in 1 file(s)
        """)


def test_a_nul_in_an_override_is_refused(cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--set", 'args=["a\\0"]',
                  command="plan")
    assert err == dedent("""\
        --set args=["a\\0"]:1:13: args[0]: expected text without NUL characters, got the string 'a\\x00'
            1 | --set args=["a\\0"]
              |             ^
        """)


# ---------------------------------------------------------------------------------------------
# GCS bucket names: every rule of cloud.google.com/storage/docs/naming-buckets


BUCKETS = [
    ("ab", "expected 3-63 characters (up to 222 with dots), got 2"),
    ("a" * 64, "expected 3-63 characters (up to 222 with dots), got 64"),
    ("a." + "b" * 64, "expected at most 63 characters between dots"),
    (".".join(["a" * 60] * 4), "expected 3-63 characters (up to 222 with dots), got 243"),
    ("My-Bucket", "expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
    ("-bucket", "expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
    ("bucket_", "expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
    ("my bucket", "expected 3-63 lowercase letters, digits, '-', '_' and '.', starting and ending with a letter or digit"),
    ("my..bucket", "expected no '..' in the name"),
    ("my.-bucket", "expected no '.-' in the name"),
    ("my-.bucket", "expected no '-.' in the name"),
    ("192.168.5.4", "expected a name, not an IP address"),
    ("goog-data", "expected a name that does not start with 'goog'"),
    ("my-google-data", "expected a name without 'google' or a close misspelling of it"),
    ("data-g00gle", "expected a name without 'google' or a close misspelling of it"),
    ("go0g1e-runs", "expected a name without 'google' or a close misspelling of it"),
]


@pytest.mark.parametrize(("bucket", "reason"), BUCKETS, ids=[b[:20] for b, _ in BUCKETS])
def test_every_bucket_rule(bucket: str, reason: str, cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, cloud_spec(f"    bucket: '{bucket}'\n"))
    assert err.splitlines()[0] == (
        f"spec.yaml:9:13: targets.cloud.bucket: {bucket!r} is not a valid bucket name: {reason}")


@pytest.mark.parametrize("bucket", ["abc", "a" * 63, "my_bucket-1", "data.example.com",
                                    "a." + "b" * 63, "192.168.5.x", "goo-data"])
def test_valid_buckets_pass(bucket: str, cli, tmp_path: Path) -> None:
    project(tmp_path, cloud_spec(f"    bucket: '{bucket}'\n"))
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert (result.code, result.err) == (0, ""), result.err


# ---------------------------------------------------------------------------------------------
# Interpolation: a bound on what it may add to one spec


def test_a_big_variable_used_many_times_fails_at_its_line(cli, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIG", "x" * 100_000)
    refs = ", ".join(['"${BIG}"'] * 1000)
    err = refused(cli, tmp_path, HEAD + f"args: [{refs}]\ntargets: {{local: {{}}}}\n")
    assert err.splitlines()[0] == (
        "spec.yaml:6:108: args[10]: interpolation makes the spec more than 1,048,576 characters "
        "larger (here '${BIG}' adds 100,000); a job file never needs that much")
    assert err.endswith("1 problem(s) in 1 file(s)\n")


def test_a_chain_of_builtins_cannot_grow_past_the_bound(cli, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # ${project} holds ${BIG} five times, ${bucket} ${project} three times, args ${bucket} often
    monkeypatch.setenv("BIG", "x" * 100_000)
    spec = HEAD + "args: [" + ", ".join(['"${bucket}"'] * 500) + "]\n" + cloud_spec(
        '    project: "${BIG}${BIG}${BIG}${BIG}${BIG}"\n'
        '    bucket: "${project}${project}${project}"\n').removeprefix(HEAD)
    err = refused(cli, tmp_path, spec)
    assert err.splitlines()[0] == (
        "spec.yaml:11:13: targets.cloud.bucket: interpolation makes the spec more than "
        "1,048,576 characters larger (here '${project}' adds 500,000); a job file never needs "
        "that much")


def test_interpolation_well_inside_the_bound_still_works(cli, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MID", "y" * 10_000)
    project(tmp_path, HEAD + "args: [" + ", ".join(['"${MID}"'] * 50) + "]\n"
            "targets: {local: {}}\n")
    result = cli("plan", "spec.yaml", "--target", "local", "--json", cwd=tmp_path)
    assert result.code == 0, result.err
    argv = json.loads(result.out)["processes"][0]["argv"]
    assert argv[-50:] == ["y" * 10_000] * 50


# ---------------------------------------------------------------------------------------------
# --set: bounded paths and values; aliases copied on write; extends


def test_a_deep_set_path_is_a_usage_error(cli, tmp_path: Path) -> None:
    key = ".".join(["a"] * 33)
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--set", f"{key}=1",
                  command="plan")
    assert err == dedent(f"""\
        --set {key}=1:1:7: {key}: expected at most 32 keys in a --set path, got 33
            1 | --set {key}=1
              |       ^
        """)


def test_a_huge_set_value_is_a_usage_error(cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--set",
                  "description=" + "x" * 70_000, command="plan")
    assert err.splitlines()[0].endswith(
        ":1:7: expected at most 65,536 characters in one --set, got 70,012")


ALIASED = HEAD + dedent("""\
    targets:
      a: &shared
        kind: cloud
        project: proj
        bucket: my-bucket
        executor_image: img
        labels: {team: ml}
      c: *shared
    """)


def _cloud_plan(cli, tmp_path: Path, target: str, *sets: str) -> dict[str, object]:
    args = [a for s in sets for a in ("--set", s)]
    result = cli("plan", "spec.yaml", "--target", target, "--json", *args, cwd=tmp_path)
    assert result.code == 0, result.err
    plan: dict[str, object] = json.loads(result.out)
    return plan


def test_set_on_an_aliased_value_changes_only_the_named_target(cli, tmp_path: Path) -> None:
    project(tmp_path, ALIASED)
    sets = ("targets.a.region=europe-west4", "targets.a.labels.team=infra")
    a = _cloud_plan(cli, tmp_path, "a", *sets)
    c = _cloud_plan(cli, tmp_path, "c", *sets)
    assert (a["region"], c["region"]) == ("europe-west4", "us-central1")
    labels = [p["request"]["labels"]["team"] for p in (a, c)]  # type: ignore[index]
    assert labels == ["infra", "ml"]


def test_set_on_an_aliased_list_item_changes_only_the_named_list(cli, tmp_path: Path) -> None:
    project(tmp_path, HEAD + 'args: &shared ["--x=1"]\ntargets:\n  local: {args: *shared}\n')
    result = cli("plan", "spec.yaml", "--target", "local", "--json", "--set", "args.0=--x=2",
                 cwd=tmp_path)
    assert result.code == 0, result.err
    argv = json.loads(result.out)["processes"][0]["argv"]
    assert argv[-2:] == ["--x=2", "--x=1"]  # spec args, then the target's: only one was set


def test_set_extends_at_the_top_level_is_refused(cli, tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(HEAD)
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--set", "extends=base.yaml",
                  command="plan")
    assert err == dedent("""\
        --set extends=base.yaml:1:7: extends: the top-level extends cannot be set on the command line: it names the base file, which is merged before --set applies; edit the spec's extends instead
            1 | --set extends=base.yaml
              |       ^
        """)


def test_set_extends_of_a_target_works(cli, tmp_path: Path) -> None:
    project(tmp_path, HEAD + dedent("""\
        targets:
          local: {}
          gpu: {kind: local, job_dir: out/gpu, env: {MODE: gpu}}
        """))
    result = cli("plan", "spec.yaml", "--target", "local", "--json", "--set",
                 "targets.local.extends=gpu", cwd=tmp_path)
    assert result.code == 0, result.err
    plan = json.loads(result.out)
    assert plan["job_dir"] == "out/gpu"
    assert plan["processes"][0]["env"]["MODE"] == "gpu"
    err = refused(cli, tmp_path, HEAD + "targets: {local: {}}\n", "--set",
                  "targets.local.extends=local", command="plan")
    assert err.splitlines()[0] == ("--set targets.local.extends=local:1:29: "
                                   "targets.local.extends: extends forms a cycle: local -> local")


# ---------------------------------------------------------------------------------------------
# A cloud job_dir must be inside gs://BUCKET/NAME/, the folder the name's claim protects


OUTSIDE = ("expected a folder inside gs://my-bucket/job/, the folder that the claim on the job "
           "name protects, got {got!r}: another job could write there. Write "
           "gs://${{bucket}}/${{name}} or a folder under it, or set job_dir_outside_claim: true "
           "to write outside it knowingly")


@pytest.mark.parametrize("job_dir", ["gs://other-bucket/job", "gs://my-bucket/out/job",
                                     "gs://my-bucket/job_2", "gs://my-bucket/jobs",
                                     "gs://my-bucket/job/../job_2", "gs://my-bucket"])
def test_a_job_dir_outside_the_claim_is_refused(job_dir: str, cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, cloud_spec(f"    bucket: my-bucket\n    job_dir: {job_dir}\n"))
    assert err == dedent(f"""\
        spec.yaml:10:14: targets.cloud.job_dir: {OUTSIDE.format(got=job_dir)}
           10 |     job_dir: {job_dir}
              |              ^
        1 problem(s) in 1 file(s)
        """)


@pytest.mark.parametrize("job_dir", ["gs://${bucket}/${name}", "gs://my-bucket/job/",
                                     "gs://my-bucket/job/run/1"])
def test_a_job_dir_inside_the_claim_is_valid(job_dir: str, cli, tmp_path: Path) -> None:
    project(tmp_path, cloud_spec(f"    bucket: my-bucket\n    job_dir: {job_dir}\n"))
    result = cli("validate", "spec.yaml", cwd=tmp_path)
    assert (result.code, result.err) == (0, ""), result.err


def test_outside_the_claim_with_the_opt_in_is_planned_with_a_warning(cli,
                                                                      tmp_path: Path) -> None:
    project(tmp_path, cloud_spec("    bucket: my-bucket\n    project: proj\n"
                                 "    job_dir: gs://shared-out/job\n"
                                 "    job_dir_outside_claim: true\n"))
    result = cli("plan", "spec.yaml", "--target", "cloud", cwd=tmp_path)
    assert result.code == 0, result.err
    assert "job_dir     gs://shared-out/job\n" in result.out
    assert ("warning     job_dir gs://shared-out/job is outside gs://my-bucket/job/, the folder "
            "the claim on the job name protects (job_dir_outside_claim: true): another job may "
            "write to it as well") in result.out


def test_with_a_name_suffix_the_job_dir_must_say_name(cli, tmp_path: Path) -> None:
    err = refused(cli, tmp_path, cloud_spec("    bucket: my-bucket\n    name_suffix: counter\n"
                                            "    job_dir: gs://${bucket}/job\n"))
    assert err == dedent("""\
        spec.yaml:11:14: targets.cloud.job_dir: expected a job_dir that uses ${name}, like gs://${bucket}/${name}, got the string 'gs://${bucket}/job': with name_suffix: counter the job is named NAME_N when it is submitted, and only gs://BUCKET/NAME_N/ is claimed for it
           11 |     job_dir: gs://${bucket}/job
              |              ^
        1 problem(s) in 1 file(s)
        """)


def test_with_a_name_suffix_each_job_writes_inside_its_own_claim(cli, cloud_env,
                                                                 tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("print(1)\n")
    spec = tmp_path / "job.yaml"
    spec.write_text(HEAD.replace("name: job", "name: probe") + dedent("""\
        targets:
          cloud:
            bucket: placeholder-bucket
            project: test
            executor_image: img
            name_suffix: counter
            job_dir: gs://${bucket}/${name}/out
        """))
    for _ in range(2):
        out = cli("run", str(spec), "--target", "cloud", "--detach", "--set",
                  f"targets.cloud.bucket={cloud_env.bucket}", cwd=tmp_path)
        assert out.code == 0, out.err
    dirs = sorted(job["jobSpec"]["baseOutputDirectory"]["outputUriPrefix"]
                  for job in cloud_env.vertex.jobs.values())
    assert dirs == [f"gs://{cloud_env.bucket}/probe_1/out", f"gs://{cloud_env.bucket}/probe_2/out"]
    claims = sorted(o["name"] for o in cloud_env.gcs.list_object_metadata(cloud_env.bucket)
                    if o["name"].endswith("claim.json"))
    assert claims == ["probe_1/.jobspec/claim.json", "probe_2/.jobspec/claim.json"]
