"""Dependencies images: `jobspec build` (and `run`'s build step) against the Artifact Registry and
Cloud Build stand-ins and the GCS emulator, through the real google-api-python-client and
google-cloud-storage. Nothing runs docker: the Cloud Build stand-in reads the staged context,
checks its Dockerfile and writes a log the way Cloud Build does."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from jobspec.imagebuild import plan_build

REQUIREMENTS = ["numpy==1.26.4", "pandas>=2"]


def _project(tmp_path: Path, *, requirements: list[str] = REQUIREMENTS,
             build: str = "{base: 'python:3.11-slim', system_packages: [libgomp1]}",
             task: str = "print('hello')\n") -> Path:
    """A tiny repo: trainer/task.py and job.yaml whose cloud target builds its image."""
    (tmp_path / ".git").mkdir(exist_ok=True)
    package = tmp_path / "trainer"
    package.mkdir(exist_ok=True)
    (package / "__init__.py").write_text("")
    (package / "task.py").write_text(task)
    spec = tmp_path / "job.yaml"
    spec.write_text(
        "version: 1\nname: probe_job\n"
        f"trainer: {{package_path: trainer, module: trainer.task, requirements: "
        f"{json.dumps(requirements)}}}\n"
        f"targets:\n  cloud:\n    bucket: placeholder-bucket\n    project: test\n"
        f"    build: {build}\n")
    return spec


def _image(requirements: list[str] = REQUIREMENTS, repository: str = "jobspec") -> Any:
    return plan_build(base="python:3.11-slim", requirements=requirements,
                      system_packages=["libgomp1"], repository=repository, project="test",
                      region="us-central1", job_name="trainer")


def _build(cli, spec: Path, bucket: str, *more: str):
    return cli("build", str(spec), "--target", "cloud", "--set",
               f"targets.cloud.bucket={bucket}", *more)


def _documents(text: str) -> list[Any]:
    """JSON lines followed by one JSON document, as `--json` prints them."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text.rstrip()):
        while text[at].isspace():
            at += 1
        value, at = decoder.raw_decode(text, at)
        found.append(value)
    return found


def test_an_image_whose_tag_exists_is_not_built(cli, build_env, tmp_path: Path) -> None:
    image = _image()
    build_env.registry.add_image(image.image)
    out = _build(cli, _project(tmp_path), build_env.bucket)
    assert out.code == 0, out.err
    assert out.out == image.image + "\n"
    assert f"image {image.image} exists: not building it" in out.err
    assert build_env.builds.requests == []  # no Cloud Build call at all
    assert build_env.cloud.gcs.list_objects(build_env.bucket) == []  # nothing staged
    (lookup,) = build_env.registry.requests
    assert lookup.path == (f"/v1/projects/test/locations/us-central1/repositories/jobspec/"
                           f"packages/trainer/tags/{image.tag}") and lookup.outcome == 200


def test_a_missing_image_is_built_its_log_followed_then_reused(cli, build_env,
                                                               tmp_path: Path) -> None:
    image = _image()
    spec = _project(tmp_path)
    out = _build(cli, spec, build_env.bucket)
    assert out.code == 0, out.err
    lines = out.out.splitlines()
    assert lines[-1] == image.image
    assert lines[0].startswith('build | starting build "')
    # the stand-in writes "Step 1/4 : " and the rest of that line in two writes: one line here
    assert "build | Step 1/4 : FROM python:3.11-slim" in lines
    assert "build | Collecting numpy==1.26.4" in lines
    assert "build | Setting up libgomp1 ..." in lines
    assert f"build | Successfully tagged {image.image}" in lines
    assert lines[-2] == "build | DONE"
    (build_id, build), = build_env.builds.builds.items()
    assert f"building {image.image} with Cloud Build (build {build_id}): https://console." \
           f"cloud.google.com/cloud-build/builds;region=us-central1/{build_id}" in out.err
    assert "image build " + build_id + ": SUCCESS" in out.err
    # what was printed is the log Cloud Build wrote, in full and in order
    log = build_env.builds.log_of(build_id).splitlines()
    assert [line.removeprefix("build | ") for line in lines[:-1]] == log
    assert build["status"] == "SUCCESS" and build_env.registry.has_image(image.image)

    # the request, as sent, passed the stand-in's strict reading of the discovery document
    (create,) = [r for r in build_env.builds.requests if r.path.endswith("/builds")]
    assert create.outcome == 200
    source = create.body["source"]["storageSource"]
    staged = f"jobspec-staging/builds/{image.tag}.tar.gz"
    assert source["bucket"] == build_env.bucket and source["object"] == staged
    assert source["generation"] == str(
        build_env.cloud.gcs.object_metadata(build_env.bucket, staged)["generation"])
    assert create.body["steps"] == [{"name": "gcr.io/cloud-builders/docker", "args": [
        "build", "--network", "cloudbuild", "--no-cache", "-t", image.image, "."]}]
    assert create.body["images"] == [image.image]
    assert create.body["logsBucket"] == f"gs://{build_env.bucket}/jobspec-staging/builds/logs"
    # the staged context is exactly the planned files: the Dockerfile and requirements.txt
    data = build_env.cloud.gcs.read_object(build_env.bucket, staged)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        files = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}
    assert files == dict(image.files)
    assert files["requirements.txt"] == "numpy==1.26.4\npandas>=2\n"

    again = _build(cli, spec, build_env.bucket)
    assert again.code == 0, again.err
    assert again.out == image.image + "\n"
    assert "exists: not building it" in again.err
    assert len(build_env.builds.builds) == 1


def test_build_json_gives_the_log_lines_then_the_outcome(cli, build_env, tmp_path: Path) -> None:
    image = _image()
    out = _build(cli, _project(tmp_path), build_env.bucket, "--json")
    assert out.code == 0, out.err
    *lines, result = _documents(out.out)
    assert lines[-1] == {"task": "build", "text": "DONE"}
    assert all(set(line) == {"task", "text"} for line in lines)
    (build_id,) = build_env.builds.builds
    assert result == {
        "image": image.image, "built": True, "tag": image.tag,
        "repository": "projects/test/locations/us-central1/repositories/jobspec",
        "build": f"projects/{build_env.builds.builds[build_id]['name'].split('/')[1]}"
                 f"/locations/us-central1/builds/{build_id}",
        "log_url": build_env.builds.builds[build_id]["logUrl"]}
    for line in out.err.splitlines():  # messages are JSON lines too
        assert json.loads(line)["level"] == "info"

    again = _build(cli, _project(tmp_path), build_env.bucket, "--json")
    assert again.code == 0
    assert json.loads(again.out) == {"image": image.image, "built": False, "tag": image.tag,
                                     "repository": result["repository"], "build": None,
                                     "log_url": None}


def test_a_failed_build_is_exit_4_with_its_last_log_lines(cli, build_env,
                                                          tmp_path: Path) -> None:
    build_env.builds.fail_requirements = {"no-such-dist"}
    requirements = ["numpy==1.26.4", "no-such-dist==1.0"]
    out = _build(cli, _project(tmp_path, requirements=requirements), build_env.bucket)
    assert out.code == 4, out.err
    (build_id, build), = build_env.builds.builds.items()
    assert build["status"] == "FAILURE"
    assert f"the image build {build_id} ended FAILURE: build step 0 " \
           '"gcr.io/cloud-builders/docker" failed: step exited with non-zero status: 1' in out.err
    tail = out.err.split("last lines of its log:\n", 1)[1]
    assert "  ERROR: No matching distribution found for no-such-dist==1.0" in tail
    assert tail.splitlines()[-2] == ("  ERROR: build step 0 \"gcr.io/cloud-builders/docker\" "
                                     "failed: step exited with non-zero status: 1")
    assert f"hint: the whole log: {build['logUrl']}" in out.err
    assert "build | ERROR: No matching distribution found for no-such-dist==1.0" in out.out
    assert "Traceback" not in out.err
    assert not build_env.registry.has_image(_image(requirements).image)


def test_a_missing_repository_says_how_to_create_it(cli, build_env, tmp_path: Path) -> None:
    spec = _project(tmp_path, build="{base: 'python:3.11-slim', system_packages: [libgomp1], "
                                    "repository: trainers}")
    out = _build(cli, spec, build_env.bucket)
    assert out.code == 4, out.err
    assert ("the Artifact Registry repository 'trainers' does not exist in project test, "
            "location us-central1") in out.err
    assert ("`gcloud artifacts repositories create trainers --repository-format=docker "
            "--location=us-central1 --project=test`") in out.err
    assert build_env.builds.requests == []
    assert build_env.cloud.gcs.list_objects(build_env.bucket) == []


def test_a_code_change_keeps_the_tag_a_requirement_change_does_not(cli, build_env,
                                                                   tmp_path: Path) -> None:
    spec = _project(tmp_path)
    assert _documents(_build(cli, spec, build_env.bucket, "--json").out)[-1]["built"] is True
    first = json.loads(_build(cli, spec, build_env.bucket, "--json").out)
    assert first["built"] is False
    (tmp_path / "trainer" / "task.py").write_text("print('a new model')\n")
    (tmp_path / "trainer" / "extra.py").write_text("X = 1\n")
    changed = json.loads(_build(cli, spec, build_env.bucket, "--json").out)
    assert changed["image"] == first["image"] and changed["built"] is False
    assert len(build_env.builds.builds) == 1
    spec = _project(tmp_path, requirements=[*REQUIREMENTS, "scipy"])
    other = _documents(_build(cli, spec, build_env.bucket, "--json").out)[-1]
    assert other["built"] is True and other["tag"] != first["tag"]
    assert other["image"].rsplit(":", 1)[0] == first["image"].rsplit(":", 1)[0]


def test_the_build_context_never_holds_the_trainer(tmp_path: Path) -> None:
    """The tag hashes the build context only: the Dockerfile and the requirements."""
    image = _image()
    assert [name for name, _ in image.files] == ["Dockerfile", "requirements.txt"]
    assert "trainer" not in image.dockerfile and "COPY requirements.txt" in image.dockerfile
    from jobspec.cloud.build import context_archive

    assert context_archive(image).data == context_archive(_image()).data


def test_the_stand_in_refuses_what_the_discovery_document_does_not_allow(build_env) -> None:
    """The strict checker is not vacuous: an unknown field, a wrong enum, no steps are 400."""
    from googleapiclient.errors import HttpError

    from jobspec import gcp

    with gcp.connect("test", build_env.cloud.vertex.url, build=True) as clients:
        builds = clients.cloudbuild.projects().locations().builds()
        parent = "projects/test/locations/us-central1"
        source = {"storageSource": {"bucket": build_env.bucket, "object": "x.tar.gz"}}
        step = {"name": "gcr.io/cloud-builders/docker", "args": ["build", "."]}
        for body, words in (
                ({"source": source, "steps": [step], "logsBucket": "gs://b", "imagez": []},
                 'Unknown name "imagez"'),
                ({"source": source, "steps": [step], "logsBucket": "gs://b",
                  "options": {"logging": "GCS"}}, "'build.options.logging' (TYPE_ENUM)"),
                ({"source": source, "steps": [], "logsBucket": "gs://b"}, "no build steps")):
            with pytest.raises(HttpError) as caught:
                builds.create(parent=parent, body=body).execute()
            error = json.loads(caught.value.content)["error"]
            assert error["code"] == 400 and words in error["message"], error
    assert build_env.builds.builds == {}


def test_a_service_error_is_exit_4_without_a_traceback(cli, build_env, tmp_path: Path) -> None:
    build_env.builds.faults.add("POST", r"/builds$", status=503, times=None)
    out = _build(cli, _project(tmp_path), build_env.bucket)
    assert out.code == 4, out.err
    assert "cannot start the image build in projects/test/locations/us-central1: " \
           "UNAVAILABLE: injected fault: HTTP 503" in out.err
    assert "Traceback" not in out.err
    build_env.registry.faults.add("GET", r"/tags/", status=500, times=None)
    out = _build(cli, _project(tmp_path), build_env.bucket)
    assert out.code == 4 and "cannot look up " in out.err and "in Artifact Registry: " \
        "INTERNAL: injected fault: HTTP 500" in out.err
    assert "Traceback" not in out.err


def test_interrupting_a_build_cancels_it(build_env, tmp_path: Path) -> None:
    build_env.builds.line_delay = 0.2  # a slow build, to interrupt in the middle
    spec = _project(tmp_path)
    proc = subprocess.Popen([sys.executable, "-m", "jobspec", "build", str(spec), "--target",
                             "cloud", "--set", f"targets.cloud.bucket={build_env.bucket}"],
                            env={**os.environ, **build_env.cloud.env}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if "FETCHSOURCE" in line:  # its log is being followed
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    (build_id, build), = build_env.builds.builds.items()
    assert build["status"] == "CANCELLED"
    assert f"interrupted: cancelled the image build {build_id}" in err
    time.sleep(0.3)
    assert not build_env.registry.has_image(_image().image)


def test_run_builds_the_plans_image_before_it_submits(build_env) -> None:
    """What `run` calls when its plan has a build: the staging folder is the plan's."""
    from jobspec.cloud.build import ensure_plan_image

    image = _image()
    plan = SimpleNamespace(build=image, bucket=build_env.bucket, project="test",
                           region="us-central1", context=None,
                           staging_uri=f"gs://{build_env.bucket}/stage/here/packages/abc/t.tar.gz")
    assert ensure_plan_image(plan) == image.image
    assert build_env.registry.has_image(image.image)
    assert build_env.cloud.gcs.object_exists(build_env.bucket,
                                             f"stage/here/builds/{image.tag}.tar.gz")


def _plain_spec(tmp_path: Path) -> Path:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text().replace(
        "    build: {base: 'python:3.11-slim', system_packages: [libgomp1]}\n",
        "    executor_image: us-docker.pkg.dev/vertex-ai/training/tf-cpu.2-17.py310:latest\n"
        "    allow_unavailable_image: true\n"))
    return spec


def _run(cli, spec: Path, bucket: str, *more: str):
    return cli("run", str(spec), "--target", "cloud", "--set", f"targets.cloud.bucket={bucket}",
               *more)


def test_run_builds_the_image_then_the_job_runs_on_it(cli, build_env, tmp_path: Path) -> None:
    spec = _project(tmp_path, requirements=[], task="print('hello from the built image')\n")
    out = _run(cli, spec, build_env.bucket)
    assert out.code == 0, out.err
    image = plan_build(base="python:3.11-slim", requirements=[], system_packages=["libgomp1"],
                       repository="jobspec", project="test", region="us-central1",
                       job_name="trainer")
    assert build_env.registry.has_image(image.image)
    (job,) = build_env.cloud.vertex.jobs.values()
    (pool,) = job["jobSpec"]["workerPoolSpecs"]
    assert pool["containerSpec"]["imageUri"] == image.image
    assert job["state"] == "JOB_STATE_SUCCEEDED"
    assert "hello from the built image" in out.out
    assert out.err.index("built and pushed") < out.err.index("submitted probe_job")
    again = _run(cli, spec, build_env.bucket, "--name", "probe_job_2", "--detach")
    assert again.code == 0, again.err
    assert f"image {image.image} exists: not building it" in again.err
    assert len(build_env.builds.builds) == 1


def test_a_job_on_an_image_nobody_built_fails_as_on_vertex(cli, build_env,
                                                           tmp_path: Path) -> None:
    spec = _project(tmp_path, requirements=[])
    spec.write_text(spec.read_text().replace(
        "build: {base: 'python:3.11-slim', system_packages: [libgomp1]}",
        "image: us-central1-docker.pkg.dev/test/jobspec/never-built:v1"))
    out = _run(cli, spec, build_env.bucket)
    assert out.code == 1, out.err
    (job,) = build_env.cloud.vertex.jobs.values()
    assert job["state"] == "JOB_STATE_FAILED"


def test_run_with_a_failed_build_submits_nothing_and_claims_no_name(cli, build_env,
                                                                    tmp_path: Path) -> None:
    build_env.builds.fail_packages = {"libgomp1"}
    out = _run(cli, _project(tmp_path), build_env.bucket)
    assert out.code == 4, out.err
    assert "E: Unable to locate package libgomp1" in out.err
    assert "Traceback" not in out.err
    assert build_env.cloud.vertex.jobs == {}
    assert build_env.cloud.gcs.list_objects(build_env.bucket, "probe_job/") == []


def test_the_log_is_read_as_it_grows_from_where_the_last_read_ended(cli, build_env, gcs_proxy,
                                                                   tmp_path: Path) -> None:
    build_env.builds.line_delay = 0.03
    out = _build(cli, _project(tmp_path), build_env.bucket)
    assert out.code == 0, out.err
    reads = [r for r in gcs_proxy.requests_for(r"/log-[0-9a-f-]+\.txt$") if r.method == "GET"]
    starts = [int(r.headers["range"].removeprefix("bytes=").split("-")[0]) for r in reads]
    got = [r.outcome for r in reads]
    assert got.count(206) + got.count(200) >= 3, got  # several reads brought new lines
    assert starts == sorted(starts) and starts[-1] > 0
    (build_id,) = build_env.builds.builds
    assert starts[-1] == len(build_env.builds.log_of(build_id).encode())  # the last: nothing new


def test_build_is_a_command_and_refuses_a_target_without_a_build(cli, tmp_path: Path) -> None:
    listed = cli("--help")
    assert listed.code == 0 and "  build " in listed.out
    out = cli("build", str(_plain_spec(tmp_path)), "--target", "cloud")
    assert out.code == 2
    assert out.err.startswith(f"{tmp_path / 'job.yaml'}:")
    assert "target 'cloud' has no `build:` block: there is no image to build" in out.err


def test_malformed_answers_are_exit_4_without_a_traceback(cli, build_env,
                                                          tmp_path: Path) -> None:
    spec = _project(tmp_path)
    build_env.registry.faults.add("GET", r"/tags/", answer=b"<html>", times=1)
    out = _build(cli, spec, build_env.bucket)
    assert out.code == 4 and "in Artifact Registry: the answer is " in out.err, out.err
    build_env.builds.faults.add("GET", r"/builds/[^/]+$", answer=b'{"id": "x"}', times=None)
    out = _build(cli, spec, build_env.bucket)
    assert out.code == 4, out.err
    assert "cannot read the state of the image build" in out.err
    assert "the answer for build x has no known status" in out.err
    (build_id,) = build_env.builds.builds
    assert f"hint: the image build {build_id} goes on: https://console." in out.err
    assert "Traceback" not in out.err


def test_a_matrix_group_builds_its_image_once_then_submits_every_member(cli, build_env,
                                                                        tmp_path: Path) -> None:
    spec = _project(tmp_path)
    spec.write_text(spec.read_text() + "matrix:\n  lr: [0.1, 0.01]\nargs: ['--lr=${matrix.lr}']\n")
    out = _run(cli, spec, build_env.bucket, "--detach")
    assert out.code == 0, out.err
    image = _image()
    assert len(build_env.builds.builds) == 1 and build_env.registry.has_image(image.image)
    jobs = build_env.cloud.vertex.jobs.values()
    assert len(jobs) == 2
    assert {j["jobSpec"]["workerPoolSpecs"][0]["containerSpec"]["imageUri"] for j in jobs} == {
        image.image}
