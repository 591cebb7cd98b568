"""`gcloud ai custom-jobs create` as a draft spec."""

from __future__ import annotations

from datetime import date
from typing import Any

from jobspec import runtimes
from jobspec.errors import UsageError
from jobspec.importer import config
from jobspec.importer.container import own_image
from jobspec.importer.draft import Draft, PoolDraft, PoolSpec, check_machine, settle_package
from jobspec.importer.flags import WORKER_POOL_KEYS, Parsed, split_dict, split_list
from jobspec.importer.options import option_flags
from jobspec.importer.words import literal
from jobspec.states import DEFAULT_REGION

_ROLES = ("chief", "workers", "parameter servers", "evaluators")


def custom_job(parsed: Parsed, draft: Draft, config_pools: list[PoolSpec] | None = None) -> None:
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
    given = [PoolSpec(split_dict(w.text, "--worker-pool-spec", WORKER_POOL_KEYS))
             for w in parsed.values.get("--worker-pool-spec", [])]
    if given:
        if pools:
            draft.notes.append("--worker-pool-spec replaces the workerPoolSpecs of --config, as "
                               "in gcloud")
        pools = given
    if all(p.empty for p in pools):
        raise UsageError(f"`{parsed.command}` needs --worker-pool-spec or a --config with "
                         "workerPoolSpecs")
    image = _pools(pools, draft)
    for flag, key in (("--region", "region"), ("--project", "project"),
                      ("--service-account", "service_account"), ("--network", "network")):
        if (word := parsed.one(flag)) is not None:
            draft.target[key] = word.text
    if "region" not in draft.target:
        draft.notes.append(f"no --region: the spec uses its default region, {DEFAULT_REGION}")
    for word in parsed.values.get("--labels", []):
        draft.target.setdefault("labels", {}).update(split_dict(word.text, "--labels"))
    # gcloud gives --args to every pool, --command to every container pool
    args = _list_flag(parsed, "--args")
    draft.args = args or _same(pools, "args", []) or []
    draft.env = _same(pools, "env", {}) or {}
    command = _list_flag(parsed, "--command")
    if image is not None:
        own_image(image, command or _same(pools, "command", None), draft)
    elif command:
        draft.ignored("--command", "gcloud gives it to container pools only, and this job "
                      "runs a Python package")
    _unsupported_flags(parsed, draft, container=image is not None)
    if image is None:
        draft.notes.append("gcloud packs local-package-path into a container image; jobspec "
                           "stages an sdist of the package and runs it on the same executor "
                           "image")


def _list_flag(parsed: Parsed, flag: str) -> list[str]:
    """--args / --command: gcloud's ArgList with UpdateAction, which joins repeated flags and
    refuses an item given twice (gcloud 528: `argument --args: "1" cannot be specified multiple
    times`)."""
    items: list[str] = []
    for word in parsed.values.get(flag, []):
        for item in split_list(word.text):
            if item in items:
                raise UsageError(
                    f'{flag}: "{item}" is given twice, and gcloud refuses that (`argument '
                    f'{flag}: "{item}" cannot be specified multiple times`), so this command '
                    "never ran: a --config file's containerSpec/pythonPackageSpec takes such "
                    "a list")
            items.append(item)
    return items


def _same(pools: list[PoolSpec], key: str, default: Any) -> Any:
    """The pools' KEY (args, env or command), which a spec has once for every pool."""
    used = [(i, p) for i, p in enumerate(pools) if not p.empty]
    first_index, first = used[0]
    value = getattr(first, key)
    value = default if value is None else value
    for index, pool in used[1:]:
        other = getattr(pool, key)
        other = default if other is None else other
        if other != value:
            if key == "env":  # names only: a value may be a secret
                names = sorted(n for n in {*value, *other} if value.get(n) != other.get(n))
                shown = f"env {', '.join(names)} set differently"
            else:
                shown = f"{key} {other!r}, and worker pool {first_index} " \
                        f"({_ROLES[first_index]}) has {value!r}"
            raise UsageError(f"worker pool {index} ({_ROLES[index]}) has {shown}"
                             + (f" from worker pool {first_index} ({_ROLES[first_index]})"
                                if key == "env" else "") + f": a spec gives every pool the "
                             f"same {key}")
    return value


def _pools(pools: list[PoolSpec], draft: Draft) -> str | None:
    """The pools' machines into the draft; the container image they run, or None when they run
    a Python package."""
    shared: dict[str, tuple[str, str]] = {}  # key -> (value, where)
    first: tuple[str, str] | None = None  # (where, what) of the first pool that runs something
    for index, pool in enumerate(pools):
        if pool.empty:
            draft.pools.append(None)
            continue
        if index >= len(_ROLES):
            raise UsageError(f"{len(pools)} worker pools: Vertex AI has at most 4 (chief, "
                             "workers, parameter servers, evaluators)")
        spec = pool.keys
        where = f"worker pool {index} ({_ROLES[index]})"
        if "container-image-uri" in spec:
            _container_keys(spec, where)
        if "script" in spec:
            raise UsageError(f"{where}: script={spec['script']} is not supported: jobspec runs "
                             "a module (python-module=...)")
        runs = next((k for k in ("container-image-uri", "python-module", "executor-image-uri")
                     if k in spec), None)
        if runs is not None:
            kind = ("the container image " + spec[runs] if runs == "container-image-uri"
                    else f"a Python package ({runs}={spec[runs]})")
            first = first or (where, kind)
            if (runs == "container-image-uri") != first[1].startswith("the container"):
                raise UsageError(
                    f"{where} runs {kind}, and {first[0]} runs {first[1]}: a spec runs one "
                    "image in every pool (image: and command: for an image that holds the "
                    "trainer, or the package on one image), so import cannot keep both")
        for key in ("python-module", "executor-image-uri", "local-package-path",
                    "container-image-uri"):
            if key in spec:
                if key in shared and shared[key][0] != spec[key]:
                    one = ("a spec has one image per target" if key == "container-image-uri"
                           else "a spec runs one package on one image")
                    raise UsageError(f"{where}: {key}={spec[key]} differs from {shared[key][0]} "
                                     f"in {shared[key][1]}: {one}")
                shared.setdefault(key, (spec[key], where))
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
        made = PoolDraft(check_machine(spec["machine-type"], f"{where}: machine-type", draft),
                         options=dict(pool.options))
        if "replica-count" in spec:
            made.count = _count(spec["replica-count"], f"{where}: replica-count", 1)
            if index == 0 and made.count != 1:
                draft.warnings.append(f"{where}: Vertex AI runs exactly 1 chief, not {made.count}")
        if "accelerator-type" in spec:
            made.accelerator = {"type": spec["accelerator-type"]}
            if "accelerator-count" in spec:
                made.accelerator["count"] = _count(spec["accelerator-count"],
                                                   f"{where}: accelerator-count", 1)
        elif "accelerator-count" in spec:
            raise UsageError(f"{where}: accelerator-count needs accelerator-type")
        draft.pools.append(made)
    if "container-image-uri" in shared:
        return shared["container-image-uri"][0]
    _package(dict((k, v[0]) for k, v in shared.items()), draft)
    return None


def _container_keys(spec: dict[str, str], where: str) -> None:
    """What gcloud refuses beside container-image-uri (custom_jobs/validation.py)."""
    others = sorted({"executor-image-uri", "python-module", "script", "local-package-path",
                     "requirements", "extra-packages", "extra-dirs", "output-image-uri"}
                    & set(spec))
    if others:
        raise UsageError(f"{where}: container-image-uri={spec['container-image-uri']} with "
                         f"{', '.join(others)}: gcloud refuses that too (a pool runs either a "
                         "container image or a Python package)")


def _package(shared: dict[str, str], draft: Draft) -> None:
    if "python-module" not in shared:
        raise UsageError("no worker pool names python-module or container-image-uri: jobspec "
                         "runs a Python module, or an image that holds the trainer")
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


def _unsupported_flags(parsed: Parsed, draft: Draft, *, container: bool) -> None:
    if (word := parsed.one("--python-package-uris")) is not None:
        if container:
            draft.ignored("--python-package-uris", "gcloud gives it to Python package pools "
                          "only, and this job runs a container image")
        else:
            draft.package_uris += [(uri, "--python-package-uris")
                                   for uri in split_list(word.text) if uri]
    if not container:
        settle_package(draft, "local-package-path in --worker-pool-spec")
    option_flags(parsed, draft)  # web/dashboard access, persistent resource, CMEK key
