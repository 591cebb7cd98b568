"""Tuning studies on the page (issue 13: `jobspec run` with a `tuning:` block).

The jobs table groups a study's trials under the study as it groups a matrix sweep's members:
`local_studies` gives each local study as a group (kind "study", members its trials' run
names). A study's own page (its trials with their parameters and metric, the metric per trial
plotted, the best trial marked) is `study_page`'s data, drawn by `renderStudy` in
static/app.js.

Both read the study record through jobspec.studyrecord (`read_study`, `study_rows`); local
studies are run, and their records written, by jobspec/study.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jobspec.errors import JobspecError


def local_studies(root: Path) -> list[dict[str, Any]]:
    """Each local study as a group of the jobs table: name, kind, members (its trials' run
    names, in trial order), created, state."""
    from jobspec.studyrecord import read_study, study_rows

    groups = []
    for row in study_rows(root):
        try:
            data = read_study(root, row["name"])
        except JobspecError:
            continue
        if data is None:
            continue
        trials = [t for t in data["trials"] if isinstance(t, dict)]
        groups.append({"name": row["name"], "kind": "study",
                       "members": [str(t.get("name")) for t in trials],
                       "created": data.get("created"), "state": data.get("state")})
    return groups


def study_page(root: Path, name: str) -> dict[str, Any] | None:
    """The study page's data: its metric and goal, parameters, state and reason, the trials
    ({"id", "name", "parameters", "metric", "state", "reason"}) and the best trial's id; None
    when NAME is no local study."""
    from jobspec.studyrecord import read_study

    try:
        data = read_study(root, name)
    except JobspecError:
        return None
    if data is None:
        return None
    found = data.get("metric")
    metric: dict[str, Any] = found if isinstance(found, dict) else {}
    trials = [{key: t.get(key) for key in ("id", "name", "parameters", "metric", "state",
                                           "reason", "start", "end")}
              for t in data["trials"] if isinstance(t, dict)]
    return {"metric": metric.get("metric_id"), "goal": metric.get("goal"),
            "parameters": [str(p) for p in data.get("parameters") or []],
            "algorithm": data.get("algorithm"), "state": data.get("state"),
            "reason": data.get("reason"), "best": data.get("best"), "trials": trials}
