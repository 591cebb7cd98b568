"""`--config` files: an ML Engine Job (trainingInput) or a Vertex AI CustomJobSpec.

Read with the loader's safe YAML, so every key keeps its position: an unknown key is an error at
its file:line:col (with did-you-mean), and a key the spec cannot express is a warning that says
where it is. The key tables are the API's own (ml v1 and aiplatform v1 discovery documents); a
test checks them against those documents.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from jobspec.diagnostics import Problem, SpecError, did_you_mean, display_path
from jobspec.errors import UsageError
from jobspec.importer.draft import (
    Draft,
    PoolDraft,
    PoolSpec,
    accelerator,
    check_machine,
    duration,
)
from jobspec.importer.machine import boot_disk, reservation
from jobspec.importer.options import CONFIG_KEYS, SCHEDULING_KEYS, config_option, config_scheduling
from jobspec.importer.words import Word, escape, literal
from jobspec.located import LDict, LList, Loc

JOB_KEYS = ("jobId", "labels", "trainingInput", "predictionInput", "createTime", "startTime",
            "endTime", "state", "errorMessage", "trainingOutput", "predictionOutput", "etag",
            "jobPosition")
TRAINING_INPUT_KEYS = (
    "scaleTier", "masterType", "masterConfig", "workerType", "workerConfig", "workerCount",
    "parameterServerType", "parameterServerConfig", "parameterServerCount", "evaluatorType",
    "evaluatorConfig", "evaluatorCount", "packageUris", "pythonModule", "args",
    "hyperparameters", "region", "jobDir", "runtimeVersion", "pythonVersion", "network",
    "serviceAccount", "scheduling", "encryptionConfig", "useChiefInTfConfig", "enableWebAccess",
)
REPLICA_CONFIG_KEYS = ("acceleratorConfig", "imageUri", "tpuTfVersion", "containerCommand",
                       "containerArgs", "diskConfig")
ML_SCHEDULING_KEYS = ("maxRunningTime", "maxWaitTime", "priority")
CUSTOM_JOB_SPEC_KEYS = (
    "workerPoolSpecs", "scheduling", "serviceAccount", "network", "reservedIpRanges",
    "baseOutputDirectory", "protectedArtifactLocationId", "tensorboard", "enableWebAccess",
    "enableDashboardAccess", "experiment", "experimentRun", "models", "persistentResourceId",
    "pscInterfaceConfig",
)
WORKER_POOL_SPEC_KEYS = ("containerSpec", "pythonPackageSpec", "machineSpec", "replicaCount",
                         "nfsMounts", "lustreMounts", "diskSpec")
MACHINE_SPEC_KEYS = ("machineType", "acceleratorType", "acceleratorCount", "tpuTopology",
                     "reservationAffinity", "gpuPartitionSize")
PYTHON_PACKAGE_SPEC_KEYS = ("executorImageUri", "packageUris", "pythonModule", "args", "env")
CONTAINER_SPEC_KEYS = ("imageUri", "command", "args", "env")
_REPLICA_PARTS = ("Type", "Count", "Config")
VERTEX_SCHEDULING_KEYS = ("timeout", "restartJobOnWorkerRestart", "strategy", "disableRetries",
                          "maxWaitDuration")


class _File:
    def __init__(self, word: Word, draft: Draft) -> None:
        from jobspec.specfile import read
        from jobspec.yamlread import build

        plain = literal(word.text)
        if plain is None:
            raise UsageError(f"--config {word.raw}: a variable cannot be imported here; give the "
                             "file's path")
        path = Path(plain) if Path(plain).is_absolute() else draft.cwd / plain
        if not path.is_file():
            raise UsageError(f"--config {plain}: no such file")
        self.file = display_path(str(path))
        text = read(path, self.file)  # bounded, a regular file only
        # errors show its lines only when it is named like a config (YAML or JSON), not when
        # the command points --config at /proc/self/environ or ~/.aws/credentials
        named = os.path.realpath(path).lower().endswith((".yaml", ".yml", ".json"))
        self.sources = {self.file: text} if named else {}
        try:
            self.tree = build(text, self.file)
        except SpecError as exc:
            raise SpecError(exc.problems, self.sources) from None
        self.draft = draft

    def fail(self, loc: Loc, path: str, message: str) -> SpecError:
        return SpecError([Problem(loc, path, message)], self.sources)

    def mapping(self, node: Any, loc: Loc, path: str, known: tuple[str, ...]) -> LDict:
        if not isinstance(node, LDict):
            raise self.fail(loc, path, "expected a mapping")
        for key in node:
            if key not in known:
                raise self.fail(node.key_locs[key], f"{path}.{key}".lstrip("."),
                                "unknown key" + did_you_mean(key, known))
        return node

    def where(self, node: LDict, key: str, path: str) -> str:
        loc = node.key_locs[key]
        return f"{self.file}:{loc.line}: {path}.{key}".replace(": .", ": ")

    def unsupported(self, node: LDict, key: str, path: str, why: str) -> None:
        self.draft.unsupported(self.where(node, key, path), why)

    def text(self, node: LDict, key: str, path: str) -> str:
        value = node[key]
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise self.fail(node.val_locs[key], f"{path}.{key}".lstrip("."), "expected text")
        return escape(str(value))  # a config file is not a shell: `$` is a plain character

    def number(self, node: LDict, key: str, path: str) -> int:
        value = node[key]
        if isinstance(value, str) and value.isdigit():
            value = int(value)  # int64 fields are strings in the API's JSON
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise self.fail(node.val_locs[key], f"{path}.{key}".lstrip("."),
                            "expected a whole number")
        return value

    def labels(self, node: LDict, key: str) -> dict[str, str]:
        """A `labels` mapping of a job file, as the spec's labels."""
        labels = self.mapping(node[key], node.val_locs[key], "labels", tuple(node[key]))
        return {k: self.text(labels, k, "labels") for k in labels}

    def texts(self, node: LDict, key: str, path: str) -> list[str]:
        value = node[key]
        if not isinstance(value, LList):
            raise self.fail(node.val_locs[key], f"{path}.{key}".lstrip("."), "expected a list")
        out = []
        for i, item in enumerate(value):
            if isinstance(item, bool) or not isinstance(item, (str, int, float)):
                raise self.fail(value.item_locs[i], f"{path}.{key}[{i}]".lstrip("."),
                                "expected text")
            out.append(escape(str(item)))
        return out

    def pool(self, index: int) -> PoolDraft:
        pools = self.draft.pools
        while len(pools) <= index:
            pools.append(None)
        found = pools[index] or PoolDraft()
        pools[index] = found
        return found


def training_input(word: Word, draft: Draft) -> None:
    """An ML Engine Job file: command-line flags, read afterwards, override what it sets."""
    conf = _File(word, draft)
    job = conf.mapping(conf.tree, Loc(conf.file, 1, 1), "", JOB_KEYS)
    for key in job:
        if key == "labels":
            draft.target["labels"] = conf.labels(job, key)
        elif key == "jobId":
            draft.notes.append(f"{conf.where(job, key, '')} is ignored: the job name on the "
                               "command line wins, as in gcloud")
        elif key != "trainingInput":
            draft.ignored(conf.where(job, key, ""), "it is not an input of a training job")
    if "trainingInput" not in job:
        return
    ti = conf.mapping(job["trainingInput"], job.val_locs["trainingInput"], "trainingInput",
                      TRAINING_INPUT_KEYS)
    path = "trainingInput"
    plain = {"region": "region", "runtimeVersion": "runtime_version", "network": "network",
             "pythonVersion": "python_version", "serviceAccount": "service_account"}
    roles = {"master": 0, "worker": 1, "parameterServer": 2, "evaluator": 3}
    for key in ti:
        if key in plain:
            draft.target[plain[key]] = conf.text(ti, key, path)
        elif key == "pythonModule":
            draft.module = conf.text(ti, key, path)
        elif key == "jobDir":
            draft.job_dir = conf.text(ti, key, path)
        elif key == "args":
            draft.args = conf.texts(ti, key, path)
        elif key == "scaleTier":
            tier = conf.text(ti, key, path)
            if tier == "BASIC_TPU":
                conf.unsupported(ti, key, path, "Vertex AI has no equivalent of the TPU tier")
            else:
                draft.tier = tier
        elif any(key == role + part for role in roles for part in _REPLICA_PARTS):
            _replica(conf, ti, key, path, roles)
        elif key == "scheduling":
            sched = conf.mapping(ti[key], ti.val_locs[key], "trainingInput.scheduling",
                                 ML_SCHEDULING_KEYS)
            _scheduling(conf, sched, "maxRunningTime", path, "trainingInput.scheduling", draft)
        elif key == "packageUris":
            for uri in conf.texts(ti, key, path):
                draft.package_uris.append((uri, conf.where(ti, key, path)))
        elif key == "enableWebAccess":
            config_option(conf, ti, key, path, draft)
        elif key == "encryptionConfig":
            enc = conf.mapping(ti[key], ti.val_locs[key], f"{path}.{key}", ("kmsKeyName",))
            if "kmsKeyName" in enc:
                draft.target["kms_key"] = conf.text(enc, "kmsKeyName", f"{path}.{key}")
        elif key == "useChiefInTfConfig":
            draft.notes.append(f"{conf.where(ti, key, path)}: Vertex AI always names the first "
                               "pool 'chief' in TF_CONFIG")
        elif key == "hyperparameters":
            from jobspec.importer.tuning import ml_engine

            draft.tuning = ml_engine(conf, ti[key], ti.val_locs[key], f"{path}.{key}")
        else:
            conf.unsupported(ti, key, path, "the spec has no such setting")


def _replica(conf: _File, ti: LDict, key: str, path: str, roles: dict[str, int]) -> None:
    role = next(r for r in roles if key.startswith(r) and key[len(r):] in _REPLICA_PARTS)
    index, field = roles[role], key[len(role):]
    if field == "Type":
        conf.pool(index).machine_type = check_machine(conf.text(ti, key, path),
                                                      conf.where(ti, key, path), conf.draft)
    elif field == "Count":
        conf.pool(index).count = conf.number(ti, key, path)
    else:
        rc = conf.mapping(ti[key], ti.val_locs[key], f"{path}.{key}", REPLICA_CONFIG_KEYS)
        for rkey in rc:
            if rkey == "acceleratorConfig":
                ac = conf.mapping(rc[rkey], rc.val_locs[rkey], f"{path}.{key}.{rkey}",
                                  ("type", "count"))
                values = {k: str(v) for k, v in ac.items()}
                conf.pool(index).accelerator = accelerator(values, conf.where(rc, rkey, path))
            elif rkey == "diskConfig":
                disk = boot_disk(conf, rc[rkey], rc.val_locs[rkey], f"{path}.{key}.{rkey}")
                if disk is not None:
                    conf.pool(index).options["boot_disk"] = disk
            elif rkey == "tpuTfVersion":
                conf.unsupported(rc, rkey, f"{path}.{key}", "Vertex AI has no TPU runtime "
                                 "version: the image holds TensorFlow")
            else:
                conf.unsupported(rc, rkey, f"{path}.{key}", "custom containers of ML Engine "
                                 "jobs are not imported: write image: and command: in the "
                                 "cloud target yourself")


def custom_job_spec(word: Word, draft: Draft) -> list[PoolSpec]:
    """A CustomJobSpec file; returns its worker pools."""
    conf = _File(word, draft)
    return custom_job_spec_node(conf, conf.tree, Loc(conf.file, 1, 1), "")


def custom_job_spec_node(conf: _File, node: Any, loc: Loc, path: str) -> list[PoolSpec]:
    """A CustomJobSpec at NODE of a config file (its top, or a tuning job's trialJobSpec)."""
    draft = conf.draft
    spec = conf.mapping(node, loc, path, CUSTOM_JOB_SPEC_KEYS)
    pools: list[PoolSpec] = []
    for key in spec:
        if key in ("serviceAccount", "network"):
            draft.target["service_account" if key == "serviceAccount" else key] = conf.text(
                spec, key, "")
        elif key == "baseOutputDirectory":
            out = conf.mapping(spec[key], spec.val_locs[key], key, ("outputUriPrefix",))
            if "outputUriPrefix" in out:
                draft.job_dir = conf.text(out, "outputUriPrefix", key)
        elif key == "scheduling":
            sched = conf.mapping(spec[key], spec.val_locs[key], key, VERTEX_SCHEDULING_KEYS)
            _scheduling(conf, sched, "timeout", key, key, draft)
        elif key in CONFIG_KEYS:  # options the spec has (jobspec/joboptions.py)
            config_option(conf, spec, key, "", draft)
        elif key == "workerPoolSpecs":
            value = spec[key]
            items = list(value) if isinstance(value, LList) else [value]
            locs = value.item_locs if isinstance(value, LList) else [spec.val_locs[key]]
            for i, (item, loc) in enumerate(zip(items, locs, strict=True)):
                pools.append(_worker_pool(conf, item, loc, f"workerPoolSpecs[{i}]"))
        else:
            conf.unsupported(spec, key, "", "the spec has no such setting")
    return pools


def _worker_pool(conf: _File, node: Any, loc: Loc, path: str) -> PoolSpec:
    """One workerPoolSpec: the --worker-pool-spec keys it matches (spec text values), and what
    only a config says."""
    out = PoolSpec()
    if isinstance(node, LDict) and not node:
        return out
    pool = conf.mapping(node, loc, path, WORKER_POOL_SPEC_KEYS)
    if "containerSpec" in pool and "pythonPackageSpec" in pool:
        raise conf.fail(pool.key_locs["containerSpec"], f"{path}.containerSpec", "a pool has "
                        "either containerSpec or pythonPackageSpec, not both (gcloud refuses "
                        "this too)")
    for key in pool:
        where = f"{path}.{key}"
        if key == "replicaCount":
            out.keys["replica-count"] = str(conf.number(pool, key, path))
        elif key == "machineSpec":
            _machine(conf, pool[key], pool.val_locs[key], where, out)
        elif key == "diskSpec":
            disk = boot_disk(conf, pool[key], pool.val_locs[key], where)
            if disk is not None:
                out.options["boot_disk"] = disk
        elif key in ("pythonPackageSpec", "containerSpec"):
            _run_spec(conf, pool[key], pool.val_locs[key], where, out)
        else:
            conf.unsupported(pool, key, path, "the spec has no such setting")
    return out


def _machine(conf: _File, node: Any, loc: Loc, path: str, out: PoolSpec) -> None:
    ms = conf.mapping(node, loc, path, MACHINE_SPEC_KEYS)
    names = {"machineType": "machine-type", "acceleratorType": "accelerator-type",
             "acceleratorCount": "accelerator-count"}
    for key in ms:
        if key in names:
            out.keys[names[key]] = conf.text(ms, key, path)
        elif key == "tpuTopology":
            out.options["tpu_topology"] = conf.text(ms, key, path)
        elif key == "reservationAffinity":
            out.options["reservation"] = reservation(conf, ms[key], ms.val_locs[key],
                                                     f"{path}.{key}")
        else:  # gpuPartitionSize
            conf.unsupported(ms, key, path, "the spec has no such setting")


def _run_spec(conf: _File, node: Any, loc: Loc, path: str, out: PoolSpec) -> None:
    """A pythonPackageSpec or containerSpec (PATH ends with which)."""
    container = path.endswith("containerSpec")
    known = CONTAINER_SPEC_KEYS if container else PYTHON_PACKAGE_SPEC_KEYS
    run = conf.mapping(node, loc, path, known)
    if container and "imageUri" not in run:
        raise conf.fail(loc, f"{path}.imageUri", "missing: the container image to run (gcloud "
                        "requires it too)")
    names = {"executorImageUri": "executor-image-uri", "pythonModule": "python-module",
             "imageUri": "container-image-uri"}
    for key in run:
        if key in names:
            out.keys[names[key]] = conf.text(run, key, path)
        elif key == "args":
            out.args = conf.texts(run, key, path)
        elif key == "command":
            out.command = conf.texts(run, key, path)
        elif key == "env":
            out.env = _env(conf, run, path)
        else:  # packageUris
            for uri in conf.texts(run, key, path):
                conf.draft.package_uris.append((uri, conf.where(run, key, path)))


def _env(conf: _File, run: LDict, path: str) -> dict[str, str]:
    items = run["env"]
    if not isinstance(items, LList):
        raise conf.fail(run.val_locs["env"], f"{path}.env", "expected a list")
    env: dict[str, str] = {}
    for i, item in enumerate(items):
        entry = conf.mapping(item, items.item_locs[i], f"{path}.env[{i}]", ("name", "value"))
        if "name" not in entry:
            raise conf.fail(items.item_locs[i], f"{path}.env[{i}]", "missing 'name'")
        env[str(entry["name"])] = conf.text(entry, "value", path) if "value" in entry else ""
    return env


def _scheduling(conf: _File, sched: LDict, timeout_key: str, where: str, label: str,
                draft: Draft) -> None:
    """A `scheduling` block (ML Engine's maxRunningTime, Vertex's timeout): only the timeout
    maps, to max_running_time; anything else is reported."""
    for skey in sched:
        if skey == timeout_key:
            seconds = duration(str(sched[skey]), conf.where(sched, skey, where), draft)
            if seconds is not None:
                draft.target["max_running_time"] = seconds
        elif timeout_key == "timeout" and skey in SCHEDULING_KEYS:  # Vertex's other keys
            config_scheduling(conf, sched, skey, label, draft)
        else:
            conf.unsupported(sched, skey, label, "the spec has no such setting")
