"""A Cloud Build (cloudbuild v1, regional builds) stand-in over real HTTP. Nothing runs docker.

    builds = CloudBuildStandin(gcs_emulator, registry).start()
    builds.fail_requirements = {"no-such-dist"}      # pip finds no such distribution
    builds.builds -> {id: Build JSON}; builds.requests; builds.faults.add(...); builds.reset()

Routes (alt=json and the other system parameters accepted; anything else 400):
- POST /v1/projects/P/locations/L/builds[?projectId=] -> Operation {name, metadata:
  {@type BuildOperationMetadata, build}}. The body is read as proto3 JSON against the shipped
  discovery document's `Build` (unknown field, wrong type: 400), then: steps non-empty, each
  with a name; source.storageSource bucket and object; logsBucket gs://...; images listed.
- GET  .../builds/ID -> Build; POST .../builds/ID:cancel -> Build (CANCELLED; an ended build
  is 400 FAILED_PRECONDITION).

How a build "runs": QUEUED (`queued_delay`), WORKING, then the steps, writing a log in Cloud
Build's shape (starting build, FETCHSOURCE, BUILD, the docker build's Step k/n lines, PUSH,
DONE, or ERROR and `ERROR: build step 0 ... failed`) to LOGS_BUCKET/log-ID.txt in the GCS
emulator, a few lines at a time (`line_delay` between writes; sometimes half a line), so a
reader has to follow it. The source is fetched from the emulator (its generation checked)
and must be a tar.gz holding a Dockerfile starting with FROM whose COPY sources exist. RUN
`apt-get install` fails for a name in `fail_packages`, `pip install -r FILE` for a requirement
whose name is in `fail_requirements`, with apt's and pip's own messages. The push needs the
image's Artifact Registry repository to exist in the registry stand-in; a pushed image gets its
tag there. `end_status` (e.g. "INTERNAL_ERROR") ends the next builds that way instead.
"""

from __future__ import annotations

import copy
import hashlib
import io
import re
import secrets
import shlex
import tarfile
import threading
import time
import traceback
import uuid
from typing import Any

from ._http import ApiError, invalid_argument
from ._schema import Validator
from ._service import Answer, Route, Service
from .artifactregistry import ArtifactRegistryStandin, parse_image
from .gcs import GcsEmulator, GcsError
from .vertex import project_number, rfc3339

_BUILDS = r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/builds"
_BUILD = _BUILDS + r"/(?P<build>[^/:]+)"
_CLOUDBUILD = Validator("cloudbuild.v1")
ENDED = frozenset({"SUCCESS", "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})
_REQUIREMENT_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class StepFailed(Exception):
    """A build step ended with a non-zero status; its lines are already in the log."""

    def __init__(self, detail: str, failure: str = "USER_BUILD_STEP") -> None:
        super().__init__(detail)
        self.detail = detail
        self.failure = failure


class _Run:
    """One build: its JSON and its log, written to the emulator as it grows."""

    def __init__(self, data: dict[str, Any], bucket: str, obj: str) -> None:
        self.data = data
        self.bucket, self.obj = bucket, obj
        self.log = ""
        self.cancel = threading.Event()
        self.thread: threading.Thread | None = None


class CloudBuildStandin(Service):
    api = "cloudbuild.v1"
    name = "cloud-build"

    def __init__(self, gcs: GcsEmulator, registry: ArtifactRegistryStandin, *,
                 queued_delay: float = 0.05, line_delay: float = 0.01) -> None:
        self.gcs = gcs
        self.registry = registry
        self._defaults = {"queued_delay": queued_delay, "line_delay": line_delay}
        self.queued_delay = queued_delay
        self.line_delay = line_delay
        self.fail_requirements: set[str] = set()
        self.fail_packages: set[str] = set()
        self.end_status: str | None = None
        self._runs: dict[str, _Run] = {}
        super().__init__()

    def routes(self) -> list[Route]:
        return [("POST", re.compile(_BUILDS + "$"), "builds.create", frozenset({"projectId"}),
                 self._create),
                ("GET", re.compile(_BUILD + "$"), "builds.get", frozenset({"id", "projectId"}),
                 self._get),
                ("POST", re.compile(_BUILD + ":cancel$"), "builds.cancel", frozenset(),
                 self._cancel)]

    def reset(self) -> None:
        with self.lock:
            runs = list(self._runs.values())
            self._runs.clear()
        for run in runs:
            run.cancel.set()
        for run in runs:
            if run.thread is not None:
                run.thread.join(timeout=10)
        super().reset()
        self.fail_requirements = set()
        self.fail_packages = set()
        self.end_status = None
        for key, value in self._defaults.items():
            setattr(self, key, value)

    def stop(self) -> None:
        with self.lock:
            runs = list(self._runs.values())
        for run in runs:
            run.cancel.set()
        super().stop()

    # -- what tests look at ------------------------------------------------------------------
    @property
    def builds(self) -> dict[str, dict[str, Any]]:
        with self.lock:
            return {bid: copy.deepcopy(run.data) for bid, run in self._runs.items()}

    def log_of(self, build_id: str) -> str:
        with self.lock:
            return self._runs[build_id].log

    def wait(self, build_id: str, timeout: float = 30.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                data = copy.deepcopy(self._runs[build_id].data)
            if data["status"] in ENDED:
                return data
            time.sleep(0.02)
        raise TimeoutError(f"build {build_id} did not end within {timeout} s")

    # -- routes ------------------------------------------------------------------------------
    def _create(self, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
        build = _CLOUDBUILD.message(body, "Build", "build")
        _check_build(build)
        project, location = params["project"], params["location"]
        number = project_number(project)
        build_id = str(uuid.uuid4())
        logs = build["logsBucket"][len("gs://"):]
        bucket, _, folder = logs.partition("/")
        obj = "/".join(p for p in (folder.strip("/"), f"log-{build_id}.txt") if p)
        data = {
            **build, "name": f"projects/{number}/locations/{location}/builds/{build_id}",
            "id": build_id, "projectId": project, "status": "QUEUED",
            "createTime": rfc3339(time.time_ns()), "timeout": build.get("timeout", "3600s"),
            "queueTtl": build.get("queueTtl", "3600s"),
            "logUrl": (f"https://console.cloud.google.com/cloud-build/builds;region={location}/"
                       f"{build_id}?project={number}")}
        run = _Run(data, bucket, obj)
        with self.lock:
            self._runs[build_id] = run
            run.thread = threading.Thread(target=self._run, args=(run,), daemon=True,
                                          name=f"cloud-build-{build_id[:8]}")
            run.thread.start()
            answer = copy.deepcopy(data)
        operation = {
            "name": f"projects/{number}/locations/{location}/operations/{uuid.uuid4()}",
            "metadata": {"@type": "type.googleapis.com/google.devtools.cloudbuild.v1."
                                  "BuildOperationMetadata", "build": answer}}
        return 200, operation

    def _find(self, params: dict[str, str]) -> _Run:
        with self.lock:
            run = self._runs.get(params["build"])
        name = run.data["name"] if run is not None else ""
        wanted = f"projects/{project_number(params['project'])}/locations/{params['location']}/"
        if run is None or not name.startswith(wanted):
            raise ApiError(404, f"Build \"{params['build']}\" not found.", "NOT_FOUND")
        return run

    def _get(self, params: dict[str, str], args: dict[str, str], body: dict[str, Any]) -> Answer:
        run = self._find(params)
        with self.lock:
            return 200, copy.deepcopy(run.data)

    def _cancel(self, params: dict[str, str], args: dict[str, str],
                body: dict[str, Any]) -> Answer:
        _CLOUDBUILD.message(body, "CancelBuildRequest", "cancel_build_request")
        run = self._find(params)
        with self.lock:
            if run.data["status"] in ENDED:
                raise ApiError(400, f"Build {run.data['id']} is {run.data['status']}: only a "
                               "queued or working build can be cancelled.",
                               "FAILED_PRECONDITION")
            run.cancel.set()
            self._end(run, "CANCELLED")
            return 200, copy.deepcopy(run.data)

    # -- running a build ---------------------------------------------------------------------
    def _end(self, run: _Run, status: str, **fields: Any) -> None:
        with self.lock:
            if run.data["status"] in ENDED:
                return
            run.data.update(status=status, finishTime=rfc3339(time.time_ns()), **fields)

    def _write(self, run: _Run, text: str) -> None:
        """Append TEXT to the log and rewrite its object, as Cloud Build does: the reader sees
        the whole log so far, the last line possibly unfinished."""
        if run.cancel.is_set():  # cancelled (or reset): the build writes nothing more
            raise StepFailed("cancelled")
        with self.lock:
            run.log += text
            content = run.log
        try:
            self.gcs.write_object(run.bucket, run.obj, content, "text/plain; charset=utf-8")
        except GcsError as exc:
            raise StepFailed(f"cannot write the log: {exc}", "LOGGING_FAILURE") from None
        time.sleep(self.line_delay)

    def _say(self, run: _Run, *lines: str) -> None:
        for line in lines:
            self._write(run, line + "\n")

    def _run(self, run: _Run) -> None:
        try:
            if run.cancel.wait(self.queued_delay):
                return
            with self.lock:
                run.data.update(status="WORKING", startTime=rfc3339(time.time_ns()))
            self._say(run, f'starting build "{run.data["id"]}"', "")
            context = self._fetch(run)
            self._say(run, "BUILD")
            tagged = self._docker_build(run, context)
            if self.end_status is not None:
                self._say(run, "ERROR", f"ERROR: build ended {self.end_status}")
                self._end(run, self.end_status, statusDetail=f"build ended {self.end_status}")
                return
            self._push(run, tagged)
            self._say(run, "DONE")
            self._end(run, "SUCCESS")
        except StepFailed as failed:
            if run.cancel.is_set():
                return
            self._end(run, "FAILURE", statusDetail=failed.detail,
                      failureInfo={"type": failed.failure, "detail": failed.detail})
        except Exception as exc:  # a stand-in bug: end the build loudly, keep the traceback
            with self.lock:
                self.internal_errors.append(traceback.format_exc())
            self._end(run, "INTERNAL_ERROR", statusDetail=f"stand-in internal error: {exc!r}")

    def _fail(self, run: _Run, detail: str, failure: str = "USER_BUILD_STEP") -> StepFailed:
        self._say(run, "ERROR", f"ERROR: {detail}")
        return StepFailed(detail, failure)

    def _fetch(self, run: _Run) -> dict[str, bytes]:
        source = run.data["source"]["storageSource"]
        bucket, obj = source["bucket"], source["object"]
        generation = source.get("generation")
        url = f"gs://{bucket}/{obj}" + (f"#{generation}" if generation else "")
        self._say(run, "FETCHSOURCE", f"Fetching storage object: {url}")
        try:
            meta = self.gcs.object_metadata(bucket, obj)
            if generation and str(meta.get("generation")) != str(generation):
                raise GcsError(404, "GET", url, b"generation")
            data = self.gcs.read_object(bucket, obj)
        except GcsError:
            self._say(run, f"CommandException: No URLs matched: {url}")
            raise self._fail(run, f"failed to fetch source: {url} not found",
                             "FETCH_SOURCE_FAILED") from None
        self._say(run, f"Copying {url}...", f"/ [1 files][{len(data):6d} B/{len(data):6d} B]",
                  f"Operation completed over 1 objects/{len(data)} B.")
        try:
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                return {m.name.removeprefix("./"): tar.extractfile(m).read()  # type: ignore[union-attr]
                        for m in tar.getmembers() if m.isfile()}
        except (tarfile.TarError, OSError, EOFError):
            raise self._fail(run, f"failed to unpack source: {url} is not a gzipped tar archive",
                             "FETCH_SOURCE_FAILED") from None

    def _step_failed(self, run: _Run, command: str, code: int) -> StepFailed:
        self._say(run, f"The command '/bin/sh -c {command}' returned a non-zero code: {code}")
        return self._fail(run, f'build step 0 "{run.data["steps"][0]["name"]}" failed: step '
                          "exited with non-zero status: 1")

    def _docker_build(self, run: _Run, context: dict[str, bytes]) -> str:
        step = run.data["steps"][0]
        args = step.get("args", [])
        self._say(run, f"Already have image (with digest): {step['name']}")
        if args[:1] != ["build"] or "-t" not in args or args[-1] != ".":
            self._say(run, f"unknown docker invocation: {' '.join(args)}")
            raise self._fail(run, f'build step 0 "{step["name"]}" failed: step exited with '
                             "non-zero status: 125")
        tag = args[args.index("-t") + 1]
        if "Dockerfile" not in context:
            self._say(run, "unable to prepare context: unable to evaluate symlinks in "
                      "Dockerfile path: lstat /workspace/Dockerfile: no such file or directory")
            raise self._fail(run, f'build step 0 "{step["name"]}" failed: step exited with '
                             "non-zero status: 1")
        size = sum(len(v) for v in context.values())
        self._say(run, f"Sending build context to Docker daemon  {size / 1024:.3f}kB")
        lines = [line for line in context["Dockerfile"].decode().splitlines()
                 if line.strip() and not line.lstrip().startswith("#")]
        for k, line in enumerate(lines, 1):
            word, _, rest = line.partition(" ")
            # half the line first: a reader must keep an unfinished line until it completes
            self._write(run, f"Step {k}/{len(lines)} : ")
            self._say(run, line)
            if k == 1 and word.upper() != "FROM":
                self._say(run, "Error response from daemon: dockerfile parse error: no FROM")
                raise self._fail(run, f'build step 0 "{step["name"]}" failed: step exited with '
                                 "non-zero status: 1")
            if word.upper() == "FROM":
                self._say(run, f"{rest}: Pulling from library/{rest.split(':')[0]}",
                          f"Status: Downloaded newer image for {rest}")
            elif word.upper() == "COPY":
                source = shlex.split(rest)[0]
                if source not in context:
                    self._say(run, f"COPY failed: file not found in build context or excluded "
                              f"by .dockerignore: stat {source}: file does not exist")
                    raise self._fail(run, f'build step 0 "{step["name"]}" failed: step exited '
                                     "with non-zero status: 1")
            elif word.upper() == "RUN":
                self._say(run, f" ---> Running in {secrets.token_hex(6)}")
                self._run_command(run, rest, context)
                self._say(run, f"Removing intermediate container {secrets.token_hex(6)}")
            self._say(run, f" ---> {secrets.token_hex(6)}")
        self._say(run, f"Successfully built {secrets.token_hex(6)}", f"Successfully tagged {tag}")
        return tag

    def _run_command(self, run: _Run, command: str, context: dict[str, bytes]) -> None:
        words = shlex.split(command)
        if "apt-get" in words and "install" in words:
            packages = [w for w in words[words.index("install") + 1:]
                        if not w.startswith("-") and w not in ("&&", "rm")]
            packages = packages[:next((i for i, w in enumerate(packages) if "/" in w),
                                      len(packages))]
            self._say(run, "Reading package lists...")
            for name in packages:
                if name in self.fail_packages:
                    self._say(run, f"E: Unable to locate package {name}")
                    raise self._step_failed(run, command, 100)
            self._say(run, *(f"Setting up {name} ..." for name in packages))
        if "pip" in words and "-r" in words:
            listed = words[words.index("-r") + 1].rsplit("/", 1)[-1]
            text = context.get(listed.removeprefix("jobspec-"), b"").decode()
            for requirement in text.splitlines():
                match = _REQUIREMENT_NAME.match(requirement)
                if not match:
                    continue
                self._say(run, f"Collecting {requirement.strip()}")
                if match.group(1) in self.fail_requirements:
                    self._say(run, "ERROR: Could not find a version that satisfies the "
                              f"requirement {requirement.strip()} (from versions: none)",
                              f"ERROR: No matching distribution found for {requirement.strip()}")
                    raise self._step_failed(run, command, 1)
            names = [m.group(1) for r in text.splitlines() if (m := _REQUIREMENT_NAME.match(r))]
            self._say(run, "Successfully installed " + " ".join(names))

    def _push(self, run: _Run, tagged: str) -> None:
        images = run.data.get("images", [])
        self._say(run, "PUSH")
        results = []
        for image in images:
            self._say(run, f"Pushing {image}")
            if image != tagged:
                self._say(run, f"An image does not exist locally with the tag: {image}")
                raise self._fail(run, f"failed to push {image}", "PUSH_IMAGE_NOT_FOUND")
            self._say(run, f"The push refers to repository [{image.rsplit(':', 1)[0]}]")
            try:
                parts = parse_image(image)
            except ValueError:
                parts = {}
            if not parts or not self.registry.has_repository(
                    parts["project"], parts["location"], parts["repository"]):
                self._say(run, f"name unknown: Repository \"{parts.get('repository', image)}\" "
                          "not found")
                raise self._fail(run, f"failed to push {image}", "PUSH_FAILED")
            digest = "sha256:" + hashlib.sha256(run.data["id"].encode()).hexdigest()
            self._say(run, f"{secrets.token_hex(6)}: Pushed",
                      f"{parts['tag']}: digest: {digest} size: 1574")
            self.registry.add_image(image, digest)
            results.append({"name": image, "digest": digest})
        with self.lock:
            run.data["results"] = {"images": results}


def _check_build(build: dict[str, Any]) -> None:
    """Cloud Build's own checks of a create, as 400 INVALID_ARGUMENT."""
    steps = build.get("steps", [])
    if not steps:
        raise invalid_argument("invalid build: no build steps")
    for i, step in enumerate(steps):
        if not step.get("name"):
            raise invalid_argument(f"invalid build: build step {i} must have a name")
    source = build.get("source", {}).get("storageSource")
    if not source or not source.get("bucket") or not source.get("object"):
        raise invalid_argument("invalid build: this stand-in builds from "
                               "source.storageSource {bucket, object} only")
    if not build.get("logsBucket", "").startswith("gs://"):
        raise invalid_argument("invalid build: logsBucket must be a gs:// URL (this stand-in "
                               "serves no default logs bucket)")
    for image in build.get("images", []):
        if not image or any(c.isspace() for c in image):
            raise invalid_argument(f"invalid image name {image!r}")
