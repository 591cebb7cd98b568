"""A dependencies image, planned: its Dockerfile, its build context and its content-addressed
tag. Pure; building it is jobspec.cloud.build's job.

The image holds the base, the system packages and the pip requirements, never the trainer's
code: that still arrives as the staged sdist, so a code change never rebuilds the image. The
tag is a hash of the whole build context, so the same inputs always name the same image and an
image that exists under its tag never needs building again.
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

TAG_PREFIX = "deps-"
REQUIREMENTS = "requirements.txt"


@dataclass(frozen=True)
class ImageBuild:
    image: str  # REGION-docker.pkg.dev/PROJECT/REPO/NAME:deps-HASH
    registry: str  # REGION-docker.pkg.dev
    project: str
    location: str  # the Artifact Registry location: the target's region
    repository: str
    package: str  # NAME: the image's name inside the repository
    tag: str  # deps-HASH
    files: tuple[tuple[str, str], ...]  # the build context: (file name, text), sorted by name

    @property
    def dockerfile(self) -> str:
        return dict(self.files)["Dockerfile"]

    @property
    def repository_name(self) -> str:
        """The repository's resource name in the artifactregistry v1 API."""
        return f"projects/{self.project}/locations/{self.location}/repositories/{self.repository}"


def image_name(name: str) -> str:
    """A folder or job name as a Docker image name: lowercase letters, digits and single '-'
    (Docker's rules allow less than a folder name may hold)."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "trainer"


def dockerfile(base: str, requirements: Sequence[str], system_packages: Sequence[str]) -> str:
    lines = [f"FROM {base}"]
    if system_packages:
        apt = shlex.join(["apt-get", "install", "-y", "--no-install-recommends",
                          *system_packages])
        lines.append(f"RUN apt-get update && {apt} && rm -rf /var/lib/apt/lists/*")
    if requirements:
        lines += [f"COPY {REQUIREMENTS} /tmp/jobspec-{REQUIREMENTS}",
                  "RUN PIP_ROOT_USER_ACTION=ignore python3 -m pip install --no-cache-dir "
                  f"--disable-pip-version-check -r /tmp/jobspec-{REQUIREMENTS}"]
    return "\n".join(lines) + "\n"


def plan_build(*, base: str, requirements: Sequence[str], system_packages: Sequence[str],
               repository: str, project: str, region: str, job_name: str) -> ImageBuild:
    files = {"Dockerfile": dockerfile(base, requirements, system_packages)}
    if requirements:
        files[REQUIREMENTS] = "".join(f"{req}\n" for req in requirements)
    digest = hashlib.sha256()
    for name, text in sorted(files.items()):
        data = text.encode()
        digest.update(f"{name}\0{len(data)}\0".encode() + data)
    tag = TAG_PREFIX + digest.hexdigest()[:16]
    registry = f"{region}-docker.pkg.dev"
    package = image_name(job_name)
    return ImageBuild(image=f"{registry}/{project}/{repository}/{package}:{tag}",
                      registry=registry, project=project, location=region,
                      repository=repository, package=package, tag=tag,
                      files=tuple(sorted(files.items())))


def for_target(spec: Any, target: Any, *, project: str, region: str) -> ImageBuild | None:
    """The image a cloud target's `build:` block asks for (None without one): the one function
    `plan`, `--container` and `jobspec build` use, so they always name the same image. It is
    named after the trainer's package folder, not the job: `--name`, a matrix member's name or
    a suffix picked at submission never changes it, and jobs with the same dependencies share
    one image (the tag is the content)."""
    build = getattr(target, "build", None)
    if build is None:
        return None
    requirements = (build.requirements if build.requirements is not None
                    else spec.trainer.requirements)
    package = os.path.basename(os.path.normpath(spec.trainer.package_path))
    return plan_build(base=build.base, requirements=requirements,
                      system_packages=build.system_packages, repository=build.repository,
                      project=project, region=region, job_name=package)
