"""`gcloud ml-engine|ai-platform local train` and `... jobs submit training` as a draft spec."""

from __future__ import annotations

from datetime import date

from jobspec import runtimes
from jobspec.errors import UsageError
from jobspec.importer import config
from jobspec.importer.draft import (
    Draft,
    PoolDraft,
    accelerator,
    bucket_of,
    check_machine,
    enum_name,
    settle_package,
)
from jobspec.importer.flags import Parsed, integer, split_dict, split_list
from jobspec.importer.options import option_flags
from jobspec.importer.words import Word, literal
from jobspec.states import DEFAULT_REGION, SCALE_TIERS

_TIERS = SCALE_TIERS
_LOCAL_ONLY = "only applies to gcloud's own local run"


def local_train(parsed: Parsed, user_args: list[Word], draft: Draft) -> None:
    module = parsed.one("--module-name")
    if module is None:
        raise UsageError(f"`{parsed.command}` needs --module-name (gcloud requires it too)")
    draft.module = module.text
    package = parsed.one("--package-path")
    draft.package = package.text if package else None
    if package is None:
        draft.notes.append("no --package-path: gcloud uses the current folder as the package, "
                           "and so does the spec")
    draft.args = [w.text for w in user_args]
    job_dir = parsed.one("--job-dir")
    if job_dir is not None:
        draft.target["job_dir"] = job_dir.text
    counts = {flag: integer(w, flag) for flag in ("--worker-count", "--parameter-server-count",
                                                 "--evaluator-count", "--start-port")
              if (w := parsed.one(flag)) is not None}
    if parsed.switches.get("--distributed"):
        # gcloud's defaults: 2 workers and 2 parameter servers unless told otherwise
        draft.target["distributed"] = {
            "workers": counts.get("--worker-count", 2),
            "parameter_servers": counts.get("--parameter-server-count", 2),
            "evaluators": counts.get("--evaluator-count", 0),
            "start_port": counts.get("--start-port", 27182),
        }
        return
    for flag in counts:
        draft.ignored(flag, "it only applies with --distributed (gcloud ignores it too)")


def submit_training(parsed: Parsed, user_args: list[Word], draft: Draft) -> None:
    if not parsed.positionals:
        raise UsageError(f"`{parsed.command}` needs the job name (JOB) after `training`")
    draft.job_id = parsed.positionals[0]
    if parsed.switches.get("--async") and parsed.switches.get("--stream-logs"):
        raise UsageError("--async and --stream-logs cannot both be given (gcloud refuses too)")
    conf = parsed.one("--config")
    if conf is not None:
        config.training_input(conf, draft)
    _flags(parsed, user_args, draft)
    if draft.module is None:
        raise UsageError(f"`{parsed.command}` needs --module-name (or trainingInput.pythonModule "
                         "in --config)")
    settle_package(draft, "--package-path")
    if "region" not in draft.target:
        draft.notes.append(f"no --region: the spec uses its default region, {DEFAULT_REGION}")
    runtime = draft.target.get("runtime_version")
    if runtime is not None and literal(runtime) is not None:
        runtime_warning(runtime, draft)
    elif "executor_image" not in draft.target:
        newest = runtimes.nearest_container_tf(runtimes.runtime_versions()[-1])
        draft.target["image"] = newest.image(_gpu(draft))
        draft.warnings.append(
            "the command gives no --runtime-version (AI Platform used its default runtime, which "
            "no longer exists): the spec runs the package on TensorFlow's own image "
            f"{draft.target['image']} (TensorFlow {newest.version}, the newest jobspec knows); "
            "check it is the one you want")


def _flags(parsed: Parsed, user_args: list[Word], draft: Draft) -> None:
    target = draft.target
    if user_args:
        if draft.args:
            draft.notes.append("the user args after -- replace trainingInput.args of --config")
        draft.args = [w.text for w in user_args]
    simple = {"--module-name": "module", "--package-path": "package", "--job-dir": "job_dir"}
    for flag, attr in simple.items():
        if (word := parsed.one(flag)) is not None:
            setattr(draft, attr, word.text)
    for flag, key in (("--region", "region"), ("--runtime-version", "runtime_version"),
                      ("--python-version", "python_version"), ("--project", "project"),
                      ("--service-account", "service_account"), ("--network", "network")):
        if (word := parsed.one(flag)) is not None:
            target[key] = word.text
    if (word := parsed.one("--staging-bucket")) is not None:
        draft.staging_bucket = bucket_of(word.text, "--staging-bucket")
    for word in parsed.values.get("--labels", []):
        labels = target.setdefault("labels", {})
        labels.update(split_dict(word.text, "--labels"))
    if (word := parsed.one("--scale-tier")) is not None:
        tier = enum_name(word.text)
        if tier not in _TIERS:
            raise UsageError(f"--scale-tier {word.raw!r} is not one of "
                             + ", ".join(t.lower().replace("_", "-") for t in _TIERS))
        if tier == "BASIC_TPU":
            draft.unsupported("--scale-tier basic-tpu", "Vertex AI has no equivalent of the "
                              "legacy TPU tier; the spec keeps the default tier BASIC")
        else:
            draft.tier = tier
    _pools(parsed, draft)
    if (word := parsed.one("--packages")) is not None:
        draft.package_uris += [(uri, "--packages") for uri in split_list(word.text) if uri]
    for flag in ("--master-image-uri", "--worker-image-uri", "--parameter-server-image-uri"):
        if parsed.has(flag):
            draft.unsupported(flag, "custom containers are not imported: for an image that "
                              "already holds the trainer, write image: and command: in the "
                              "spec's cloud target yourself")
    if (word := parsed.one("--use-chief-in-tf-config")) is not None:
        if (literal(word.text) or "").lower() in ("true", "yes", "1", "on"):
            draft.notes.append("--use-chief-in-tf-config: Vertex AI always names the first "
                               "pool 'chief' in TF_CONFIG")
        else:
            draft.unsupported("--use-chief-in-tf-config false", "Vertex AI always names the "
                              "first pool 'chief' in TF_CONFIG, never 'master'")
    if parsed.switches.get("--stream-logs"):
        draft.notes.append("--stream-logs is what `jobspec run` does by default: it waits for "
                           "the job and follows its logs")
    if parsed.switches.get("--async"):
        draft.notes.append("--async: `jobspec run` waits for the job and follows its logs; "
                           "`jobspec run --detach` returns once the job is submitted, like --async")
    option_flags(parsed, draft)  # --enable-web-access, --kms-*
    if parsed.has("--tpu-tf-version"):
        draft.unsupported("--tpu-tf-version", "TPU jobs are not supported")


def _pools(parsed: Parsed, draft: Draft) -> None:
    for prefix, index in (("--master", 0), ("--worker", 1), ("--parameter-server", 2)):
        machine = parsed.one(prefix + "-machine-type")
        count = parsed.one(prefix + "-count") if index else None
        accel = parsed.one(prefix + "-accelerator")
        if machine is None and count is None and accel is None:
            continue
        if index and (machine is None) != (count is None):
            given, missing = ((prefix + "-machine-type", prefix + "-count") if count is None
                              else (prefix + "-count", prefix + "-machine-type"))
            raise UsageError(f"{given} needs {missing} too (gcloud requires both)")
        while len(draft.pools) <= index:
            draft.pools.append(None)
        pool = draft.pools[index] or PoolDraft()
        draft.pools[index] = pool
        if machine is not None:
            pool.machine_type = check_machine(machine.text, prefix + "-machine-type", draft)
        if count is not None:
            pool.count = integer(count, prefix + "-count", 1)
        if accel is not None:
            flag = prefix + "-accelerator"
            pool.accelerator = accelerator(split_dict(accel.text, flag), flag)


def _gpu(draft: Draft) -> bool:
    return draft.tier == "BASIC_GPU" or any(p is not None and p.accelerator for p in draft.pools)


def runtime_warning(version: str, draft: Draft) -> None:
    """Keep the runtime as written; name a usable image to switch to (the runtime table's, as
    `plan` would), and leave it as a comment below the runtime."""
    gpu = _gpu(draft)
    region = literal(str(draft.target.get("region", DEFAULT_REGION))) or DEFAULT_REGION
    try:
        resolved = runtimes.resolve(runtime_version=version, executor_image=None, region=region,
                                    gpu=gpu, today=date.today())
    except runtimes.RuntimeUnavailable as exc:
        draft.warnings.append(f"{exc.message} The spec keeps runtime_version '{version}' as "
                              "written, so `jobspec plan`/`run` on this target fail until you "
                              "replace it with the image line commented below it.")
        near = runtimes.nearest_container_tf(version)
        draft.image_comment = (f"image: {near.image(gpu)}  # TensorFlow {near.version}: use "
                               "instead of runtime_version")
        return
    draft.warnings.extend(resolved.warnings)

