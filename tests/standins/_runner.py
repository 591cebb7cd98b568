"""Runs a CustomJob for real, the way a Vertex AI replica does.

pythonPackageSpec (a prebuilt-container job): download the packageUris from the GCS emulator,
pip-install them, then run `python -m <pythonModule> <args>` in an empty working directory with
the Vertex environment. containerSpec jobs are run by _container.py. Every output line of the
replica (pip included) becomes a Cloud Logging entry.

Installing a python package offline: `pip install --target` with dependencies cannot see the
host's site-packages and would try to download them. So the package is installed with
`--no-deps --target DIR`, then each Requires-Dist of what was installed is checked against DIR
plus the host site-packages; an unmet requirement fails the replica with pip's own "No matching
distribution found" wording, as the cloud does for a requirement it cannot get.
"""

from __future__ import annotations

import json
import os
import signal
import site
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .gcs import parse_gs_uri

TASK = "workerpool0-0"
TF_TASK_TYPES = {0: "chief", 1: "worker", 2: "ps", 3: "evaluator"}
# Only what a process needs to run on this machine; the submitter's environment never leaks
# into a cloud replica, so it must not leak into the stand-in's either.
_PASS_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SYSTEMROOT",
             "GCE_METADATA_HOST", "GCE_METADATA_IP", "NO_GCE_CHECK", "JOBSPEC_NETGUARD_PATH",
             "JOBSPEC_NETGUARD_LOG")
_PASS_PREFIXES = ("OPENBLAS_", "OMP_", "MKL_")
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Host(Protocol):
    gcs_url: str
    extra_env: dict[str, str]
    image_exists: Callable[[str], bool] | None

    def log(self, job: Any, task: str, severity: str, text: str) -> None: ...

    def start_process(self, job: Any, argv: list[str], env: dict[str, str],
                      cwd: Path) -> subprocess.Popen[bytes] | None: ...


class ReplicaError(Exception):
    """The replica could not run; the message becomes the job's error."""


def base_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in _PASS_ENV or k.startswith(_PASS_PREFIXES)}
    env["HOME"] = str(home)
    return env


def _pythonpath(*dirs: str) -> str:
    guard = os.environ.get("JOBSPEC_NETGUARD_PATH")
    return os.pathsep.join([*dirs, *([guard] if guard else [])])


def stream(host: Host, job: Any, argv: list[str], env: dict[str, str], cwd: Path) -> int:
    """Run argv, each stdout line an INFO entry and each stderr line an ERROR entry."""
    proc = host.start_process(job, argv, env, cwd)
    if proc is None:
        return -int(signal.SIGTERM)  # cancelled before it could start

    def pump(pipe: Any, severity: str) -> None:
        for raw in iter(pipe.readline, b""):
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            if text.strip():
                host.log(job, TASK, severity, text)
        pipe.close()

    readers = [threading.Thread(target=pump, args=(proc.stdout, "INFO"), daemon=True),
               threading.Thread(target=pump, args=(proc.stderr, "ERROR"), daemon=True)]
    for reader in readers:
        reader.start()
    code = proc.wait()
    for reader in readers:
        reader.join()
    return code


def download(gcs_url: str, uri: str, dest: Path) -> Path:
    bucket, name = parse_gs_uri(uri)
    quote = urllib.parse.quote
    url = f"{gcs_url}/storage/v1/b/{quote(bucket, safe='')}/o/{quote(name, safe='')}?alt=media"
    try:
        with _OPENER.open(url, timeout=30) as resp:
            data = resp.read()
    except urllib.error.HTTPError as err:
        if err.code == 404:
            raise FileNotFoundError(uri) from None
        raise
    target = dest / Path(name).name
    target.write_bytes(data)
    return target


def _host_site_paths() -> list[str]:
    paths = list(site.getsitepackages())
    if site.ENABLE_USER_SITE:
        paths.append(site.getusersitepackages())
    return paths


def unmet_requirements(install_dir: Path) -> list[str]:
    """pip-style messages for each requirement of the installed packages nobody provides."""
    import importlib.metadata as md

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    available: dict[str, str] = {}
    for dist in md.distributions(path=[str(install_dir), *_host_site_paths()]):
        available.setdefault(canonicalize_name(dist.metadata["Name"] or ""), dist.version)
    messages = []
    for dist in md.distributions(path=[str(install_dir)]):
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is not None and not req.marker.evaluate({"extra": ""}):
                continue
            have = available.get(canonicalize_name(req.name))
            if have is None or not req.specifier.contains(have, prereleases=True):
                messages += [
                    f"ERROR: Could not find a version that satisfies the requirement {raw} "
                    f"(from {dist.metadata['Name']}) (from versions: none)",
                    f"ERROR: No matching distribution found for {raw}",
                ]
    return messages


def cluster_env(job_id: str, spec: dict[str, Any]) -> dict[str, str]:
    """TF_CONFIG and CLUSTER_SPEC of replica workerpool0-0, set when there is > 1 replica."""
    pools = spec.get("workerPoolSpecs", [])
    hosts = {i: [f"cmle-training-workerpool{i}-{job_id[-10:]}-{r}:2222"
                 for r in range(int(pool.get("replicaCount", "0")))]
             for i, pool in enumerate(pools) if pool}
    if sum(len(h) for h in hosts.values()) <= 1:
        return {}
    tf_cluster = {TF_TASK_TYPES[i]: h for i, h in hosts.items() if TF_TASK_TYPES.get(i) in
                  ("chief", "worker", "ps")}
    tf_config = {"cluster": tf_cluster, "task": {"type": "chief", "index": 0},
                 "job": spec, "environment": "cloud"}
    cluster_spec = {"cluster": {f"workerpool{i}": h for i, h in hosts.items()},
                    "task": {"type": "workerpool0", "index": 0}, "environment": "cloud"}
    return {"TF_CONFIG": json.dumps(tf_config), "CLUSTER_SPEC": json.dumps(cluster_spec)}


def vertex_env(host: Host, job: Any, spec: dict[str, Any]) -> dict[str, str]:
    """What Vertex itself sets in every replica, whichever kind of spec it runs."""
    env = {"CLOUD_ML_JOB_ID": job.id, "GOOGLE_CLOUD_PROJECT": job.project_id,
           "STORAGE_EMULATOR_HOST": host.gcs_url}
    prefix = spec.get("baseOutputDirectory", {}).get("outputUriPrefix")
    if prefix:
        base = prefix if prefix.endswith("/") else prefix + "/"
        env["AIP_MODEL_DIR"] = base + "model/"
        env["AIP_CHECKPOINT_DIR"] = base + "checkpoints/"
        env["AIP_TENSORBOARD_LOG_DIR"] = base + "logs/"
    env.update(cluster_env(job.id, spec))
    return env


def pool_env(pool_spec: dict[str, Any]) -> dict[str, str]:
    """The `env` of a pythonPackageSpec or containerSpec, as a dict."""
    return {e["name"]: e.get("value", "") for e in pool_spec.get("env", [])}


def trainer_env(host: Host, job: Any, spec: dict[str, Any], home: Path,
                install_dir: Path) -> dict[str, str]:
    package = spec["workerPoolSpecs"][0]["pythonPackageSpec"]
    env = base_env(home)
    env.update(host.extra_env)
    env.update(pool_env(package))
    env["PYTHONPATH"] = _pythonpath(str(install_dir))
    env.update(vertex_env(host, job, spec))
    return env


def run_replica(host: Host, job: Any, spec: dict[str, Any]) -> int:
    """Run replica workerpool0-0 to the end; returns its exit status."""
    pool = spec["workerPoolSpecs"][0]
    if "containerSpec" in pool:
        from ._container import run_container

        return run_container(host, job, spec)
    package = pool["pythonPackageSpec"]
    with tempfile.TemporaryDirectory(prefix=f"vertex-job-{job.id}-") as tmp_name:
        tmp = Path(tmp_name)
        downloads, install_dir, cwd, home = (tmp / d for d in ("dl", "site", "cwd", "home"))
        for folder in (downloads, install_dir, cwd, home):
            folder.mkdir()
        files = []
        for uri in package["packageUris"]:
            host.log(job, TASK, "INFO", f"Downloading package {uri}")
            try:
                files.append(str(download(host.gcs_url, uri, downloads)))
            except FileNotFoundError:
                host.log(job, TASK, "ERROR", f"CommandException: No URLs matched: {uri}")
                return 1
        pip_env = base_env(home) | {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_INPUT": "1",
                                    "PIP_DISABLE_PIP_VERSION_CHECK": "1",
                                    "PIP_ROOT_USER_ACTION": "ignore", "PIP_NO_CACHE_DIR": "1"}
        if "JOBSPEC_NETGUARD_PATH" in os.environ:
            pip_env["PYTHONPATH"] = _pythonpath()
        pip = [sys.executable, "-m", "pip", "install", "--no-index", "--no-build-isolation",
               "--no-deps", "--no-compile", "--target", str(install_dir), *files]
        host.log(job, TASK, "INFO", "Running command: python3 " + " ".join(pip[1:]))
        code = stream(host, job, pip, pip_env, tmp)
        if code != 0:
            return code
        unmet = unmet_requirements(install_dir)
        for line in unmet:
            host.log(job, TASK, "ERROR", line)
        if unmet:
            return 1
        argv = [sys.executable, "-m", package["pythonModule"], *package.get("args", [])]
        env = trainer_env(host, job, spec, home, install_dir)
        host.log(job, TASK, "INFO", "Running command: python3 " + " ".join(argv[1:]))
        return stream(host, job, argv, env, cwd)
