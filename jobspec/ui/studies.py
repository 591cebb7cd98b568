"""The hook for tuning studies (issue 13: `jobspec run` with a `tuning:` block).

The jobs table already groups a study's trials under the study as it groups a matrix sweep's
members: any record in .jobspec/groups/ (or a cloud group record) is a group, and its `kind`
(a study's record says "study") is shown. What a study's own page adds (the trials table with
parameters and metric, the metric per trial plotted, the best trial marked) comes from
`study_page`: it returns None until the study record's format is settled, and the page then
shows the group's members as it does for a matrix sweep. On the page, `renderStudy` in
static/app.js is the matching hook.
"""

from __future__ import annotations

from typing import Any


def study_page(group: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The study page's data for GROUP (a group record whose kind is "study") and the rows of
    its trials: {"metric", "goal", "trials": [{"name", "parameters", "metric", "state"}],
    "best"}. None: not known yet, show the group as a group."""
    del group, rows
    return None
