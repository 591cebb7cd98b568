"""The `tuning:` block: a hyperparameter study, field for field Vertex AI's StudySpec (plus the
HyperparameterTuningJob's trial counts), in the spec's snake_case; `study_spec` gives the
request's camelCase form. Models and rules only: the searches and the local study are in
jobspec/study.py.

Field names, enums and rules: the aiplatform v1 discovery document google-api-python-client
ships (googleapiclient/discovery_cache/documents/aiplatform.v1.json, revision 20261106, read
2026-11-27): StudySpec, StudySpecMetricSpec, StudySpecParameterSpec and its Double-, Integer-,
Discrete- and CategoricalValueSpec, the Decay-curve and Median automated stopping specs, and
HyperparameterTuningJob's maxTrialCount, parallelTrialCount, maxFailedTrialCount. GRID_SEARCH
"requires all parameters to be INTEGER, CATEGORICAL or DISCRETE"; UNIT_LOG_SCALE and
UNIT_REVERSE_LOG_SCALE need "the entire feasible space strictly positive"; discrete values are
"in increasing order", at most 1,000 of them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from jobspec.spectypes import FieldError, Model, key_pattern, value_pattern

# A trainer flag: `--NAME=VALUE`. argparse and absl both take letters, digits, '_' and '-'.
PARAMETER_RE = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
MAX_TRIALS = 1000  # a local study runs each trial here: a bound on a typo's cost
MAX_DISCRETE = 1000  # the API's own bound on discreteValueSpec.values

Scale = Literal["UNIT_LINEAR_SCALE", "UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"]
Algorithm = Literal["ALGORITHM_UNSPECIFIED", "GRID_SEARCH", "RANDOM_SEARCH"]


class MetricSpec(Model):
    metric_id: str = Field(
        description="The metric's tag: what the trainer reports with cloudml-hypertune "
        "(hyperparameter_metric_tag), e.g. accuracy.",
        min_length=1, max_length=128,
        json_schema_extra={"pattern": value_pattern(re.compile(r"[^\s]+"))},
    )
    goal: Literal["MAXIMIZE", "MINIMIZE"] = Field(description="MAXIMIZE or MINIMIZE the metric.")

    @field_validator("metric_id")
    @classmethod
    def _one_word(cls, value: str) -> str:
        if not re.fullmatch(r"[^\s]+", value):
            raise ValueError(f"expected a metric tag without spaces or line breaks, got {value!r}")
        return value


def _yaml_number(value: Any) -> Any:
    """YAML 1.1 reads 1e-4 (no dot) as text: say how to write it, not only that it is text."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return value
        raise ValueError(f"{value!r} is read as text (YAML needs a dot in a number with an "
                         f"exponent): write {_dotted(value)}")
    return value


def _dotted(text: str) -> str:
    head, _, tail = text.lower().partition("e")
    return f"{head}.0e{tail}" if "." not in head and tail else text


class DoubleValueSpec(Model):
    min_value: float = Field(description="Lowest value.")
    max_value: float = Field(description="Highest value.")
    default_value: float | None = Field(default=None, description="Vertex's first suggestion.")

    @field_validator("min_value", "max_value", "default_value", mode="before")
    @classmethod
    def _number_text(cls, value: Any) -> Any:
        return _yaml_number(value)


class IntegerValueSpec(Model):
    min_value: int = Field(description="Lowest value.")
    max_value: int = Field(description="Highest value.")
    default_value: int | None = Field(default=None, description="Vertex's first suggestion.")


class DiscreteValueSpec(Model):
    values: list[float] = Field(description="The numbers to try, in increasing order.",
                                min_length=1, max_length=MAX_DISCRETE)
    default_value: float | None = Field(default=None, description="Vertex's first suggestion.")

    @field_validator("values", mode="before")
    @classmethod
    def _numbers_text(cls, value: Any) -> Any:
        if isinstance(value, list):
            for i, item in enumerate(value):
                try:
                    _yaml_number(item)
                except ValueError as exc:
                    raise FieldError((i,), str(exc)) from None
        return value

    @field_validator("values")
    @classmethod
    def _increasing(cls, value: list[float]) -> list[float]:
        for i in range(1, len(value)):
            if not value[i] > value[i - 1]:
                raise FieldError((i,), f"expected values in increasing order: {value[i]:g} "
                                 f"follows {value[i - 1]:g}")
        return value


class CategoricalValueSpec(Model):
    values: list[str] = Field(description="The values to try, passed as written.", min_length=1)
    default_value: str | None = Field(default=None, description="Vertex's first suggestion.")

    @field_validator("values", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # `[relu, 1]` reaches the trainer as text either way, as args do
        if isinstance(value, list):
            return [("true" if v else "false") if isinstance(v, bool) else
                    str(v) if isinstance(v, (int, float)) else v for v in value]
        return value

    @field_validator("values")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for i, item in enumerate(value):
            if item in seen:
                raise FieldError((i,), f"{item!r} is listed twice")
            if re.search(r"[\x00-\x1f\x7f]", item):
                raise FieldError((i,), f"expected one line of text, got {item!r}")
            seen.add(item)
        return value


_KINDS = ("double_value_spec", "integer_value_spec", "discrete_value_spec",
          "categorical_value_spec")


class ParameterSpec(Model):
    parameter_id: str = Field(
        description="The parameter's name: each trial gets it as the flag --PARAMETER_ID=VALUE.",
        json_schema_extra={"pattern": key_pattern(PARAMETER_RE)},
    )
    double_value_spec: DoubleValueSpec | None = Field(
        default=None, description="A real number between min_value and max_value.")
    integer_value_spec: IntegerValueSpec | None = Field(
        default=None, description="A whole number between min_value and max_value.")
    discrete_value_spec: DiscreteValueSpec | None = Field(
        default=None, description="One of a list of numbers.")
    categorical_value_spec: CategoricalValueSpec | None = Field(
        default=None, description="One of a list of values.")
    scale_type: Scale | None = Field(
        default=None, description="How the search spreads numbers: UNIT_LINEAR_SCALE, "
        "UNIT_LOG_SCALE or UNIT_REVERSE_LOG_SCALE (the last two need positive values).")

    @field_validator("parameter_id")
    @classmethod
    def _flag_name(cls, value: str) -> str:
        if not PARAMETER_RE.fullmatch(value):
            raise ValueError(f"expected a flag name (a letter, then letters, digits, '_' or "
                             f"'-', at most 64), got {value!r}: each trial gets "
                             "--PARAMETER_ID=VALUE")
        return value

    @property
    def kind(self) -> str:
        return next(k for k in _KINDS if getattr(self, k) is not None)

    @model_validator(mode="after")
    def _one_kind(self) -> ParameterSpec:
        given = [k for k in _KINDS if getattr(self, k) is not None]
        if not given:
            raise ValueError("a parameter needs its values: double_value_spec, "
                             "integer_value_spec, discrete_value_spec or categorical_value_spec")
        if len(given) > 1:
            raise FieldError((given[1],), f"{given[1]} and {given[0]} both give the values; "
                             "keep one")
        spec = getattr(self, given[0])
        if isinstance(spec, (DoubleValueSpec, IntegerValueSpec)):
            if not math.isfinite(spec.min_value) or not math.isfinite(spec.max_value):
                raise FieldError((given[0],), "expected finite numbers")
            if not spec.min_value < spec.max_value:
                raise FieldError((given[0], "max_value"), f"expected max_value above min_value "
                                 f"({spec.min_value:g}), got {spec.max_value:g}")
            if spec.default_value is not None and not (
                    spec.min_value <= spec.default_value <= spec.max_value):
                raise FieldError((given[0], "default_value"), "expected a default_value between "
                                 "min_value and max_value")
        if isinstance(spec, CategoricalValueSpec):
            if self.scale_type is not None:
                raise FieldError(("scale_type",), "a categorical parameter has no scale: "
                                 "remove scale_type")
            if spec.default_value is not None and spec.default_value not in spec.values:
                raise FieldError((given[0], "default_value"), "expected one of the values")
        if isinstance(spec, DiscreteValueSpec) and spec.default_value is not None and (
                spec.default_value not in spec.values):
            raise FieldError((given[0], "default_value"), "expected one of the values")
        if self.scale_type in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
            lowest = (spec.values[0] if isinstance(spec, DiscreteValueSpec) else spec.min_value)
            if lowest <= 0:
                where = (given[0], "values", 0) if isinstance(spec, DiscreteValueSpec) else (
                    given[0], "min_value")
                raise FieldError(where, f"{self.scale_type} needs values above 0, got "
                                 f"{lowest:g}")
        return self


class StoppingSpec(Model):
    use_elapsed_duration: bool = Field(
        default=False, description="Compare trials by elapsed time instead of steps.")


class Tuning(Model):
    metrics: list[MetricSpec] = Field(
        description="The metric to optimise: one entry (tag and goal).",
        min_length=1, max_length=1)
    parameters: list[ParameterSpec] = Field(description="The parameters to tune.", min_length=1)
    algorithm: Algorithm = Field(
        default="ALGORITHM_UNSPECIFIED",
        description="ALGORITHM_UNSPECIFIED (the service's default Bayesian search; locally "
        "Optuna's TPE, `pip install 'jobspec[tuning]'`), GRID_SEARCH or RANDOM_SEARCH.")
    max_trial_count: int = Field(description="How many trials in all.", ge=1, le=MAX_TRIALS)
    parallel_trial_count: int = Field(
        default=1, ge=1, description="Trials at a time (locally, `run --parallel` overrides).")
    max_failed_trial_count: int = Field(
        default=0, ge=0, description="The study fails when this many trials have failed "
        "(running ones are cancelled). 0: Vertex decides; locally, no limit.")
    measurement_selection_type: Literal["LAST_MEASUREMENT", "BEST_MEASUREMENT"] | None = Field(
        default=None, description="Which of a trial's reports counts: the last (the default) or "
        "the best.")
    decay_curve_stopping_spec: StoppingSpec | None = Field(
        default=None, description="Early stopping by the decay-curve rule (on Vertex).")
    median_automated_stopping_spec: StoppingSpec | None = Field(
        default=None, description="Early stopping by the median rule (on Vertex).")
    seed: int | None = Field(
        default=None, ge=0, description="Local searches only: the random seed; default: one "
        "derived from the spec's name, so a study repeats.")

    @model_validator(mode="after")
    def _study_can_run(self) -> Tuning:
        seen: dict[str, int] = {}
        for i, param in enumerate(self.parameters):
            key = param.parameter_id.replace("-", "_")
            if key in seen:
                raise FieldError(("parameters", i, "parameter_id"),
                                 f"parameter {param.parameter_id!r} is tuned twice (see "
                                 f"parameters[{seen[key]}])")
            seen[key] = i
            if key == "job_dir":
                raise FieldError(("parameters", i, "parameter_id"), "--job-dir is the "
                                 "target's job_dir, which every trial gets: tune another flag")
            if self.algorithm == "GRID_SEARCH" and param.double_value_spec is not None:
                raise FieldError(("parameters", i, "double_value_spec"),
                                 "GRID_SEARCH cannot search a continuous range: give the values "
                                 "to try with discrete_value_spec (or use RANDOM_SEARCH or the "
                                 "default algorithm)")
        if self.parallel_trial_count > self.max_trial_count:
            raise FieldError(("parallel_trial_count",), f"expected at most max_trial_count "
                             f"({self.max_trial_count}), got {self.parallel_trial_count}")
        if self.decay_curve_stopping_spec and self.median_automated_stopping_spec:
            raise FieldError(("median_automated_stopping_spec",), "one early-stopping rule at "
                             "most: decay_curve_stopping_spec or median_automated_stopping_spec")
        return self

    @property
    def metric(self) -> MetricSpec:
        return self.metrics[0]


def tuned_flag(arg: str, tuning: Tuning) -> str | None:
    """The parameter ``arg`` already passes (`--lr`, `--lr=0.1`), or None."""
    if not arg.startswith("--"):
        return None
    name = arg[2:].split("=", 1)[0]
    for param in tuning.parameters:
        if name == param.parameter_id:
            return param.parameter_id
    return None


def arg_collisions(tuning: Tuning, args: Sequence[str],
                   where: tuple[str | int, ...]) -> FieldError | None:
    """A FieldError at the first arg that already passes a tuned flag: the trial's own value
    would come second, and which one wins is up to the trainer's parser."""
    for i, arg in enumerate(args):
        name = tuned_flag(arg, tuning)
        if name is not None:
            return FieldError((*where, i), f"{arg!r} passes --{name}, which the study tunes "
                              f"(tuning.parameters): each trial gets --{name}=VALUE; remove it "
                              "from args")
    return None


def _number(value: float) -> float | int:
    return int(value) if float(value).is_integer() else value


def study_spec(tuning: Tuning) -> dict[str, Any]:
    """The aiplatform v1 StudySpec for ``tuning``: what a HyperparameterTuningJob's
    `studySpec` holds (int64 fields as strings, as the API's JSON form writes them)."""
    params: list[dict[str, Any]] = []
    for param in tuning.parameters:
        body: dict[str, Any] = {"parameterId": param.parameter_id}
        if param.double_value_spec is not None:
            d = param.double_value_spec
            body["doubleValueSpec"] = {"minValue": d.min_value, "maxValue": d.max_value,
                                       **({} if d.default_value is None else
                                          {"defaultValue": d.default_value})}
        elif param.integer_value_spec is not None:
            n = param.integer_value_spec
            body["integerValueSpec"] = {"minValue": str(n.min_value),
                                        "maxValue": str(n.max_value),
                                        **({} if n.default_value is None else
                                           {"defaultValue": str(n.default_value)})}
        elif param.discrete_value_spec is not None:
            s = param.discrete_value_spec
            body["discreteValueSpec"] = {"values": [_number(v) for v in s.values],
                                         **({} if s.default_value is None else
                                            {"defaultValue": _number(s.default_value)})}
        else:
            c = param.categorical_value_spec
            assert c is not None
            body["categoricalValueSpec"] = {"values": list(c.values),
                                            **({} if c.default_value is None else
                                               {"defaultValue": c.default_value})}
        if param.scale_type is not None:
            body["scaleType"] = param.scale_type
        params.append(body)
    spec: dict[str, Any] = {
        "metrics": [{"metricId": m.metric_id, "goal": m.goal} for m in tuning.metrics],
        "parameters": params,
        "algorithm": tuning.algorithm,
    }
    if tuning.measurement_selection_type is not None:
        spec["measurementSelectionType"] = tuning.measurement_selection_type
    if tuning.decay_curve_stopping_spec is not None:
        spec["decayCurveStoppingSpec"] = {
            "useElapsedDuration": tuning.decay_curve_stopping_spec.use_elapsed_duration}
    if tuning.median_automated_stopping_spec is not None:
        spec["medianAutomatedStoppingSpec"] = {
            "useElapsedDuration": tuning.median_automated_stopping_spec.use_elapsed_duration}
    return spec


def trial_counts(tuning: Tuning) -> dict[str, int]:
    """The HyperparameterTuningJob's own fields beside studySpec."""
    return {"maxTrialCount": tuning.max_trial_count,
            "parallelTrialCount": tuning.parallel_trial_count,
            "maxFailedTrialCount": tuning.max_failed_trial_count}
