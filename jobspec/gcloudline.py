"""The `gcloud ai custom-jobs create` command that makes the same job as a cloud plan.

jobspec.plan calls `gcloud_command` for CloudPlan.gcloud; `gcloud_list` writes one value of a
gcloud list flag so that gcloud splits it back into exactly the items given. The flags for the job
options come from jobspec.joboptions (`gcloud_flags`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from jobspec.joboptions import gcloud_flags
from jobspec.plandata import GCLOUD_CONFIG, pool_spec, repeated_items

if TYPE_CHECKING:
    from jobspec import runtimes


def _pool_flags(run: dict[str, Any], mode: str,
                shapes: Sequence[runtimes.PoolShape]) -> list[str]:
    """The pools as flags: every pool runs RUN (its containerSpec or pythonPackageSpec)."""
    flags = []
    if mode == "python-package":
        flags.append("--python-package-uris=" + gcloud_list(run["packageUris"]))
    for shape in shapes:
        if not shape.count:
            flags.append("--worker-pool-spec=")  # keeps positions: pools are ordered
            continue
        spec = [f"machine-type={shape.machine_type}", f"replica-count={shape.count}"]
        if shape.accelerator_type:
            spec += [f"accelerator-type={shape.accelerator_type}",
                     f"accelerator-count={shape.accelerator_count}"]
        if mode == "python-package":
            spec += [f"executor-image-uri={run['executorImageUri']}",
                     f"python-module={run['pythonModule']}"]
        else:
            spec.append(f"container-image-uri={run['imageUri']}")
        flags.append("--worker-pool-spec=" + gcloud_list(spec))
    while flags and flags[-1] == "--worker-pool-spec=":
        flags.pop()
    if run.get("command"):
        flags.append("--command=" + gcloud_list(run["command"]))
    if run.get("args"):
        flags.append("--args=" + gcloud_list(run["args"]))
    return flags


def gcloud_command(plan_body: dict[str, Any], project: str, region: str, mode: str,
                   shapes: Sequence[runtimes.PoolShape]) -> tuple[str, ...]:
    """`gcloud ai custom-jobs create` making the same job: gcloud gives --args (and --command)
    to every pool's containerSpec or pythonPackageSpec (custom_jobs_util.ConstructCustomJobSpec
    in gcloud 528). Environment variables have no flag; render.py says so beside the line."""
    cmd = ["gcloud", "ai", "custom-jobs", "create", f"--project={project}",
           f"--region={region}", f"--display-name={plan_body['displayName']}"]
    run = pool_spec(next(p for p in plan_body["jobSpec"]["workerPoolSpecs"] if p))
    if repeated_items(run):  # gcloud's --args and --command refuse an item given twice:
        cmd.append(f"--config={GCLOUD_CONFIG}")  # the pools from the request's jobSpec
    else:
        cmd += _pool_flags(run, mode, shapes)
    labels = plan_body.get("labels", {})
    if labels:
        cmd.append("--labels=" + gcloud_list([f"{k}={v}" for k, v in sorted(labels.items())]))
    job_spec = plan_body["jobSpec"]
    if "serviceAccount" in job_spec:
        cmd.append(f"--service-account={job_spec['serviceAccount']}")
    if "network" in job_spec:
        cmd.append(f"--network={job_spec['network']}")
    cmd += gcloud_flags(plan_body)
    return tuple(cmd)


def _delimiters() -> Iterator[str]:
    yield from ":;|@#~!%+/"
    yield from (chr(c) for c in range(0x21, 0x7F) if chr(c) not in "^:;|@#~!%+/")
    yield from (chr(c) for c in range(0xA1, 0x3000))


def gcloud_list(items: Sequence[str]) -> str:
    """ITEMS as one value of a gcloud list (or dict) flag, which gcloud splits again into
    exactly ITEMS: comma-separated, or, when an item holds a comma (or the value would start
    with '^'), gcloud's `^D^` form with a one-character delimiter D that no item holds
    (`gcloud topic escaping`). A final empty item gets a trailing delimiter (gcloud drops one)."""
    delim = ","
    if any("," in item for item in items) or "".join(items[:1]).startswith("^"):
        delim = next(d for d in _delimiters() if not any(d in item for item in items))
    text = ("" if delim == "," else f"^{delim}^") + delim.join(items)
    return text + delim if items and items[-1] == "" else text
