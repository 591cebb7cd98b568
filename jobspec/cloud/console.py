"""Links to a job's or a build's page in the Google Cloud console, made from resource names
alone (no request, no credentials).

Sources, read 2026-11-27:
- The Vertex SDK (google-cloud-aiplatform, google/cloud/aiplatform/jobs.py, `_Job._dashboard_uri`)
  builds `https://console.cloud.google.com/ai/platform/locations/{location}/{_job_type}/{job}
  ?project={project}`, with `_job_type = "training"` for a CustomJob and location, project and
  job parsed from the resource name (so the project is the number Vertex puts there). Its
  `HyperparameterTuningJob` has the same `_job_type = "training"`, so a tuning job's page is
  the same path with the tuning job's id (`.../training/{id}`, not a separate
  `hyperparameter-tuning-jobs/` path, which no source checked shows). On
  2026-04-29, after Vertex AI became Gemini Enterprise Agent Platform (2026-04-22), the SDK
  moved that path prefix from `ai/platform` to `agent-platform`; nothing else changed.
- Cloud Build: gcloud prints a build's log page as `https://console.cloud.google.com/
  cloud-build/builds;region={region}/{build_id}?project={project number}`; the Build resource
  (cloudbuild v1 discovery document, revision 20261029) is named
  `projects/{project}/locations/{location}/builds/{build}`.

`?project=` takes a project id or number: the links keep whichever the resource name carries.
"""

from __future__ import annotations

import re
from urllib.parse import quote

CONSOLE = "https://console.cloud.google.com"

_SEGMENT = r"[^/?#;\s]+"
_CUSTOM_JOB = re.compile(rf"projects/({_SEGMENT})/locations/({_SEGMENT})/"
                         rf"(?:customJobs|hyperparameterTuningJobs)/({_SEGMENT})")
_BUILD = re.compile(rf"projects/({_SEGMENT})/locations/({_SEGMENT})/builds/({_SEGMENT})")


def _q(segment: str) -> str:
    return quote(segment, safe="-_.~")


def job_link(resource: str | None) -> str | None:
    """`projects/P/locations/R/customJobs/ID` (or `hyperparameterTuningJobs/ID`) -> its
    console page; None for anything else
    (no job yet, or a name of another shape: a link is a courtesy, never an error)."""
    found = _CUSTOM_JOB.fullmatch(resource or "")
    if found is None:
        return None
    project, region, job = found.groups()
    return (f"{CONSOLE}/agent-platform/locations/{_q(region)}/training/{_q(job)}"
            f"?project={_q(project)}")


def build_link(resource: str | None) -> str | None:
    """`projects/P/locations/R/builds/ID` (a Build's `name`) -> its console page, else None."""
    found = _BUILD.fullmatch(resource or "")
    if found is None:
        return None
    project, region, build = found.groups()
    return f"{CONSOLE}/cloud-build/builds;region={_q(region)}/{_q(build)}?project={_q(project)}"
