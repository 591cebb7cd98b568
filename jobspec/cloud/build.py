"""Build a dependencies image when its tag is missing (jobspec.imagebuild plans it).

1. Artifact Registry (artifactregistry v1 `projects.locations.repositories.packages.tags.get`)
   is asked for the tag: found, nothing is built. The tag is a hash of the build context only,
   never of the trainer's code, so an image once built serves every later run.
2. Otherwise the build context goes to gs://BUCKET/PREFIX/builds/TAG.tar.gz (the same bytes
   every time) and Cloud Build (cloudbuild v1 `projects.locations.builds.create`) builds and
   pushes it with the step `gcloud builds submit --tag` uses (gcloud 528.0.0,
   command_lib/builds/submit_util.py, read 2026-11-27): gcr.io/cloud-builders/docker
   `build --network cloudbuild --no-cache -t IMAGE .`, the source pinned to its generation.
3. The log Cloud Build writes to LOGS_BUCKET/log-BUILD_ID.txt (the Build schema's logsBucket)
   is read from where the last read ended, as gcloud's GCSLogTailer does (a 404 is a log not
   written yet, a 416 nothing new), while builds.get says the build goes on; once more after.

Ctrl-C (or SIGTERM) cancels the build, as `gcloud builds submit` does: nothing else would
follow it, and the next run looks the tag up again. A failed build is exit 4 with its last log
lines and its console link.
"""

from __future__ import annotations

import gzip
import io
import os
import tarfile
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jobspec import gcp
from jobspec.cloud.follow import info, poll_bounds
from jobspec.cloud.gcs import Bucket, cloud_errors
from jobspec.cloud.vertex import an_object, call
from jobspec.errors import CloudError, JobspecError
from jobspec.imagebuild import ImageBuild
from jobspec.output import current
from jobspec.package import FIXED_MTIME, Package
from jobspec.secrets import mask

if TYPE_CHECKING:
    from jobspec.context import CloudContext

BUILDER = "gcr.io/cloud-builders/docker"
# Build.status in the shipped cloudbuild.v1 discovery document (revision 20261029)
GOING = frozenset({"STATUS_UNKNOWN", "PENDING", "QUEUED", "WORKING"})
SUCCESS = "SUCCESS"
ENDED = frozenset({SUCCESS, "FAILURE", "INTERNAL_ERROR", "TIMEOUT", "CANCELLED", "EXPIRED"})
LAST_LINES = 20  # of the log, repeated in the error of a failed build


@dataclass(frozen=True)
class Outcome:
    image: str
    built: bool  # False: the tag existed, nothing was built
    build: str | None = None  # the Cloud Build resource name
    log_url: str | None = None


def staging_path(build: ImageBuild, prefix: str) -> str:
    """The build context's object: PREFIX/builds/TAG.tar.gz (content-addressed by the tag)."""
    return "/".join(p for p in (prefix.strip("/"), "builds", f"{build.tag}.tar.gz") if p)


def logs_bucket(bucket: str, prefix: str) -> str:
    return "gs://" + "/".join(p for p in (bucket, prefix.strip("/"), "builds", "logs") if p)


def context_archive(build: ImageBuild) -> Package:
    """The build context as a tar.gz: same files, same bytes (sorted, fixed times and owners,
    a bare gzip header)."""
    import base64
    import hashlib

    out = io.BytesIO()
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz, tarfile.open(
            fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, text in sorted(build.files):
            data = text.encode()
            entry = tarfile.TarInfo(name)
            entry.size, entry.mode = len(data), 0o644
            entry.mtime, entry.uid, entry.gid, entry.uname, entry.gname = FIXED_MTIME, 0, 0, "", ""
            tar.addfile(entry, io.BytesIO(data))
    data = out.getvalue()
    return Package(filename=f"{build.tag}.tar.gz", data=data,
                   sha256=hashlib.sha256(data).hexdigest(),
                   md5_b64=base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()
                                            ).decode("ascii"),
                   size=len(data), files=tuple(sorted(n for n, _ in build.files)), excluded=(),
                   build="image build context")


def build_body(build: ImageBuild, *, bucket: str, source: str, generation: int | None,
               logs: str) -> dict[str, Any]:
    """The Build (cloudbuild v1) that builds and pushes BUILD.image from the staged context."""
    storage: dict[str, Any] = {"bucket": bucket, "object": source}
    if generation:
        storage["generation"] = str(generation)
    return {"source": {"storageSource": storage},
            "steps": [{"name": BUILDER, "args": ["build", "--network", "cloudbuild",
                                                 "--no-cache", "-t", build.image, "."]}],
            "images": [build.image],
            "logsBucket": logs,
            # only the bucket's copy is read; the default (LEGACY) may change, says the schema
            "options": {"logging": "GCS_ONLY"},
            "tags": ["jobspec", build.tag]}


def console_link(build: dict[str, Any], region: str, project: str) -> str:
    """Where the build shows in the console: the service's logUrl, else the same form."""
    url = build.get("logUrl")
    if isinstance(url, str) and url.startswith("https://"):
        return url
    return (f"https://console.cloud.google.com/cloud-build/builds;region={region}/"
            f"{build.get('id')}?project={project}")


_MISSING = object()


def _or_missing(request: Callable[[], Any]) -> Callable[[], Any]:
    """REQUEST, with a 404 answered as _MISSING instead of an error."""

    def run() -> Any:
        try:
            return request()
        except gcp.api_errors() as exc:
            failure = gcp.classify(exc)
            if failure is not None and failure.status == 404:
                return _MISSING
            raise

    return run


def _missing_or(check: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda answer: answer if answer is _MISSING else check(answer)


def a_tag(answer: Any) -> dict[str, Any]:
    tag = an_object(answer)
    if not isinstance(tag.get("name"), str):
        raise gcp.BadAnswer("the answer is not a tag: it has no name")
    return tag


def a_repository(answer: Any) -> dict[str, Any]:
    repository = an_object(answer)
    if not isinstance(repository.get("name"), str):
        raise gcp.BadAnswer("the answer is not a repository: it has no name")
    return repository


def a_build(answer: Any) -> dict[str, Any]:
    build = an_object(answer)
    if not isinstance(build.get("id"), str) or not build["id"]:
        raise gcp.BadAnswer("the answer is not a build: it has no id")
    if build.get("status") not in GOING | ENDED:
        raise gcp.BadAnswer(f"the answer for build {build['id']} has no known status: "
                            f"{str(build.get('status'))[:60]!r}")
    if not isinstance(build.get("statusDetail", ""), str) or not isinstance(
            build.get("failureInfo", {}), dict):
        raise gcp.BadAnswer(f"the answer for build {build['id']} is malformed: its statusDetail "
                            "is not text, or its failureInfo not an object")
    return build


def an_operation(answer: Any) -> dict[str, Any]:
    """builds.create's Operation: its metadata (BuildOperationMetadata) holds the build."""
    operation = an_object(answer)
    metadata = operation.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("build"), dict):
        raise gcp.BadAnswer("the answer has no build in its metadata")
    a_build(metadata["build"])
    return operation


class Registry:
    """Artifact Registry look-ups: a tag, a repository."""

    def __init__(self, api: Any) -> None:
        self.repositories = api.projects().locations().repositories()

    def has_tag(self, build: ImageBuild) -> bool:
        # a package (image) name's slashes are escaped, says the Tag schema; tags have none
        name = (f"{build.repository_name}/packages/{quote(build.package, safe='')}"
                f"/tags/{quote(build.tag, safe='')}")
        tags = self.repositories.packages().tags()
        found = call(_or_missing(lambda: tags.get(name=name).execute()),
                     f"cannot look up {build.image} in Artifact Registry",
                     check=_missing_or(a_tag))
        return found is not _MISSING

    def require_repository(self, build: ImageBuild) -> None:
        """The repository the image is pushed to exists and holds Docker images."""
        found = call(_or_missing(lambda: self.repositories.get(
            name=build.repository_name).execute()),
                     f"cannot look up the Artifact Registry repository {build.repository!r}",
                     check=_missing_or(a_repository))
        create = (f"gcloud artifacts repositories create {build.repository} "
                  f"--repository-format=docker --location={build.location} "
                  f"--project={build.project}")
        if found is _MISSING:
            raise CloudError(
                f"the Artifact Registry repository {build.repository!r} does not exist in "
                f"project {build.project}, location {build.location}: {build.image} cannot be "
                "pushed there", hint=f"create it once with `{create}`, or set "
                "`build.repository:` to an existing Docker repository")
        kind = found.get("format")
        if kind not in (None, "DOCKER"):
            raise CloudError(f"the Artifact Registry repository {build.repository_name} holds "
                             f"{kind} packages, not Docker images",
                             hint=f"set `build.repository:` to a Docker repository, or create "
                             f"one with `{create}` under another name")


class Builds:
    """Cloud Build's builds in one project and region."""

    def __init__(self, api: Any, parent: str) -> None:
        self.builds = api.projects().locations().builds()
        self.parent = parent

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        # no request id: a create whose answer was lost is not repeated (a second build of the
        # same tag would be waste, not harm; the next run finds the image either way)
        operation = call(lambda: self.builds.create(parent=self.parent, body=body).execute(),
                         f"cannot start the image build in {self.parent}", retry=False,
                         check=an_operation)
        build: dict[str, Any] = operation["metadata"]["build"]
        if not isinstance(build.get("name"), str):
            build = {**build, "name": f"{self.parent}/builds/{build['id']}"}
        return build

    def get(self, name: str) -> dict[str, Any]:
        build: dict[str, Any] = call(lambda: self.builds.get(name=name).execute(),
                                     f"cannot read the state of the image build {name}",
                                     check=a_build)
        return build

    def cancel(self, name: str) -> None:
        call(lambda: self.builds.cancel(name=name, body={}).execute(),
             f"cannot cancel the image build {name}", retry=False)


class LogTail:
    """The build's log object, read from where the last read ended; lines as they complete."""

    def __init__(self, bucket: Bucket, path: str) -> None:
        self.bucket, self.path = bucket, path
        self.cursor = 0
        self.partial = b""
        self.last: deque[str] = deque(maxlen=LAST_LINES)

    @property
    def where(self) -> str:
        return f"gs://{self.bucket.name}/{self.path}"

    def fetch(self, *, final: bool = False) -> list[str]:
        blob = self.bucket.bucket.blob(self.path)
        with cloud_errors(f"cannot read the build log {self.where}"):
            try:
                data = blob.download_as_bytes(start=self.cursor,
                                              retry=gcp.storage_retry(f"reading {self.where}"))
            except gcp.storage_errors() as exc:
                if gcp.status_of(exc) not in (404, 416):  # not written yet; nothing new
                    raise
                data = b""
        self.cursor += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        if final and self.partial:
            complete.append(self.partial)
            self.partial = b""
        lines = [line.decode("utf-8", "replace").rstrip("\r") for line in complete]
        self.last.extend(lines)
        return lines


def show(lines: list[str]) -> int:
    """Each log line as `build | LINE` on stdout; under --json {"task": "build", "text"}."""
    out = current()
    for line in lines:
        if out.as_json:
            out.json_line({"task": "build", "text": mask(line)})
        else:
            out.print(f"build | {mask(line)}")
    return len(lines)


def _generation(bucket: Bucket, path: str) -> int | None:
    blob = bucket.bucket.blob(path)
    with cloud_errors(f"cannot read gs://{bucket.name}/{path}"):
        blob.reload(retry=gcp.storage_retry(f"reading gs://{bucket.name}/{path}"))
        return int(blob.generation) if blob.generation else None


def _stage(bucket: Bucket, build: ImageBuild, prefix: str) -> tuple[str, int | None]:
    archive = context_archive(build)
    path = staging_path(build, prefix)
    if bucket.staged(path, archive.md5_b64):
        info(f"build context already staged at gs://{bucket.name}/{path}")
    else:
        bucket.upload(path, archive)
        info(f"staged the build context ({', '.join(archive.files)}) at "
             f"gs://{bucket.name}/{path}")
    return path, _generation(bucket, path)


def _follow(builds: Builds, tail: LogTail, started: dict[str, Any]) -> dict[str, Any]:
    low, high = poll_bounds()
    interval, status, build = low, None, started
    while True:
        build = builds.get(started["name"])
        changed = build["status"] != status
        if changed:
            status = build["status"]
            info(f"image build {build['id']}: {status}")
        printed = show(tail.fetch())
        if status not in GOING:
            break
        interval = low if (printed or changed) else min(interval * 1.5, high)
        time.sleep(interval)
    # Cloud Build finishes writing the log before it marks the build ended (gcloud relies on
    # the same): one more read has all of it
    show(tail.fetch(final=True))
    return build


def _failed(build: dict[str, Any], tail: LogTail, link: str) -> CloudError:
    why = build.get("statusDetail") or str(build.get("failureInfo", {}).get("detail") or "")
    message = f"the image build {build['id']} ended {build['status']}" + (
        f": {why}" if why else "")
    if tail.last:
        message += "\nlast lines of its log:\n" + "\n".join(f"  {line}" for line in tail.last)
    else:
        message += f"\nits log ({tail.where}) is empty"
    return CloudError(mask(message), hint=f"the whole log: {link}")


def _cancel(builds: Builds, build: dict[str, Any], region: str, project: str) -> None:
    try:
        builds.cancel(build["name"])
    except JobspecError as exc:
        info(f"interrupted; cancelling the image build failed ({exc.message}): cancel it with "
             f"`gcloud builds cancel {build['id']} --region={region} --project={project}`")
        return
    info(f"interrupted: cancelled the image build {build['id']}")


def ensure(build: ImageBuild, *, bucket: str, staging_prefix: str,
           where: CloudContext) -> Outcome:
    """The image, built and pushed first when its tag is not in Artifact Registry."""
    with gcp.connect(build.project, where.aiplatform, build=True) as clients:
        registry = Registry(clients.artifactregistry)
        if registry.has_tag(build):
            info(f"image {build.image} exists: not building it")
            return Outcome(build.image, built=False)
        registry.require_repository(build)
        store = Bucket(clients.storage, bucket)
        store.check()
        source, generation = _stage(store, build, staging_prefix)
        logs = logs_bucket(bucket, staging_prefix)
        builds = Builds(clients.cloudbuild, f"projects/{build.project}/locations/{build.location}")
        started = builds.create(build_body(build, bucket=bucket, source=source,
                                           generation=generation, logs=logs))
        link = console_link(started, build.location, build.project)
        info(f"building {build.image} with Cloud Build (build {started['id']}): {link}")
        log_path = logs.removeprefix(f"gs://{bucket}/") + f"/log-{started['id']}.txt"
        tail = LogTail(store, log_path)
        try:
            ended = _follow(builds, tail, started)
        except KeyboardInterrupt:
            _cancel(builds, started, build.location, build.project)
            raise
        except CloudError as exc:
            exc.hint = exc.hint or f"the image build {started['id']} goes on: {link}"
            raise
        if ended["status"] != SUCCESS:
            raise _failed(ended, tail, link)
        info(f"built and pushed {build.image}")
        return Outcome(build.image, built=True, build=str(started["name"]), log_url=link)


def ensure_image(build: ImageBuild, *, bucket: str, staging_prefix: str,
                 where: CloudContext) -> str:
    """The image to run: BUILD.image, once it exists in Artifact Registry."""
    return ensure(build, bucket=bucket, staging_prefix=staging_prefix, where=where).image


def ensure_plan_image(plan: Any) -> str:
    """`run`: the image of a CloudPlan with a build, built first when missing."""
    from jobspec.context import resolve

    where = plan.context or resolve(plan.project, plan.region, os.environ)
    prefix = getattr(plan, "staging_prefix", None)
    if prefix is None:  # gs://BUCKET/PREFIX/packages/SHA/FILE
        staged = str(getattr(plan, "staging_uri", "") or "")
        head = staged.removeprefix(f"gs://{plan.bucket}/").partition("/packages/")
        if head[1]:
            prefix = head[0]
        else:  # nothing staged (bring your own image): the target's default folder
            from jobspec.spec import CloudTarget

            prefix = str(CloudTarget.model_fields["staging_prefix"].default)
    return ensure_image(plan.build, bucket=plan.bucket, staging_prefix=prefix, where=where)
