"""The container launcher: how a job on any image with python3 and pip runs the trainer.

Vertex mounts every Cloud Storage bucket the job may read under /gcs/BUCKET/ (Cloud Storage
FUSE), so the staged sdist is a local file there. The launcher is the containerSpec command

    sh -c 'PIP_ROOT_USER_ACTION=ignore python3 -m pip install ... /gcs/B/.../PKG.tar.gz
           && exec python3 -m MODULE "$@"' jobspec

and the trainer's arguments are containerSpec.args: the service appends them to the command,
so `sh` hands them to the trainer through "$@" exactly as given, never re-quoted into the
script. The same command runs in the stand-in, under `--isolated` and under `--container`.
Pure functions; no I/O.
"""

from __future__ import annotations

import shlex

GCS_MOUNT = "/gcs"
ARG0 = "jobspec"  # $0 of the launcher script: what `sh -c` names itself in its messages
# pip's options in the launcher: no cache to keep (the container is thrown away), no version
# nag, no progress bars in the job's log
PIP_OPTIONS = ("--no-cache-dir", "--disable-pip-version-check", "--progress-bar", "off")


def gcs_path(uri: str) -> str:
    """gs://BUCKET/OBJECT -> /gcs/BUCKET/OBJECT, where a Vertex job sees that object."""
    if not uri.startswith("gs://"):
        raise ValueError(f"not a gs:// URI: {uri!r}")
    return f"{GCS_MOUNT}/{uri[len('gs://'):]}"


def script(package_path: str, module: str) -> str:
    """The `sh -c` script: install the sdist at PACKAGE_PATH, then exec `python3 -m MODULE`."""
    pip = ["python3", "-m", "pip", "install", *PIP_OPTIONS, package_path]
    return (f"PIP_ROOT_USER_ACTION=ignore {shlex.join(pip)} && "
            f'exec python3 -m {shlex.quote(module)} "$@"')


def command(package_path: str, module: str) -> list[str]:
    """containerSpec.command for the sdist at PACKAGE_PATH (a /gcs/... path) and MODULE."""
    return ["sh", "-c", script(package_path, module), ARG0]
