"""A HyperparameterTuningJob as jobspec shows it: each trial's state as it changes while
following, the trials as a table with the best one marked, and the best trial itself.

Facts used (aiplatform v1 discovery document, revision 20261106, read 2026-11-27): a
HyperparameterTuningJob has `studySpec.metrics[]` ({metricId, goal: MAXIMIZE | MINIMIZE}) and
`trials[]`, each with `id`, `state` (REQUESTED, ACTIVE, STOPPING, SUCCEEDED, INFEASIBLE),
`parameters[]` ({parameterId, value}), `finalMeasurement` ({stepCount, metrics[]: {metricId,
value}}) and `infeasibleReason`. The service hands each trial its values as command-line
flags and reads the metric the trainer reports with cloudml-hypertune.
"""

from __future__ import annotations

from typing import Any

from jobspec.output import current


def _trials(job: dict[str, Any]) -> list[dict[str, Any]]:
    trials = job.get("trials")
    if not isinstance(trials, list):
        return []
    return [t for t in trials if isinstance(t, dict) and isinstance(t.get("id"), str)]


def objective(job: dict[str, Any]) -> tuple[str, str] | None:
    """(metricId, goal) of the study's first metric, None when the job does not say."""
    metrics = (job.get("studySpec") or {}).get("metrics") or []
    first = metrics[0] if metrics and isinstance(metrics[0], dict) else {}
    metric = first.get("metricId")
    return (str(metric), str(first.get("goal", ""))) if metric else None


def _value(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def parameters(trial: dict[str, Any]) -> str:
    """"learning_rate=0.01 steps=20", as the trial's flags carried them."""
    return " ".join(f"{p.get('parameterId')}={_value(p.get('value'))}"
                    for p in trial.get("parameters") or [] if isinstance(p, dict))


def metric(trial: dict[str, Any], metric_id: str | None) -> float | None:
    """The trial's final value of the study's metric (its only metric when none is named)."""
    final = trial.get("finalMeasurement") or {}
    for item in final.get("metrics") or []:
        if isinstance(item, dict) and (metric_id is None or item.get("metricId") == metric_id):
            try:
                return float(item.get("value", 0.0))  # proto3 JSON omits a value of 0
            except (TypeError, ValueError):
                return None
    return None


def best(job: dict[str, Any]) -> dict[str, Any] | None:
    """The succeeded trial with the best final metric for the study's goal."""
    wanted = objective(job)
    metric_id, goal = wanted if wanted else (None, "MAXIMIZE")
    scored = [(value, t) for t in _trials(job) if t.get("state") == "SUCCEEDED"
              and (value := metric(t, metric_id)) is not None]
    if not scored:
        return None
    pick = min if goal == "MINIMIZE" else max
    return pick(scored, key=lambda pair: pair[0])[1]


def _metric_text(job: dict[str, Any], trial: dict[str, Any]) -> str:
    wanted = objective(job)
    value = metric(trial, wanted[0] if wanted else None)
    if value is None:
        return ""
    return f"{wanted[0] if wanted else 'metric'}={value:g}"


def trial_line(job: dict[str, Any], trial: dict[str, Any]) -> str:
    """`trial 3: SUCCEEDED (learning_rate=0.1 steps=20) accuracy=0.91`."""
    text = f"trial {trial['id']}: {trial.get('state', 'STATE_UNSPECIFIED')}"
    params = parameters(trial)
    if params:
        text += f" ({params})"
    shown = _metric_text(job, trial)
    if shown:
        text += f" {shown}"
    reason = trial.get("infeasibleReason")
    if reason and trial.get("state") == "INFEASIBLE":
        text += f": {reason}"
    return text


def best_line(job: dict[str, Any]) -> str:
    top = best(job)
    wanted = objective(job)
    if top is None:
        return "best trial: none (no trial succeeded with a metric)"
    goal = f", {wanted[1].lower()}d" if wanted and wanted[1] in ("MAXIMIZE", "MINIMIZE") else ""
    return f"best trial: {top['id']} ({parameters(top)}) {_metric_text(job, top)}{goal}"


def table_lines(job: dict[str, Any], indent: str = "") -> list[str]:
    """The trials, one row each, the best marked with '*'."""
    top = best(job)
    wanted = objective(job)
    rows = [("*" if top is not None and t["id"] == top["id"] else "", t["id"],
             t.get("state", ""), parameters(t) or "-",
             (f"{v:g}" if (v := metric(t, wanted[0] if wanted else None)) is not None else "-"))
            for t in _trials(job)]
    if not rows:
        return [f"{indent}no trials yet"]
    head = ("", "TRIAL", "STATE", "PARAMETERS", (wanted[0] if wanted else "METRIC").upper())
    return current().table(rows, head, indent=indent)


def summary(job: dict[str, Any]) -> dict[str, Any]:
    """The study's trials and best trial, for `status --json` and `run --json`."""
    top = best(job)
    return {"trials": [{"id": t["id"], "state": t.get("state"), "parameters": parameters(t),
                        "metric": metric(t, (objective(job) or (None,))[0])}
                       for t in _trials(job)],
            "best_trial": top["id"] if top is not None else None}


class TrialWatch:
    """Reports each trial's state once per change while a tuning job is followed."""

    def __init__(self, display: str) -> None:
        self.display = display
        self.seen: dict[str, str] = {}

    def update(self, job: dict[str, Any]) -> None:
        from jobspec.secrets import mask

        for trial in _trials(job):
            state = str(trial.get("state", ""))
            if self.seen.get(trial["id"]) != state:
                self.seen[trial["id"]] = state
                current().info(mask(f"{self.display}: {trial_line(job, trial)}"))

    def finish(self, job: dict[str, Any]) -> None:
        """At the end: the trial table and the best trial."""
        self.update(job)
        out = current()
        if out.as_json:
            return  # `run --json` carries summary() in its outcome
        for line in table_lines(job):
            out.print(line)
        out.print(best_line(job))
