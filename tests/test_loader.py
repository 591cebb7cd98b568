"""What the spec language does when the spec is right: interpolation, extends, overrides,
YAML features within limits, default spec discovery, the fingerprint."""

from __future__ import annotations

import glob
from pathlib import Path
from textwrap import dedent

import pytest

from jobspec.diagnostics import SpecError
from jobspec.loader import load
from jobspec.yamlread import MAX_ALIASES

REPO = Path(__file__).resolve().parent.parent

HEAD = """\
version: 1
name: census
trainer:
  package_path: trainer
  module: trainer.task
"""


def write(folder: Path, body: str, name: str = "spec.yaml", head: str = HEAD) -> Path:
    """``head`` + the dedented ``body`` as a spec in ``folder``, next to a trainer package."""
    (folder / "trainer").mkdir(parents=True, exist_ok=True)
    (folder / "trainer" / "__init__.py").write_text("")
    (folder / "trainer" / "task.py").write_text("")
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(head + dedent(body))
    return path


def messages(exc: SpecError) -> list[str]:
    return [f"{p.loc.line}:{p.loc.col}: {p.path}: {p.message}" for p in exc.problems]


# ---------------------------------------------------------------------------------------------
# Interpolation


def test_builtins(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        args: ["--out=gs://${bucket}/${name}/${target}", "--where=${project}/${region}"]
        targets:
          cloud:
            project: proj-1
            bucket: ${name}-data
            region: europe-west4
            runtime_version: "2.11"
            job_dir: gs://${bucket}/${name}
        """)
    loaded = load(spec, target="cloud", env={})
    assert loaded.spec.args == ["--out=gs://census-data/census/cloud",
                                "--where=proj-1/europe-west4"]
    assert loaded.spec.targets["cloud"].bucket == "census-data"
    assert loaded.spec.targets["cloud"].job_dir == "gs://census-data/census"


@pytest.mark.parametrize(("env", "project"), [
    ({"GOOGLE_CLOUD_PROJECT": "from-gcp", "CLOUDSDK_CORE_PROJECT": "from-sdk"}, "from-gcp"),
    ({"CLOUDSDK_CORE_PROJECT": "from-sdk"}, "from-sdk"),
    ({"GOOGLE_CLOUD_PROJECT": "", "CLOUDSDK_CORE_PROJECT": "from-sdk"}, "from-sdk"),
])
def test_project_falls_back_to_the_environment(tmp_path: Path, env: dict[str, str],
                                               project: str) -> None:
    spec = write(tmp_path, """\
        targets:
          cloud:
            bucket: b-${project}
            runtime_version: "2.11"
        """)
    assert load(spec, target="cloud", env=env).spec.targets["cloud"].bucket == f"b-{project}"


def test_project_in_the_spec_wins_and_none_is_an_error(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        targets:
          cloud:
            project: mine
            bucket: b-${project}
            runtime_version: "2.11"
          other:
            kind: cloud
            bucket: b-${project}
            runtime_version: "2.11"
        """)
    env = {"GOOGLE_CLOUD_PROJECT": "theirs"}
    assert load(spec, target="cloud", env=env).spec.targets["cloud"].bucket == "b-mine"
    with pytest.raises(SpecError) as caught:
        load(spec, target="other", env={})
    assert messages(caught.value) == [
        "13:13: targets.other.bucket: '${project}' is not set: target 'other' has no project, "
        "and neither GOOGLE_CLOUD_PROJECT nor CLOUDSDK_CORE_PROJECT nor the gcloud "
        "configuration names one"]


def test_environment_variables_defaults_and_escapes(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        args:
          - --set=${SET_VAR}
          - --unset=${UNSET_VAR:-fallback}
          - --set-with-default=${SET_VAR:-fallback}
          - --empty=${EMPTY_VAR}
          - --empty-with-default=${EMPTY_VAR:-fallback}
          - --default-with-colon=${UNSET_VAR:-a:b}
          - --price=$$5 and ${SET_VAR}$$
          - --literal=$${SET_VAR}
          - --lone=$5
        targets:
          local: {}
        """)
    loaded = load(spec, target="local", env={"SET_VAR": "value", "EMPTY_VAR": ""})
    assert loaded.spec.args == [
        "--set=value",
        "--unset=fallback",
        "--set-with-default=value",
        "--empty=",  # set but empty: the empty string, as in a shell
        "--empty-with-default=fallback",  # `:-` also replaces an empty value
        "--default-with-colon=a:b",
        "--price=$5 and value$",
        "--literal=${SET_VAR}",
        "--lone=$5",
    ]


def test_interpolation_never_runs_anything(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    spec = write(tmp_path, f"""\
        args: ["$(touch {marker})", "`touch {marker}`", "${{X:-$(touch {marker})}}"]
        targets:
          local: {{}}
        """)
    loaded = load(spec, target="local", env={})
    assert loaded.spec.args == [f"$(touch {marker})", f"`touch {marker}`",
                                f"$(touch {marker})"]
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------
# extends


EXTENDS = """\
    targets:
      cloud:
        bucket: my-bucket
        runtime_version: "2.11"
        job_dir: gs://${bucket}/${name}/${target}
        labels: {team: ml, cost: low}
        args: [--a, --b]
        env: {MODE: full}
        chief: null
      gpu:
        extends: cloud
        scale_tier: BASIC_GPU
        labels: {cost: high, gpu: t4}
        args: [--c]
      gpu-eu:
        extends: gpu
        region: europe-west4
    """


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    spec = write(tmp_path, EXTENDS)
    gpu = load(spec, target="gpu", env={}).spec.targets["gpu"]
    assert gpu.kind == "cloud"  # inherited, not written
    assert gpu.scale_tier == "BASIC_GPU"
    assert gpu.labels == {"team": "ml", "cost": "high", "gpu": "t4"}
    assert gpu.args == ["--c"]
    assert gpu.env == {"MODE": "full"}
    assert gpu.job_dir == "gs://my-bucket/census/gpu"  # ${target} is the target being loaded


def test_extends_chains(tmp_path: Path) -> None:
    spec = write(tmp_path, EXTENDS)
    loaded = load(spec, target="gpu-eu", env={})
    eu = loaded.spec.targets["gpu-eu"]
    assert (eu.region, eu.scale_tier, eu.args, eu.extends) == (
        "europe-west4", "BASIC_GPU", ["--c"], "gpu")
    assert eu.job_dir == "gs://my-bucket/census/gpu-eu"
    # every target that loads cleanly is kept, each with its own ${target}
    assert sorted(loaded.spec.targets) == ["cloud", "gpu", "gpu-eu"]
    assert loaded.spec.targets["cloud"].job_dir == "gs://my-bucket/census/cloud"


def test_an_inherited_value_is_reported_at_its_own_line(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        targets:
          local:
            job_dir: output/${name}
            env: {MODE: fast}
          remote:
            kind: cloud
            extends: local
            bucket: my-bucket
            runtime_version: "2.11"
        """)
    assert load(spec, target="local", env={}).spec.targets["local"].job_dir == "output/census"
    with pytest.raises(SpecError) as caught:
        load(spec, target="remote", env={})
    assert messages(caught.value) == [
        "8:14: targets.remote.job_dir: a cloud job_dir must be a gs:// path, got 'output/census'"]
    assert "    8 |     job_dir: output/${name}" in str(caught.value)


# ---------------------------------------------------------------------------------------------
# --set and --name


def test_set_reads_typed_values(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        targets:
          local: {}
          cloud:
            bucket: my-bucket
            runtime_version: "2.11"
            job_dir: gs://${bucket}/${name}/${region}
        """)
    loaded = load(spec, target="local", env={}, overrides=[
        "targets.local.distributed.workers=3",  # int, in a mapping that did not exist
        "targets.local.isolated=true",  # bool
        "description=a long run",  # string
        "targets.local.env.RUN_ID=0042",  # env: as written, not 42
        "args=[--x, 2]",
    ])
    local = loaded.spec.targets["local"]
    assert local.distributed is not None and local.distributed.workers == 3
    assert local.isolated is True
    assert loaded.spec.description == "a long run"
    assert local.env == {"RUN_ID": "0042"}
    assert loaded.spec.args == ["--x", "2"]
    cloud = load(spec, target="cloud", env={}, overrides=[
        "targets.cloud.region=europe-west1", "targets.cloud.labels.team=ml"]).spec.targets["cloud"]
    assert (cloud.region, cloud.job_dir, cloud.labels) == (
        "europe-west1", "gs://my-bucket/census/europe-west1", {"team": "ml"})


def test_name_overrides_the_job_name_everywhere(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        targets:
          local:
            job_dir: output/${name}
        """)
    loaded = load(spec, target="local", env={}, name="census_7")
    assert loaded.spec.name == "census_7"
    assert loaded.spec.targets["local"].job_dir == "output/census_7"


# ---------------------------------------------------------------------------------------------
# args and env are text


def test_args_and_env_reach_the_trainer_as_written(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        args: [1000, 0.10, true, on, 010, 0x1F, 1_000, 12:30, -1, .inf, &n 7, *n, "quoted"]
        env: {STEPS: 1000, DEBUG: on, MASK: 0755, RATE: 1.50, FLAG: false}
        targets:
          local:
            args: [yes, 2]
            env: {LEVEL: 3}
        """)
    loaded = load(spec, target="local", env={})
    assert loaded.spec.args == ["1000", "0.10", "true", "on", "010", "0x1F", "1_000", "12:30",
                                "-1", ".inf", "7", "7", "quoted"]
    assert loaded.spec.env == {"STEPS": "1000", "DEBUG": "on", "MASK": "0755", "RATE": "1.50",
                               "FLAG": "false"}
    assert loaded.spec.targets["local"].args == ["yes", "2"]
    assert loaded.spec.targets["local"].env == {"LEVEL": "3"}


def test_other_fields_keep_their_yaml_types(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        targets:
          local:
            isolated: yes
            distributed: {workers: 0x2}
        """)
    local = load(spec, target="local", env={}).spec.targets["local"]
    assert local.isolated is True
    assert local.distributed is not None and local.distributed.workers == 2


# ---------------------------------------------------------------------------------------------
# YAML features, within limits


def test_anchors_aliases_and_merge_keys(tmp_path: Path) -> None:
    spec = write(tmp_path, """\
        args: &args [--a, --b]
        env: &env {MODE: fast, LEVEL: "1"}
        targets:
          local:
            args: *args
            env:
              <<: *env
              LEVEL: "2"
          cloud: &cloud
            bucket: my-bucket
            runtime_version: "2.11"
            labels: &labels {team: ml}
          gpu:
            <<: [*cloud, {labels: {team: other}, region: europe-west4}]
            kind: cloud
            scale_tier: BASIC_GPU
        """)
    loaded = load(spec, target="gpu", env={}, strict_all=True)
    assert loaded.spec.targets["local"].args == ["--a", "--b"]
    assert loaded.spec.targets["local"].env == {"MODE": "fast", "LEVEL": "2"}
    gpu = loaded.spec.targets["gpu"]
    # explicit keys win over merged ones; among merged mappings the first wins
    assert (gpu.bucket, gpu.scale_tier, gpu.labels, gpu.region) == (
        "my-bucket", "BASIC_GPU", {"team": "ml"}, "europe-west4")


def test_aliases_up_to_the_limit(tmp_path: Path) -> None:
    def spec_with(aliases: int) -> Path:
        items = ", ".join(["*a"] * aliases)
        return write(tmp_path, f"""\
            args: [&a --x, {items}]
            targets:
              local: {{}}
            """)

    assert len(load(spec_with(MAX_ALIASES), target="local", env={}).spec.args) == MAX_ALIASES + 1
    with pytest.raises(SpecError) as caught:
        load(spec_with(MAX_ALIASES + 1), target="local", env={})
    assert messages(caught.value) == [
        f"6:{16 + 4 * MAX_ALIASES}: : more than 64 aliases; a job file needs only a few"]


def test_byte_order_mark_is_tolerated(tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    write(tmp_path, "", head="")
    spec.write_bytes(b"\xef\xbb\xbf" + (HEAD + "name: x\ntargets: {local: {}}\n").encode())
    with pytest.raises(SpecError) as caught:
        load(spec, env={})
    # positions count from after the BOM
    assert messages(caught.value) == [
        "6:1: : duplicate key 'name' (first defined at line 2); YAML would keep only one"]
    spec.write_bytes(b"\xef\xbb\xbf" + (HEAD + "targets: {local: {}}\n").encode())
    assert load(spec, env={}).spec.name == "census"


# ---------------------------------------------------------------------------------------------
# Which spec, when none is given


VALID = HEAD + "targets:\n  local: {}\n"


def test_default_spec_from_the_nearest_pyproject(cli, tmp_path: Path) -> None:
    main = VALID.replace("census", "from_pyproject").replace("trainer\n", "../trainer\n")
    write(tmp_path, main, "jobs/main.yaml", head="")
    write(tmp_path, VALID.replace("census", "from_cwd"), "jobspec.yaml", head="")
    (tmp_path / "pyproject.toml").write_text('[tool.jobspec]\ndefault-spec = "jobs/main.yaml"\n')
    below = tmp_path / "src" / "deeper"
    below.mkdir(parents=True)
    for cwd in (tmp_path, below):
        result = cli("plan", "--target", "local", cwd=cwd)
        assert result.code == 0, result.err
        assert result.out.startswith("plan        from_pyproject on target local")
    assert cli("validate", cwd=below).out == "1 spec(s) valid\n"


def test_default_spec_then_jobspec_yaml(cli, tmp_path: Path) -> None:
    write(tmp_path, VALID.replace("census", "from_cwd"), "jobspec.yaml", head="")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n')  # no [tool.jobspec]
    result = cli("plan", "--target", "local", cwd=tmp_path)
    assert result.code == 0, result.err
    assert result.out.startswith("plan        from_cwd on target local")


def test_no_spec_anywhere_is_a_clear_error(cli, tmp_path: Path) -> None:
    result = cli("validate", cwd=tmp_path)
    assert result.code == 2
    assert result.err == (
        "no spec given, and none found: pass SPEC, set [tool.jobspec] default-spec in "
        "pyproject.toml, or create ./jobspec.yaml\n")


# ---------------------------------------------------------------------------------------------
# The fingerprint


FORMATTED = HEAD + dedent("""\
    args: [--a, "--b"]
    env: {MODE: fast}
    targets:
      local: {job_dir: out}
    """)

REFORMATTED = """\
    # the same job, written differently
    name: 'census'      # quotes, comments, order, block vs flow style
    version: 1
    targets:
      local:
        job_dir: "out"
    trainer: {module: trainer.task, package_path: trainer}
    env:
      MODE: fast
    args:
      - --a
      - --b
    """


def test_fingerprint_ignores_formatting(tmp_path: Path) -> None:
    first = load(write(tmp_path / "a", FORMATTED, head=""), target="local", env={})
    second = load(write(tmp_path / "b", REFORMATTED, head=""), target="local", env={})
    assert first.fingerprint == second.fingerprint
    assert len(first.fingerprint) == 64


@pytest.mark.parametrize("change", [("--b", "--c"), ("fast", "slow"), ("out", "out2"),
                                    ("census", "census2")])
def test_fingerprint_changes_with_a_value(tmp_path: Path, change: tuple[str, str]) -> None:
    first = load(write(tmp_path / "a", FORMATTED, head=""), target="local", env={})
    changed = write(tmp_path / "b", FORMATTED.replace(*change), head="")
    assert first.fingerprint != load(changed, target="local", env={}).fingerprint


# ---------------------------------------------------------------------------------------------
# The repository's own examples


def test_the_example_specs_are_valid(cli) -> None:
    specs = sorted(glob.glob("specs/*.yaml", root_dir=REPO))
    assert len(specs) >= 2
    result = cli("validate", *specs, cwd=REPO)
    assert (result.code, result.out, result.err) == (0, f"{len(specs)} spec(s) valid\n", "")
