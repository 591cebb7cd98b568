"""The searches of a local study: grid and random, exact and seeded; the default Bayesian
search through Optuna's TPE sampler (the optional extra `jobspec[tuning]`).

A search suggests one trial's values at a time and is told each trial's outcome, always from
one thread (the study's main thread). Values are Python numbers or text; `flag_value` is how a
trial receives them.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Sequence
from typing import Any, Protocol

from jobspec.errors import UsageError
from jobspec.tuning import ParameterSpec, Tuning

Values = dict[str, Any]  # parameter_id -> float | int | str


class Search(Protocol):
    def suggest(self) -> Values | None:
        """The next trial's values; None when the search has nothing left (a grid's end)."""

    def report(self, values: Values, metric: float | None) -> None:
        """A trial's outcome: its metric, or None when it failed."""


def name_seed(name: str) -> int:
    """The seed of a study whose tuning block gives none: from its name, so it repeats."""
    return int(hashlib.sha256(name.encode()).hexdigest()[:8], 16)


def flag_value(value: Any) -> str:
    """The text after --PARAM=: integers as integers (also a discrete 32.0), reals in Python's
    shortest exact form, text as it is."""
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)
    return str(value)


def _choices(param: ParameterSpec) -> Sequence[Any]:
    """A non-continuous parameter's values, in order (a range is not materialised)."""
    if param.integer_value_spec is not None:
        return range(param.integer_value_spec.min_value, param.integer_value_spec.max_value + 1)
    if param.discrete_value_spec is not None:
        return param.discrete_value_spec.values
    assert param.categorical_value_spec is not None
    return param.categorical_value_spec.values


class Grid:
    """Every combination of the values, the last parameter changing fastest, up to
    max_trial_count of them."""

    def __init__(self, tuning: Tuning) -> None:
        self.ids = [p.parameter_id for p in tuning.parameters]
        self.axes = [_choices(p) for p in tuning.parameters]
        self.size = math.prod(len(a) for a in self.axes)
        self.next = 0

    def suggest(self) -> Values | None:
        if self.next >= self.size:
            return None
        index, values = self.next, []
        for axis in reversed(self.axes):
            index, digit = divmod(index, len(axis))
            values.append(axis[digit])
        self.next += 1
        return dict(zip(self.ids, reversed(values), strict=True))

    def report(self, values: Values, metric: float | None) -> None:
        return None


def _scaled(rng: random.Random, low: float, high: float, scale: str | None) -> float:
    if scale == "UNIT_LOG_SCALE":
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scale == "UNIT_REVERSE_LOG_SCALE":  # dense near the top: the log scale, mirrored
        return low + high - math.exp(rng.uniform(math.log(low), math.log(high)))
    return rng.uniform(low, high)


class RandomSearch:
    """Each value drawn on its own, by its scale, from a random.Random(seed)."""

    def __init__(self, tuning: Tuning, seed: int) -> None:
        self.params = tuning.parameters
        self.rng = random.Random(seed)

    def suggest(self) -> Values | None:
        out: Values = {}
        for param in self.params:
            if param.double_value_spec is not None:
                d = param.double_value_spec
                value: Any = min(max(_scaled(self.rng, d.min_value, d.max_value,
                                             param.scale_type), d.min_value), d.max_value)
            elif param.integer_value_spec is not None:
                n = param.integer_value_spec
                if param.scale_type in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE"):
                    drawn = _scaled(self.rng, n.min_value - 0.5 + 1e-9 if n.min_value > 0.5
                                    else n.min_value, n.max_value + 0.5, param.scale_type)
                    value = min(max(round(drawn), n.min_value), n.max_value)
                else:
                    value = self.rng.randint(n.min_value, n.max_value)
            else:
                value = self.rng.choice(list(_choices(param)))
            out[param.parameter_id] = value
        return out

    def report(self, values: Values, metric: float | None) -> None:
        return None


class Bayesian:
    """Optuna's TPE sampler through its ask-and-tell interface. Pending trials are taken into
    account (constant liar), so parallel trials do not all ask for the same point."""

    def __init__(self, tuning: Tuning, seed: int) -> None:
        optuna = load_optuna()
        self.optuna = optuna
        self.tuning = tuning
        startup = max(2, min(10, tuning.max_trial_count // 3))
        import warnings

        with warnings.catch_warnings():  # constant_liar is marked experimental
            warnings.simplefilter("ignore")
            sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                                 constant_liar=True)
        goal = tuning.metric.goal
        self.study = optuna.create_study(
            direction="maximize" if goal == "MAXIMIZE" else "minimize", sampler=sampler)
        self.distributions = {p.parameter_id: self._distribution(p) for p in tuning.parameters}
        self.asked: dict[int, Any] = {}

    def _distribution(self, param: ParameterSpec) -> Any:
        dist = self.optuna.distributions
        log = param.scale_type in ("UNIT_LOG_SCALE", "UNIT_REVERSE_LOG_SCALE")
        if param.double_value_spec is not None:
            d = param.double_value_spec
            return dist.FloatDistribution(d.min_value, d.max_value, log=log)
        if param.integer_value_spec is not None:
            n = param.integer_value_spec
            return dist.IntDistribution(n.min_value, n.max_value, log=log)
        if param.discrete_value_spec is not None:  # by position: the values are ordered
            return dist.IntDistribution(0, len(param.discrete_value_spec.values) - 1)
        assert param.categorical_value_spec is not None
        return dist.CategoricalDistribution(list(param.categorical_value_spec.values))

    def _value(self, param: ParameterSpec, raw: Any) -> Any:
        if param.discrete_value_spec is not None:
            return param.discrete_value_spec.values[raw]
        if param.scale_type == "UNIT_REVERSE_LOG_SCALE":
            spec = param.double_value_spec or param.integer_value_spec
            assert spec is not None
            return spec.min_value + spec.max_value - raw
        return raw

    def suggest(self) -> Values | None:
        trial = self.study.ask(self.distributions)
        values = {p.parameter_id: self._value(p, trial.params[p.parameter_id])
                  for p in self.tuning.parameters}
        self.asked[id(values)] = trial
        return values

    def report(self, values: Values, metric: float | None) -> None:
        trial = self.asked.pop(id(values), None)
        if trial is None:
            return
        if metric is None or not math.isfinite(metric):
            self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
        else:
            self.study.tell(trial, metric)


def load_optuna() -> Any:
    """Optuna, quiet; a UsageError naming the extra when it is not installed."""
    try:
        import optuna
    except ImportError:
        raise UsageError(
            "the default algorithm (Bayesian search) runs locally with Optuna, which is not "
            "installed", hint="pip install 'jobspec[tuning]' (or set tuning.algorithm to "
            "RANDOM_SEARCH or GRID_SEARCH)") from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def make_search(tuning: Tuning, seed: int) -> Search:
    if tuning.algorithm == "GRID_SEARCH":
        return Grid(tuning)
    if tuning.algorithm == "RANDOM_SEARCH":
        return RandomSearch(tuning, seed)
    return Bayesian(tuning, seed)
