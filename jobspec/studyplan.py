"""A local study's plan: light data, like the other plans (jobspec/plandata.py).

The trials' values are not known when planning (a Bayesian search picks each from the results
so far), so the plan holds one run's plan and the study's settings; each trial is that run with
the trial's flags, name, job dir and hypertune environment (jobspec/study.py `trial_plan`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jobspec.plandata import LocalPlan


@dataclass(frozen=True)
class StudyPlan:
    study: str  # the spec's name; trials are STUDY_trial_N
    run: LocalPlan  # one trial's run, without the trial's flags
    tuning: dict[str, Any]  # the tuning block, as the spec's model dumps it
    seed: int
    seed_from: str  # "tuning.seed" or "the study's name"
    notes: tuple[str, ...] = ()  # warnings of the study itself
    kind: str = "study"

    @property
    def name(self) -> str:
        return self.study

    @property
    def target(self) -> str:
        return self.run.target

    @property
    def warnings(self) -> tuple[str, ...]:
        return (*self.run.warnings, *self.notes)
