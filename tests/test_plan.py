"""The planner and `jobspec plan`: complete plans, request bodies the real API accepts, no I/O."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import googleapiclient
import pytest

from tests.conftest import REPO

DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"


def _check(value: Any, prop: dict[str, Any], schemas: dict[str, Any], where: str,
           problems: list[str]) -> None:
    """Strict discovery-schema check: every field known, every type right (proto3 JSON)."""
    if "$ref" in prop:
        schema = schemas[prop["$ref"]]
        if not isinstance(value, dict):
            problems.append(f"{where}: expected an object for {prop['$ref']}")
            return
        for key, item in value.items():
            if key not in schema.get("properties", {}):
                problems.append(f"{where}.{key}: not a field of {prop['$ref']}")
            else:
                _check(item, schema["properties"][key], schemas, f"{where}.{key}", problems)
        return
    kind = prop.get("type")
    if kind == "array":
        if not isinstance(value, list):
            problems.append(f"{where}: expected an array")
            return
        for i, item in enumerate(value):
            _check(item, prop["items"], schemas, f"{where}[{i}]", problems)
    elif kind == "object":
        if not isinstance(value, dict):
            problems.append(f"{where}: expected a map")
            return
        for key, item in value.items():
            _check(item, prop["additionalProperties"], schemas, f"{where}.{key}", problems)
    elif kind == "string":
        ok = isinstance(value, str)
        if ok and prop.get("format") == "int64":
            ok = value.lstrip("-").isdigit()
        if ok and "enum" in prop:
            ok = value in prop["enum"]
        if not ok:
            problems.append(f"{where}: {value!r} is not a valid {prop.get('format', 'string')}")
    elif kind == "integer":
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{where}: expected an integer, got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{where}: expected a boolean")
    elif kind == "number" and not isinstance(value, (int, float)):
        problems.append(f"{where}: expected a number")


def discovery_problems(body: dict[str, Any]) -> list[str]:
    doc = json.loads((DISCOVERY / "aiplatform.v1.json").read_text())
    problems: list[str] = []
    _check(body, {"$ref": "GoogleCloudAiplatformV1CustomJob"}, doc["schemas"], "body", problems)
    return problems


def test_validator_catches_unknown_fields_and_wrong_types() -> None:
    bad = {"displayName": "x", "jobSpec": {"workerPoolSpecs": [
        {"replicaCount": "one", "machineSpec": {"machineType": 4, "gpu": 1}}]}, "bogus": 1}
    assert discovery_problems(bad) == [
        "body.jobSpec.workerPoolSpecs[0].replicaCount: 'one' is not a valid int64",
        "body.jobSpec.workerPoolSpecs[0].machineSpec.machineType: 4 is not a valid string",
        "body.jobSpec.workerPoolSpecs[0].machineSpec.gpu: not a field of "
        "GoogleCloudAiplatformV1MachineSpec",
        "body.bogus: not a field of GoogleCloudAiplatformV1CustomJob",
    ]


def _spec(tmp_path: Path, cloud: str) -> Path:
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text("print('hi')\n")
    path = tmp_path / "job.yaml"
    path.write_text(
        "version: 1\nname: probe\ntrainer: {package_path: trainer, module: trainer.task}\n"
        "args: [--a=1]\nenv: {MODE: test, API_TOKEN: s3cr3t-value}\n"
        "targets:\n  local: {}\n  cloud:\n" + cloud)
    return path


CLOUD_FULL = """\
    bucket: my-bucket
    project: proj
    region: europe-west4
    executor_image: europe-docker.pkg.dev/vertex-ai/training/ray-cpu.2-47.py311:latest
    scale_tier: CUSTOM
    chief: {machine_type: complex_model_m}
    workers: {machine_type: n1-standard-8, count: 3, accelerator: {type: NVIDIA_TESLA_T4}}
    evaluators: {machine_type: standard, count: 1}
    labels: {team: ml}
    service_account: trainer@proj.iam.gserviceaccount.com
    network: projects/123/global/networks/default
    max_running_time: 2h
    args: [--b=2]
"""


def test_cloud_plan_body_is_valid_for_the_discovery_schema(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, CLOUD_FULL)
    out = cli("plan", str(spec), "--target", "cloud", "--json", "--", "--c", "3 4")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    body = plan["request"]
    assert discovery_problems(body) == []
    pools = body["jobSpec"]["workerPoolSpecs"]
    # chief, workers, (no ps: an empty spec keeps the positions), evaluators
    assert [p.get("machineSpec", {}).get("machineType") for p in pools] == [
        "n1-highcpu-16", "n1-standard-8", None, "n1-standard-4"]
    assert pools[2] == {}
    assert pools[1]["replicaCount"] == "3"
    assert pools[1]["machineSpec"]["acceleratorType"] == "NVIDIA_TESLA_T4"
    python = pools[0]["pythonPackageSpec"]
    assert python["args"] == ["--a=1", "--b=2", "--c", "3 4", "--job-dir", "gs://my-bucket/probe"]
    assert python["pythonModule"] == "trainer.task"
    assert python["packageUris"] == [plan["staging_uri"]]
    assert plan["staging_uri"].startswith("gs://my-bucket/jobspec-staging/packages/")
    assert plan["staging_uri"].endswith(f"/{plan['package']['sha256']}/trainer-0.0.0.tar.gz")
    assert {"name": "API_TOKEN", "value": "****"} in python["env"]  # masked in the plan
    assert body["jobSpec"]["scheduling"] == {"timeout": "7200s"}
    assert body["jobSpec"]["baseOutputDirectory"] == {"outputUriPrefix": "gs://my-bucket/probe"}
    assert body["labels"]["team"] == "ml" and body["labels"]["jobspec-name"] == "probe"
    assert len(body["labels"]["jobspec-submission"]) == 16
    assert plan["endpoint"] == "https://europe-west4-aiplatform.googleapis.com/"
    assert plan["parent"] == "projects/proj/locations/europe-west4"
    assert plan["gcloud"][:4] == ["gcloud", "ai", "custom-jobs", "create"]
    assert "--region=europe-west4" in plan["gcloud"]


def test_example_cloud_plans_are_valid_and_run_on_images_that_exist(cli) -> None:
    images = {"cloud": "python:3.11-slim", "cloud-gpu": "tensorflow/tensorflow:2.20.0-gpu"}
    for target, image in images.items():
        out = cli("plan", str(REPO / "specs/census.yaml"), "--target", target, "--json")
        assert out.code == 0, out.err
        plan = json.loads(out.out)
        assert discovery_problems(plan["request"]) == []
        assert not any("availability" in w for w in plan["warnings"]), plan["warnings"]
        assert (plan["mode"], plan["image"]) == ("container", image)
        container = plan["request"]["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]
        assert container["imageUri"] == image
        assert container["command"][-1] == "jobspec"
        assert plan["staged_path"] in container["command"][2]
    gpu = json.loads(cli("plan", str(REPO / "specs/census.yaml"), "--target", "cloud-gpu",
                         "--json").out)
    spec = gpu["request"]["jobSpec"]["workerPoolSpecs"][0]["machineSpec"]
    assert spec == {"machineType": "n1-standard-8", "acceleratorType": "NVIDIA_TESLA_T4",
                    "acceleratorCount": 1}


def test_standard_tier_shapes_are_printed(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    bucket: my-bucket\n    executor_image: img:latest\n"
                           "    scale_tier: STANDARD_1\n")
    out = cli("plan", str(spec), "--target", "cloud", "--set", "targets.cloud.project=p")
    assert out.code == 0, out.err
    assert "pool        chief: 1 x n1-highcpu-8" in out.out
    assert "pool        worker: 4 x n1-highcpu-8" in out.out
    assert "pool        ps: 3 x n1-standard-4" in out.out


def test_legacy_runtime_is_an_error_at_its_line(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    bucket: my-bucket\n    project: p\n    runtime_version: '1.2'\n")
    out = cli("plan", str(spec), "--target", "cloud")
    assert out.code == 2
    first = out.err.splitlines()[0]
    assert first.startswith(f"{spec}:11:22: targets.cloud.runtime_version: ")
    assert "shut down on 2025-01-31" in out.err
    assert "Use instead `image: tensorflow/tensorflow:2.17.0`" in out.err
    assert "Traceback" not in out.err


def test_local_plan_text_and_json(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    bucket: b-bucket\n    executor_image: img\n")
    out = cli("plan", str(spec), "--target", "local", "--json", "--", "--x", "a b")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    (proc,) = plan["processes"]
    assert proc["argv"][1:] == ["-m", "trainer.task", "--a=1", "--x", "a b"]
    assert proc["cwd"] == str(tmp_path)
    assert proc["env"]["API_TOKEN"] == "****" and proc["env"]["MODE"] == "test"
    config = json.loads(proc["env"]["TF_CONFIG"])
    assert config == {"job": {"job_name": "trainer.task", "args": ["--a=1", "--x", "a b"]},
                      "task": {}, "cluster": {}, "environment": "cloud"}
    text = cli("plan", str(spec), "--target", "local", "--", "--x", "a b").out
    assert "argv" in text and "'a b'" in text and "API_TOKEN=****" in text
    assert "s3cr3t-value" not in text


def test_overrides_and_trainer_args_never_mix(cli, tmp_path: Path) -> None:
    spec = _spec(tmp_path, "    bucket: my-bucket\n    project: p\n    executor_image: img\n")
    out = cli("plan", str(spec), "--target", "cloud", "--json", "--name", "other_name",
              "--set", "targets.cloud.region=europe-west1", "--", "--target", "x", "--set", "y")
    assert out.code == 0, out.err
    plan = json.loads(out.out)
    assert plan["region"] == "europe-west1" and plan["name"] == "other_name"
    args = plan["request"]["jobSpec"]["workerPoolSpecs"][0]["pythonPackageSpec"]["args"]
    assert args == ["--a=1", "--target", "x", "--set", "y", "--job-dir",
                    "gs://my-bucket/other_name"]


def test_schema_file_is_current(cli) -> None:
    out = cli("schema")
    assert out.code == 0
    assert json.loads(out.out) == json.loads((REPO / "jobspec.schema.json").read_text()), (
        "jobspec.schema.json is stale: run `jobspec schema > jobspec.schema.json`")


def test_every_schema_property_has_a_description(cli) -> None:
    schema = json.loads(cli("schema").out)
    missing = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, prop in node.get("properties", {}).items():
                if "description" not in prop:
                    missing.append(f"{path}.{key}")
            for key, item in node.items():
                walk(item, f"{path}/{key}")
        elif isinstance(node, list):
            for item in node:
                walk(item, path)

    walk(schema, "")
    assert missing == []


def test_example_specs_start_with_the_schema_comment() -> None:
    for spec in sorted((REPO / "specs").glob("*.yaml")):
        first = spec.read_text().splitlines()[0]
        assert first == "# yaml-language-server: $schema=../jobspec.schema.json", spec


@pytest.mark.parametrize("args", [
    ["validate", "specs/census.yaml"],
    ["plan", "specs/census.yaml", "--target", "local"],
    ["plan", "specs/census.yaml", "--target", "cloud", "--json"],
])
def test_startup_imports_nothing_from_google(args: list[str]) -> None:
    probe = ("import sys, io, contextlib\nfrom jobspec.cli import main\n"
             "with contextlib.redirect_stdout(io.StringIO()):\n"
             "    try:\n        main(sys.argv[1:])\n    except SystemExit as e:\n"
             "        code = e.code\n"
             "print(code, sorted(m for m in sys.modules if m == 'google' or "
             "m.startswith(('google.', 'googleapiclient'))))\n")
    done = subprocess.run([sys.executable, "-c", probe, *args], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.strip() == "0 []", done.stderr


def test_version_and_help(cli) -> None:
    from jobspec import __version__

    assert cli("--version").out.strip() == f"jobspec, version {__version__}"
    helptext = cli("--help").out
    for command in ("validate", "plan", "run", "status", "logs", "cancel", "list", "schema",
                    "runtimes"):
        assert command in helptext
        sub = cli(command, "--help")
        assert sub.code == 0 and "Usage: jobspec" in sub.out and len(sub.out) > 80
