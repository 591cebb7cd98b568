"""What Vertex AI reports back about a job's options, for `status`: the interactive shell's
URIs (CustomJob.webAccessUris), and the scheduling the job asked for and got (the jobSpec's
Scheduling as the service echoes it: a CustomJob's `jobSpec`, a HyperparameterTuningJob's
`trialJobSpec`, which every trial runs; and how long the job waited between its createTime and
startTime). aiplatform v1 (revision 20261106) has no field counting restarts or preemptions:
those are only in the job's logs (`jobspec logs`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

_STRATEGY_WORDS = {"STANDARD": "ON_DEMAND", "ON_DEMAND": "ON_DEMAND"}


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def waited_seconds(job: dict[str, Any]) -> float | None:
    """Seconds between creation and the job's first RUNNING: the wait for its machines."""
    created, started = _time(job.get("createTime")), _time(job.get("startTime"))
    if created is None or started is None:
        return None
    return max(0.0, (started - created).total_seconds())


def _duration(text: Any) -> str:
    """A google-duration ("14400s") as people read it: 4h, 90m, 45s."""
    if not isinstance(text, str) or not text.endswith("s"):
        return str(text)
    try:
        total = float(text[:-1])
    except ValueError:
        return text
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if total >= size and total % size == 0:
            return f"{int(total // size)}{unit}"
    return f"{total:g}s"


def _scheduling(job: dict[str, Any]) -> dict[str, Any]:
    """The job's Scheduling: its jobSpec's, or its trials' (a tuning job has no jobSpec)."""
    spec = job.get("jobSpec") or job.get("trialJobSpec")
    scheduling = spec.get("scheduling") if isinstance(spec, dict) else None
    return scheduling if isinstance(scheduling, dict) else {}


def reported(job: dict[str, Any]) -> dict[str, Any]:
    """The option-related facts of a job, for `status --json`."""
    out: dict[str, Any] = {}
    scheduling = _scheduling(job)
    if scheduling:
        out["scheduling"] = scheduling
    waited = waited_seconds(job)
    if waited is not None:
        out["waitedSeconds"] = round(waited, 3)
    uris = job.get("webAccessUris")
    if isinstance(uris, dict) and uris:
        out["webAccessUris"] = {str(k): str(v) for k, v in sorted(uris.items())}
    return out


def reported_lines(job: dict[str, Any]) -> list[str]:
    """The same, as `status` lines."""
    lines = []
    scheduling = _scheduling(job)
    parts = []
    if scheduling.get("strategy"):
        strategy = str(scheduling["strategy"])
        parts.append(_STRATEGY_WORDS.get(strategy, strategy))
    if scheduling.get("maxWaitDuration"):
        parts.append(f"max wait {_duration(scheduling['maxWaitDuration'])}")
    if scheduling.get("timeout"):
        parts.append(f"timeout {_duration(scheduling['timeout'])}")
    if scheduling.get("restartJobOnWorkerRestart"):
        parts.append("whole job restarts when a worker restarts")
    if scheduling.get("disableRetries"):
        parts.append("no retries")
    if parts:
        lines.append(f"  schedule {', '.join(parts)}")
    state = str(job.get("state", ""))
    waited = waited_seconds(job)
    if waited is not None:
        lines.append(f"  waited   {waited:.0f} s for its machines (created to running)")
    elif state in ("JOB_STATE_QUEUED", "JOB_STATE_PENDING"):
        lines.append("  waiting  for its machines"
                     + (" (flex-start queues until all are free)"
                        if scheduling.get("strategy") == "FLEX_START" else ""))
    uris = job.get("webAccessUris")
    if isinstance(uris, dict) and uris:
        for node, uri in sorted(uris.items()):
            lines.append(f"  shell    {node}  {uri}")
    return lines
