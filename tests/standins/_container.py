"""Runs a containerSpec replica the way Vertex does, without a container runtime.

There is no docker daemon or usable podman on these machines, so the "image" is this
machine's Python: each job gets a fresh environment, `python -m venv --without-pip` from the
interpreter running the tests, whose site-packages holds a .pth naming the host's
site-packages. So `python3 -m pip` and the host's libraries (numpy, google-cloud-storage, ...)
are there as if the image had them, and what pip installs goes into the job's own
environment. Its bin/ is first on PATH, so `python3` in the command resolves to it (`sh` is
the machine's). pip is kept offline by the image's defaults (PIP_NO_INDEX=1,
PIP_NO_BUILD_ISOLATION=0, i.e. no build isolation, PIP_CONFIG_FILE=/dev/null): a requirement
that the host does not have fails the job with pip's own error, as in the cloud.

The job's `command + args` run exactly as submitted, as one argument list with no shell of
ours, in an empty working folder, with the machine's minimal environment, the image defaults,
the stand-in's extra_env, containerSpec.env and what Vertex sets. `/gcs/` paths are served by
_gcsfuse.py and rewritten to the job's FUSE root (the one deviation). Measured on this 2-core
machine (2026-11-27): the environment costs ~0.01 s, `pip install` of a small sdist ~2 s when
the machine is quiet (~4 s under load), mostly setuptools' egg_info and bdist_wheel runs.
"""

from __future__ import annotations

import os
import tempfile
import venv
from pathlib import Path
from typing import Any

from ._gcsfuse import Mount
from ._runner import (
    TASK,
    Host,
    ReplicaError,
    _host_site_paths,
    _pythonpath,
    base_env,
    pool_env,
    stream,
    vertex_env,
)

# What the stand-in's "image" sets, as an image's ENV lines would: pip offline, no build
# isolation (so the sdist builds with the host's setuptools), no user or machine pip
# configuration, and no conflict check (it walks every host package, ~0.6 s a job, to warn
# about the host's own conflicts, which no image has). pip reads a PIP_NO_<FLAG> variable as
# the value of the option's destination, so "0" is what turns build isolation and the
# conflict warning OFF.
IMAGE_ENV = {"PIP_NO_INDEX": "1", "PIP_NO_BUILD_ISOLATION": "0", "PIP_CONFIG_FILE": os.devnull,
             "PIP_NO_WARN_CONFLICTS": "0"}


def missing_image(host: Host, spec: dict[str, Any]) -> str | None:
    """The job's error when host.image_exists says its image cannot be pulled, else None."""
    container = spec["workerPoolSpecs"][0].get("containerSpec")
    if container is None or host.image_exists is None or host.image_exists(container["imageUri"]):
        return None
    # The real service's wording for an image it cannot pull was not found in the sources
    # checked (2026-11-27); this one says what happened and is the stand-in's own.
    return (f"Unable to pull the container image \"{container['imageUri']}\" for replica "
            f"{TASK}: the image does not exist or the Vertex AI service agent cannot read it.")


def make_image(folder: Path) -> Path:
    """A fresh environment standing in for the image; returns its bin/ folder."""
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(folder)
    site_dirs = list(folder.glob("lib/python*/site-packages")) or \
        list(folder.glob("Lib/site-packages"))
    (site_dirs[0] / "_standin_image.pth").write_text("\n".join(_host_site_paths()) + "\n")
    return folder / ("Scripts" if os.name == "nt" else "bin")


def container_env(host: Host, job: Any, spec: dict[str, Any], home: Path,
                  bin_dir: Path) -> dict[str, str]:
    container = spec["workerPoolSpecs"][0]["containerSpec"]
    env = base_env(home)
    env["PATH"] = os.pathsep.join([str(bin_dir), *([env["PATH"]] if env.get("PATH") else [])])
    env.update(IMAGE_ENV)
    env.update(host.extra_env)
    env.update(pool_env(container))
    guard = _pythonpath()
    if guard:  # the test network guard must reach every Python the job starts
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), guard) if p)
    env.update(vertex_env(host, job, spec))
    return env


def run_container(host: Host, job: Any, spec: dict[str, Any]) -> int:
    """Run replica workerpool0-0 of a containerSpec job to the end; returns its exit status."""
    container = spec["workerPoolSpecs"][0]["containerSpec"]
    image = container["imageUri"]
    argv = [*container.get("command", []), *container.get("args", [])]
    if not container.get("command"):
        raise ReplicaError(f"The stand-in's image for {image} has no entrypoint: give "
                           "containerSpec.command.")
    with tempfile.TemporaryDirectory(prefix=f"vertex-job-{job.id}-") as tmp_name:
        tmp = Path(tmp_name)
        cwd, home = tmp / "cwd", tmp / "home"
        for folder in (cwd, home):
            folder.mkdir()
        bin_dir = make_image(tmp / "image")
        env = container_env(host, job, spec, home, bin_dir)
        mount = Mount(tmp / "fuse", host.gcs_url)
        mount.serve([*argv, *env.values()])
        argv = [mount.rewrite(a) for a in argv]
        env = {k: mount.rewrite(v) for k, v in env.items()}
        try:
            code = stream(host, job, argv, env, cwd)
        except OSError as exc:  # what the runtime says when the entrypoint cannot start
            reason = ("executable file not found in $PATH" if isinstance(exc, FileNotFoundError)
                      else exc.strerror)
            host.log(job, TASK, "ERROR", f"exec: \"{argv[0]}\": {reason}")
            code = 127
        mount.sync()
        return code
