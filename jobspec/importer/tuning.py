"""Hyperparameter tuning configs as a spec's `tuning:` block: ML Engine's
`trainingInput.hyperparameters` (HyperparameterSpec, ml v1) and the config file of
`gcloud ai hp-tuning-jobs create` (a HyperparameterTuningJob: studySpec, trialJobSpec and the
trial counts, aiplatform v1). Keys and enums: the ml v1 and aiplatform v1 discovery documents
google-api-python-client ships (read 2026-11-27). Every key is mapped, reported as not
supported, or an error at its file:line:col."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from jobspec.importer.flags import flags
from jobspec.located import LDict, LList, Loc

if TYPE_CHECKING:
    from jobspec.importer.config import _File

ML_HYPERPARAMETER_KEYS = ("goal", "params", "maxTrials", "maxParallelTrials", "maxFailedTrials",
                          "hyperparameterMetricTag", "resumePreviousJobId",
                          "enableTrialEarlyStopping", "algorithm")
ML_PARAMETER_KEYS = ("parameterName", "type", "minValue", "maxValue", "categoricalValues",
                     "discreteValues", "scaleType")
HP_JOB_KEYS = ("displayName", "studySpec", "maxTrialCount", "parallelTrialCount",
               "maxFailedTrialCount", "trialJobSpec", "labels", "encryptionSpec")
STUDY_SPEC_KEYS = ("metrics", "parameters", "algorithm", "observationNoise",
                   "measurementSelectionType", "decayCurveStoppingSpec",
                   "medianAutomatedStoppingSpec", "convexAutomatedStoppingSpec",
                   "studyStoppingConfig")
METRIC_KEYS = ("metricId", "goal", "safetyConfig")
PARAMETER_KEYS = ("parameterId", "doubleValueSpec", "integerValueSpec", "discreteValueSpec",
                  "categoricalValueSpec", "scaleType", "conditionalParameterSpecs")
_VALUE_KEYS = {"doubleValueSpec": ("minValue", "maxValue", "defaultValue"),
               "integerValueSpec": ("minValue", "maxValue", "defaultValue"),
               "discreteValueSpec": ("values", "defaultValue"),
               "categoricalValueSpec": ("values", "defaultValue")}
# hyperparameterMetricTag's default: cloudml-hypertune's tag when the trainer names none
DEFAULT_TAG = "training/hptuning/metric"
_ML_TYPES = {"DOUBLE": "double_value_spec", "INTEGER": "integer_value_spec",
             "DISCRETE": "discrete_value_spec", "CATEGORICAL": "categorical_value_spec"}

# `gcloud ai hp-tuning-jobs create` (command_lib/ai/hp_tuning_jobs/flags.py, gcloud 528)
HP_TUNING_JOBS_CREATE = flags(
    "--region", "--display-name", "--config", "--max-trial-count", "--parallel-trial-count",
    "--algorithm", "--labels*", "--network", "--service-account", "--enable-web-access!",
    "--kms-key", "--kms-keyring", "--kms-location", "--kms-project",
)


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


def _number(conf: _File, node: LDict, key: str, path: str, whole: bool = False) -> Any:
    value = node[key]
    if isinstance(value, str):  # int64 fields are strings in the API's JSON
        with contextlib.suppress(ValueError):
            value = int(value) if whole else float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            whole and not float(value).is_integer()):
        raise conf.fail(node.val_locs[key], f"{path}.{key}".lstrip("."),
                        "expected a whole number" if whole else "expected a number")
    return int(value) if whole else value


def _numbers(conf: _File, node: LDict, key: str, path: str) -> list[Any]:
    value = node[key]
    if not isinstance(value, LList):
        raise conf.fail(node.val_locs[key], f"{path}.{key}".lstrip("."), "expected a list")
    holder = LDict(value.loc)
    out = []
    for i, item in enumerate(value):
        holder.put(str(i), item, value.item_locs[i], value.item_locs[i])
        out.append(_number(conf, holder, str(i), f"{path}.{key}"))
    return out


def _items(conf: _File, node: LDict, key: str, path: str) -> list[tuple[Any, Loc, str]]:
    value = node[key]
    if not isinstance(value, LList):
        raise conf.fail(node.val_locs[key], f"{path}.{key}".lstrip("."), "expected a list")
    return [(item, value.item_locs[i], f"{path}.{key}[{i}]".lstrip("."))
            for i, item in enumerate(value)]


def ml_engine(conf: _File, node: Any, loc: Loc, path: str) -> dict[str, Any] | None:
    """trainingInput.hyperparameters as a tuning block; None (with a warning) when it names
    no parameter, which no study can run."""
    hp = conf.mapping(node, loc, path, ML_HYPERPARAMETER_KEYS)
    draft = conf.draft
    metric: dict[str, Any] = {"metric_id": DEFAULT_TAG, "goal": "MAXIMIZE"}
    out: dict[str, Any] = {"metrics": [metric]}
    params: list[dict[str, Any]] = []
    counts = {"maxTrials": "max_trial_count", "maxParallelTrials": "parallel_trial_count",
              "maxFailedTrials": "max_failed_trial_count"}
    for key in hp:
        if key == "goal":
            metric["goal"] = conf.text(hp, key, path)
        elif key == "hyperparameterMetricTag":
            metric["metric_id"] = conf.text(hp, key, path)
        elif key in counts:
            out[counts[key]] = _number(conf, hp, key, path, whole=True)
        elif key == "algorithm":
            out["algorithm"] = conf.text(hp, key, path)
        elif key == "enableTrialEarlyStopping":
            if hp[key] is True:
                out["median_automated_stopping_spec"] = {}
                draft.notes.append(f"{conf.where(hp, key, path)} is mapped to Vertex AI's "
                                   "median stopping rule (median_automated_stopping_spec)")
        elif key == "params":
            for item, iloc, ipath in _items(conf, hp, key, path):
                params.append(_ml_param(conf, item, iloc, ipath))
        else:  # resumePreviousJobId
            conf.unsupported(hp, key, path, "a study starts afresh")
    if "hyperparameterMetricTag" not in hp:
        draft.notes.append(f"{conf.file}: {path} names no hyperparameterMetricTag: the "
                           f"trainer's metric is cloudml-hypertune's default tag, {DEFAULT_TAG}")
    if not params:
        draft.unsupported(f"{conf.file}:{loc.line}: {path}", "it names no params to tune; no "
                          "tuning block is written")
        return None
    out["parameters"] = params
    out.setdefault("max_trial_count", 1)  # ML Engine's default
    return out


def _ml_param(conf: _File, node: Any, loc: Loc, path: str) -> dict[str, Any]:
    p = conf.mapping(node, loc, path, ML_PARAMETER_KEYS)
    for required in ("parameterName", "type"):
        if required not in p:
            raise conf.fail(loc, path, f"missing '{required}'")
    kind = conf.text(p, "type", path)
    if kind not in _ML_TYPES:
        raise conf.fail(p.val_locs["type"], f"{path}.type", "expected DOUBLE, INTEGER, DISCRETE "
                        f"or CATEGORICAL, got {kind!r}")
    out: dict[str, Any] = {"parameter_id": conf.text(p, "parameterName", path)}
    if kind in ("DOUBLE", "INTEGER"):
        whole = kind == "INTEGER"
        for key in ("minValue", "maxValue"):
            if key not in p:
                raise conf.fail(loc, path, f"missing '{key}' (a {kind} parameter needs both)")
        out[_ML_TYPES[kind]] = {"min_value": _number(conf, p, "minValue", path, whole),
                                "max_value": _number(conf, p, "maxValue", path, whole)}
    elif kind == "DISCRETE":
        if "discreteValues" not in p:
            raise conf.fail(loc, path, "missing 'discreteValues'")
        out[_ML_TYPES[kind]] = {"values": _numbers(conf, p, "discreteValues", path)}
    else:
        if "categoricalValues" not in p:
            raise conf.fail(loc, path, "missing 'categoricalValues'")
        out[_ML_TYPES[kind]] = {"values": conf.texts(p, "categoricalValues", path)}
    if "scaleType" in p and conf.text(p, "scaleType", path) != "NONE":
        out["scale_type"] = conf.text(p, "scaleType", path)
    return out


def study_spec(conf: _File, node: Any, loc: Loc, path: str) -> dict[str, Any]:
    """A Vertex AI studySpec, key for key in the spec's snake_case."""
    spec = conf.mapping(node, loc, path, STUDY_SPEC_KEYS)
    out: dict[str, Any] = {}
    for key in spec:
        if key == "metrics":
            metrics = []
            for item, iloc, ipath in _items(conf, spec, key, path):
                m = conf.mapping(item, iloc, ipath, METRIC_KEYS)
                metric = {_snake(k): conf.text(m, k, ipath) for k in m if k != "safetyConfig"}
                if "safetyConfig" in m:
                    conf.unsupported(m, "safetyConfig", ipath, "the spec has no such setting")
                metrics.append(metric)
            out["metrics"] = metrics
        elif key == "parameters":
            out["parameters"] = [_parameter(conf, item, iloc, ipath)
                                 for item, iloc, ipath in _items(conf, spec, key, path)]
        elif key in ("algorithm", "measurementSelectionType"):
            out[_snake(key)] = conf.text(spec, key, path)
        elif key in ("decayCurveStoppingSpec", "medianAutomatedStoppingSpec"):
            rule = conf.mapping(spec[key], spec.val_locs[key], f"{path}.{key}",
                                ("useElapsedDuration",))
            out[_snake(key)] = ({"use_elapsed_duration": rule["useElapsedDuration"]}
                                if "useElapsedDuration" in rule else {})
        else:  # observationNoise, convexAutomatedStoppingSpec, studyStoppingConfig
            conf.unsupported(spec, key, path, "the spec's tuning block has no such setting")
    return out


def _parameter(conf: _File, node: Any, loc: Loc, path: str) -> dict[str, Any]:
    p = conf.mapping(node, loc, path, PARAMETER_KEYS)
    out: dict[str, Any] = {}
    for key in p:
        if key in ("parameterId", "scaleType"):
            out[_snake(key)] = conf.text(p, key, path)
        elif key in _VALUE_KEYS:
            where = f"{path}.{key}"
            spec = conf.mapping(p[key], p.val_locs[key], where, _VALUE_KEYS[key])
            whole = key == "integerValueSpec"
            values: dict[str, Any] = {}
            for vkey in spec:
                if vkey == "values" and key == "categoricalValueSpec":
                    values["values"] = conf.texts(spec, vkey, where)
                elif vkey == "values":
                    values["values"] = _numbers(conf, spec, vkey, where)
                elif key == "categoricalValueSpec":
                    values[_snake(vkey)] = conf.text(spec, vkey, where)
                else:
                    values[_snake(vkey)] = _number(conf, spec, vkey, where, whole)
            out[_snake(key)] = values
        else:  # conditionalParameterSpecs
            conf.unsupported(p, key, path, "the spec has no conditional parameters")
    return out
