"""Where a cloud target runs: its project, region and endpoints (jobspec.context decides from
the spec, the environment and gcloud's files), with Application Default Credentials asked for
a project only when nothing else names one. Used by the planner, `--container` and
`jobspec build`, which must agree on it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.context import CloudContext


def cloud_context(target: Any, env: Mapping[str, str]) -> CloudContext:
    from jobspec.context import for_target

    where = for_target(target, env)
    if where.project is None:
        from jobspec import gcp

        where = where.with_adc(*gcp.adc_project(env, where.aiplatform))
    return where
