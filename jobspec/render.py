"""Plans as text and as JSON, with secret values masked (jobspec/secrets.py): env entries
with secret names, and secret values wherever they appear (inside an argument, TF_CONFIG, the
gcloud line)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

from jobspec.plandata import (  # plan_secrets, secret_values: used by callers of render
    GCLOUD_CONFIG,
    CloudPlan,
    LocalPlan,
    collection,
    gcloud_text,
    plan_secrets,
    pool_spec,
    repeated_items,
    request_body,
    secret_values,
)
from jobspec.secrets import MASK, Secrets, is_secret_name

INHERITED = ("jobspec's own, without CLOUDSDK_* (gcloud's leak), with PYTHONUNBUFFERED=1 "
             "unless set and PWD=cwd")
is_secret = is_secret_name
__all__ = ["INHERITED", "is_secret", "mask_env", "plan_json", "plan_secrets", "plan_text",
           "scrub", "secret_values"]


def mask_env(env: Mapping[str, str], extra: Iterable[str] = (),
             secrets: Secrets | None = None) -> dict[str, str]:
    extra = tuple(extra)
    secrets = secrets or Secrets()
    return {k: (MASK if is_secret(k, extra) and v else secrets.mask(v)) for k, v in env.items()}


def scrub(text: str, values: Iterable[str]) -> str:
    return Secrets.of(values).mask(text)


def _masked_body(plan: CloudPlan, secrets: Secrets) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(plan.body))
    for pool in body["jobSpec"]["workerPoolSpecs"]:
        for item in pool_spec(pool).get("env", []):
            if is_secret(item["name"], plan.secrets) and item["value"]:
                item["value"] = MASK
    masked: dict[str, Any] = secrets.mask_data(body)
    return request_body(dataclasses.replace(plan, body=masked))  # a study: the tuning job


def _package_json(plan: LocalPlan | CloudPlan) -> dict[str, Any] | None:
    package = plan.package
    if package is None:
        return None
    return {"filename": package.filename, "sha256": package.sha256, "md5": package.md5_b64,
            "size": package.size, "build": package.build, "files": list(package.files),
            "excluded": [{"path": e.path, "reason": e.reason} for e in package.excluded]}


def _inherited(plan: LocalPlan) -> str:
    if plan.container:
        return ("the image's own; the container gets only the entries below and "
                "PYTHONUNBUFFERED, as -e NAME with each value in the runtime's environment")
    return INHERITED + (", without PYTHONPATH (isolated)" if plan.isolated else "")


def _launcher_lines(plan: LocalPlan) -> list[str]:
    """Where the sdist is, and the cloud's launcher as an isolated run reproduces it."""
    if plan.staged_sdist is None:
        return []
    from jobspec import container

    at = container.gcs_path(plan)
    lines = [f"staged      {plan.staged_sdist}", f"  in cloud  {at}"]
    if plan.isolated:
        lines += ["launcher    sh -c " + _quote(container.install_script(at, plan.module)
                                                + " && " + container.exec_script(plan.module))
                  + "".join(" " + _quote(a) for a in plan.processes[0].argv[3:])
                  + "  (as the cloud runs it; .jobspec/gcs/ plays /gcs/)",
                  "  install   done once per package hash and interpreter, into a cached venv "
                  "made empty: the processes below run its exec half, with the venv's bin "
                  "first on PATH"]
    return lines


def plan_json(plan: LocalPlan | CloudPlan) -> dict[str, Any]:
    secrets = plan_secrets(plan)
    data: dict[str, Any] = secrets.mask_data(_plan_json(plan, secrets))
    return data


def _plan_json(plan: LocalPlan | CloudPlan, secrets: Secrets) -> dict[str, Any]:
    common = {"kind": plan.kind, "name": plan.name, "target": plan.target,
              "spec": plan.spec_path, "fingerprint": plan.fingerprint,
              "warnings": list(plan.warnings), "package": _package_json(plan)}
    if isinstance(plan, LocalPlan):
        return {**common, "module": plan.module, "package_path": plan.package_path,
                "inherited_env": _inherited(plan),
                "python": plan.python, "python_from": plan.python_from,
                "job_dir": plan.job_dir, "isolated": plan.isolated,
                "staged_sdist": plan.staged_sdist,
                "container": ({"from": plan.container[0], "image": plan.container[1]}
                              if plan.container else None),
                "processes": [{"task": p.task, "argv": list(p.argv), "cwd": p.cwd,
                               "env": mask_env(p.env, plan.secrets, secrets)}
                              for p in plan.processes]}
    return {**common, "project": plan.project, "region": plan.region, "bucket": plan.bucket,
            "job_dir": plan.job_dir, "endpoint": plan.endpoint, "parent": plan.parent,
            "mode": plan.mode, "image": plan.image, "build": _build_json(plan),
            "command": _command(plan), "staging_uri": plan.staging_uri,
            "staged_path": _staged_path(plan), "name_suffix": plan.name_suffix,
            "pools": list(plan.pools), "request": _masked_body(plan, secrets),
            "gcloud": [secrets.mask(word) for word in plan.gcloud],
            "context": plan.context.sources() if plan.context else None,
            "price": _price_json(plan)}


def _price_json(plan: CloudPlan) -> dict[str, Any]:
    """The estimate of the request body itself, in the target's region (jobspec.prices)."""
    from jobspec.prices_text import plan_json as price_json

    return price_json(plan.body, plan.region)


def _price_lines(plan: CloudPlan) -> list[str]:
    from jobspec.prices_text import plan_lines

    return plan_lines(plan.body, plan.region)


def _command(plan: CloudPlan) -> list[str] | None:
    """The containerSpec command every pool runs (None in python-package mode)."""
    first: dict[str, Any] = next((p for p in plan.body["jobSpec"]["workerPoolSpecs"] if p), {})
    command = first.get("containerSpec", {}).get("command")
    return list(command) if command else None


def _staged_path(plan: CloudPlan) -> str | None:
    """Where the job sees the staged sdist: /gcs/BUCKET/... through Cloud Storage FUSE."""
    if plan.mode != "container" or plan.staging_uri is None:
        return None
    from jobspec.launcher import gcs_path

    return gcs_path(plan.staging_uri)


def _build_json(plan: CloudPlan) -> dict[str, Any] | None:
    build = plan.build
    if build is None:
        return None
    return {"image": build.image, "tag": build.tag, "repository": build.repository_name,
            "files": dict(build.files)}


_MODES = {"container": "container: the launcher installs the staged sdist, then runs the module",
          "command": "container, bring your own image: its own command, nothing staged",
          "python-package": "python package on a Google prebuilt image (pythonPackageSpec)"}


def _image_lines(plan: CloudPlan) -> list[str]:
    lines = [f"mode        {_MODES.get(plan.mode, plan.mode)}", f"image       {plan.image}"]
    if plan.build is not None:
        lines.append(f"build       {plan.build.image}  (Cloud Build makes it first, unless "
                     "Artifact Registry has the tag)")
        lines += [f"  docker    {line}" for line in plan.build.dockerfile.splitlines()]
        requirements = dict(plan.build.files).get("requirements.txt", "")
        lines += [f"  pip       {line}" for line in requirements.splitlines()]
    if plan.staging_uri is not None:
        lines.append(f"staging     {plan.staging_uri}")
    staged = _staged_path(plan)
    if staged is not None:
        lines.append(f"  in job    {staged}")
    command = _command(plan)
    if command is not None:
        lines.append("command     " + " ".join(_quote(word) for word in command))
        lines.append("  + args    the trainer's args (below), appended by the service")
    return lines


def _excluded_lines(plan: LocalPlan | CloudPlan) -> list[str]:
    if plan.package is None:
        return []
    lines = [f"package     {plan.package.filename}  sha256 {plan.package.sha256[:16]}…  "
             f"{plan.package.size:,} bytes, {len(plan.package.files)} files "
             f"({plan.package.build})"]
    for item in plan.package.excluded:
        lines.append(f"  excluded  {item.path}: {item.reason}")
    return lines


def plan_text(plan: LocalPlan | CloudPlan) -> str:
    secrets = plan_secrets(plan)
    return secrets.mask(_plan_text(plan, secrets))


def _plan_text(plan: LocalPlan | CloudPlan, secrets: Secrets) -> str:
    lines = [f"plan        {plan.name} on target {plan.target} ({plan.kind})"]
    if isinstance(plan, LocalPlan):
        lines.append(f"job_dir     {plan.job_dir or '(none)'}")
        if not plan.container:
            lines.append(f"python      {plan.python}  ({plan.python_from})"
                         + ("; the isolated venv is made from it" if plan.isolated else ""))
        lines.append("mode        " + _mode(plan))
        lines += _excluded_lines(plan)
        lines += _launcher_lines(plan)
        lines.append(f"environment {_inherited(plan)}; each process adds:")
        for proc in plan.processes:
            lines.append(f"process     {proc.task}")
            lines.append(f"  cwd       {proc.cwd or '(a fresh empty folder)'}")
            lines.append("  argv      " + " ".join(_quote(secrets.mask(a)) for a in proc.argv))
            for key, value in mask_env(proc.env, plan.secrets, secrets).items():
                lines.append(f"  env       {key}={value}")
    else:
        lines += [f"project     {plan.project}{_from(plan, 'project')}",
                  f"region      {plan.region}{_from(plan, 'region')}",
                  f"endpoint    {plan.endpoint}{_from(plan, 'aiplatform')}",
                  f"job_dir     {plan.job_dir}",
                  _name_line(plan),
                  f"claim       gs://{plan.bucket}/{_final(plan)}/.jobspec/claim.json "
                  "(created only if absent)"]
        lines += _image_lines(plan)
        lines += _excluded_lines(plan)
        lines += [f"pool        {p}" for p in plan.pools]
        lines += _price_lines(plan)
        lines.append(f"request     POST {plan.endpoint}v1/{plan.parent}/{collection(plan)}")
        body = json.dumps(_masked_body(plan, secrets), indent=2)
        lines += ["  " + line for line in body.splitlines()]
        lines.append("equivalent  " + gcloud_text([secrets.mask(w) for w in plan.gcloud]))
        repeated = repeated_items(pool_spec(next(
            p for p in plan.body["jobSpec"]["workerPoolSpecs"] if p)))
        if repeated:
            shown = ", ".join(repr(secrets.mask(x)) for x in repeated)
            lines.append(f"  note      {GCLOUD_CONFIG}: the request's jobSpec above, as YAML "
                         f"or JSON; gcloud's --args and --command refuse an item given twice "
                         f"({shown})")
        elif any(pool_spec(p).get("env") for p in plan.body["jobSpec"]["workerPoolSpecs"]):
            lines.append("  note      gcloud has no flag for the env above: give it in a --config "
                         "file (a CustomJobSpec) to make exactly this job")
        if plan.study is not None:  # gcloud 528: `ai hp-tuning-jobs create --config` reads
            # a HyperparameterTuningJob (studySpec, trialJobSpec, counts) in YAML
            lines.append("  note      that line makes one job; the study is `gcloud ai "
                         f"hp-tuning-jobs create --region={plan.region} --config FILE` with "
                         "the request above as FILE")
    lines += [f"warning     {w}" for w in plan.warnings]
    return "\n".join(lines)


def _mode(plan: LocalPlan) -> str:
    if plan.container:
        source, image = plan.container
        runtime = plan.processes[0].argv[0]
        return f"container: {image}, the image of target {source!r}, run by {runtime}"
    if plan.isolated:
        return ("isolated: the cloud's launcher, the sdist installed from its /gcs/-like path "
                "into a fresh venv, run from an empty folder")
    return "source tree"


def _from(plan: CloudPlan, key: str) -> str:
    """Where a context value came from (jobspec.context): `  (from GOOGLE_CLOUD_PROJECT)`."""
    if plan.context is None:
        return ""
    source = plan.context.sources()[key]["from"]
    return f"  (from {source})" if key != "aiplatform" else (
        "  (the region's)" if source == "region" else f"  (from {source})")


def _final(plan: CloudPlan) -> str:
    return {"counter": f"{plan.name}_N", "timestamp": f"{plan.name}_YYYYMMDD_HHMMSS"}.get(
        plan.name_suffix, plan.name)


def _name_line(plan: CloudPlan) -> str:
    if plan.name_suffix == "counter":
        return (f"name        {plan.name}_N, N one past the highest under gs://{plan.bucket}/ "
                "(picked at submission; the request below shows the base name)")
    if plan.name_suffix == "timestamp":
        return (f"name        {plan.name}_YYYYMMDD_HHMMSS in UTC (picked at submission; the "
                "request below shows the base name)")
    return f"name        {plan.name}: gs://{plan.bucket}/{plan.name}/ must hold no object"


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)
