"""`gcloud ai custom-jobs create` as a draft spec."""

from __future__ import annotations

from datetime import date

from jobspec import runtimes
from jobspec.errors import UsageError
from jobspec.importer import config
from jobspec.importer.draft import Draft, PoolDraft, check_machine, settle_package
from jobspec.importer.flags import WORKER_POOL_KEYS, Parsed, split_dict, split_list
from jobspec.importer.options import option_flags
from jobspec.importer.words import literal
from jobspec.states import DEFAULT_REGION

_ROLES = ("chief", "workers", "parameter servers", "evaluators")


def custom_job(parsed: Parsed, draft: Draft,
               config_pools: list[dict[str, str]] | None = None) -> None:
    """``config_pools``: the pools of a config read already (a tuning job's trialJobSpec)."""
    if parsed.positionals:
        raise UsageError(f"`{parsed.command}` takes no positional argument, got "
                         f"{parsed.positionals[0].raw!r}")
    name = parsed.one("--display-name")
    if name is None:
        raise UsageError(f"`{parsed.command}` needs --display-name (gcloud requires it too)")
    draft.job_id = name
    conf = parsed.one("--config")
    pools = (config_pools if config_pools is not None else
             config.custom_job_spec(conf, draft) if conf is not None else [])
    given = [split_dict(w.text, "--worker-pool-spec", WORKER_POOL_KEYS)
             for w in parsed.values.get("--worker-pool-spec", [])]
    if given:
        if pools:
            draft.notes.append("--worker-pool-spec replaces the workerPoolSpecs of --config, as "
                               "in gcloud")
        pools = given
    if not any(pools):
        raise UsageError(f"`{parsed.command}` needs --worker-pool-spec or a --config with "
                         "workerPoolSpecs")
    _pools(pools, draft)
    for flag, key in (("--region", "region"), ("--project", "project"),
                      ("--service-account", "service_account"), ("--network", "network")):
        if (word := parsed.one(flag)) is not None:
            draft.target[key] = word.text
    if "region" not in draft.target:
        draft.notes.append(f"no --region: the spec uses its default region, {DEFAULT_REGION}")
    for word in parsed.values.get("--labels", []):
        draft.target.setdefault("labels", {}).update(split_dict(word.text, "--labels"))
    args = [a for w in parsed.values.get("--args", []) for a in split_list(w.text)]
    if args:
        draft.args = args
    _unsupported_flags(parsed, draft)
    draft.notes.append("gcloud packs local-package-path into a container image; jobspec stages "
                       "an sdist of the package and runs it on the same executor image")


def _pools(pools: list[dict[str, str]], draft: Draft) -> None:
    shared: dict[str, str] = {}
    for index, spec in enumerate(pools):
        if not spec:
            draft.pools.append(None)
            continue
        if index >= len(_ROLES):
            raise UsageError(f"{len(pools)} worker pools: Vertex AI has at most 4 (chief, "
                             "workers, parameter servers, evaluators)")
        where = f"worker pool {index} ({_ROLES[index]})"
        if "container-image-uri" in spec:
            raise UsageError(f"{where}: custom containers ({spec['container-image-uri']}) are not "
                             "supported by import: for an image that already holds the "
                             "trainer, write image: and command: in the spec's cloud target "
                             "yourself")
        if "script" in spec:
            raise UsageError(f"{where}: script={spec['script']} is not supported: jobspec runs "
                             "a module (python-module=...)")
        for key in ("python-module", "executor-image-uri", "local-package-path"):
            if key in spec:
                if key in shared and shared[key] != spec[key]:
                    raise UsageError(f"{where}: {key}={spec[key]} differs from {shared[key]} in "
                                     "an earlier pool: a spec runs one package on one image")
                shared.setdefault(key, spec[key])
        for key in ("output-image-uri", "extra-dirs", "extra-packages"):
            if key in spec:
                draft.unsupported(f"{where}: {key}", "jobspec stages an sdist of the package "
                                  "folder, not a container image or extra files")
        if "requirements" in spec:
            for req in split_list(spec["requirements"], ";"):
                if req and req not in draft.requirements:
                    draft.requirements.append(req)
        if "machine-type" not in spec:
            raise UsageError(f"{where}: machine-type is required (gcloud requires it too)")
        pool = PoolDraft(check_machine(spec["machine-type"], f"{where}: machine-type", draft))
        if "replica-count" in spec:
            pool.count = _count(spec["replica-count"], f"{where}: replica-count", 1)
            if index == 0 and pool.count != 1:
                draft.warnings.append(f"{where}: Vertex AI runs exactly 1 chief, not {pool.count}")
        if "accelerator-type" in spec:
            pool.accelerator = {"type": spec["accelerator-type"]}
            if "accelerator-count" in spec:
                pool.accelerator["count"] = _count(spec["accelerator-count"],
                                                   f"{where}: accelerator-count", 1)
        elif "accelerator-count" in spec:
            raise UsageError(f"{where}: accelerator-count needs accelerator-type")
        draft.pools.append(pool)
    if "python-module" not in shared:
        raise UsageError("no worker pool names python-module: jobspec runs a Python module")
    draft.module = shared["python-module"]
    if "executor-image-uri" not in shared:
        raise UsageError("no worker pool names executor-image-uri (gcloud requires it with "
                         "python-module)")
    image = shared["executor-image-uri"]
    draft.target["executor_image"] = image
    if literal(image) is not None:
        known = runtimes.known_image(image)
        if known is not None:
            draft.warnings += runtimes.resolve(runtime_version=None, executor_image=image,
                                               region=DEFAULT_REGION, gpu=False,
                                               today=date.today()).warnings
            if date.today() >= known.end_of_availability:
                instead, why = runtimes.replacement(known)
                draft.image_comment = f"image: {instead}  # {why}: use instead of executor_image"
    if "local-package-path" in shared:
        draft.package = shared["local-package-path"]
        draft.package_is_workdir = True


def _count(text: str, where: str, minimum: int) -> int:
    value = literal(text)
    if value is None or not value.isdigit() or int(value) < minimum:
        raise UsageError(f"{where} expects a whole number of at least {minimum}, got {text!r}")
    return int(value)


def _unsupported_flags(parsed: Parsed, draft: Draft) -> None:
    if (word := parsed.one("--python-package-uris")) is not None:
        draft.package_uris += [(uri, "--python-package-uris") for uri in split_list(word.text)
                               if uri]
    settle_package(draft, "local-package-path in --worker-pool-spec")
    if parsed.has("--command"):
        draft.unsupported("--command", "it only applies to custom containers")
    option_flags(parsed, draft)  # web/dashboard access, persistent resource, CMEK key

