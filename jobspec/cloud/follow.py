"""Follow a cloud job: state changes and its log lines, until it ends (or Ctrl-C)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Any

from jobspec.cloud.logs import LogTail, task_of, text_of, trial_of
from jobspec.cloud.vertex import TERMINAL, Vertex, collection_of, job_id, short_state
from jobspec.errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK
from jobspec.output import current
from jobspec.secrets import Secrets, known, mask
from jobspec.states import SUCCEEDED


def poll_bounds() -> tuple[float, float]:
    """2–10 s against the real service; tests and benchmarks shorten it through the env."""
    low = float(os.environ.get("JOBSPEC_POLL_MIN", "2"))
    high = float(os.environ.get("JOBSPEC_POLL_MAX", "10"))
    return low, max(low, high)


def info(message: str) -> None:
    current().info(mask(message))


def print_entries(entries: Iterable[dict[str, Any]], secrets: Sequence[str] | Secrets = (),
                  prefix: str = "") -> int:
    """Print each entry as `[prefix][trial N ]task | line`, or under --json as one JSON line
    per line {"task", "text"} (and "trial" for a tuning trial's line); secret values are
    masked (those given, and those of every plan made in this process)."""
    count = 0
    masking = (secrets if isinstance(secrets, Secrets) else Secrets.of(secrets)) | known()
    out = current()
    for entry in entries:
        text = masking.mask(text_of(entry).rstrip("\n"))
        trial = trial_of(entry)
        for line in text.splitlines() or [""]:
            if out.as_json:
                out.json_line({"task": f"{prefix}{task_of(entry)}", "text": line}
                              | ({"trial": trial} if trial else {}))
            else:
                at = f"trial {trial} " if trial else ""
                out.print(f"{prefix}{at}{task_of(entry)} | {line}")
        count += 1
    return count


def follow(vertex: Vertex, logging_api: Any, project: str, job_name: str, display: str, *,
           cancel_on_interrupt: bool = False, show_states: bool = True,
           secrets: Sequence[str] | Secrets = (), bucket: str,
           final: dict[str, Any] | None = None) -> int:
    """final: filled with the job as the service last reported it (its times, for the cost)."""
    tail = LogTail(logging_api, project, job_id(job_name))
    low, high = poll_bounds()
    interval = low
    state = None
    job: dict[str, Any] = {}
    trials = None  # a tuning job's trials, reported as they change
    if collection_of(job_name) == "hyperparameterTuningJobs":
        from jobspec.cloud.tuning import TrialWatch

        trials = TrialWatch(display) if show_states else None
    try:
        while True:
            job = vertex.get(job_name)
            if trials is not None and job.get("state") in TERMINAL:
                trials.update(job)  # its last trials end before the study does
            changed = job.get("state") != state
            if changed:
                state = job.get("state")
                if show_states:
                    info(f"{display}: {short_state(str(state))}")
            if trials is not None:
                trials.update(job)
            printed = print_entries(tail.fetch(), secrets)
            if state in TERMINAL:
                drain(tail, low, secrets)
                if trials is not None:
                    trials.finish(job)
                if final is not None:
                    final.update(job)
                if show_states:
                    say_cost(display, job)
                break
            interval = low if (printed or changed) else min(interval * 1.5, high)
            time.sleep(interval)
    except KeyboardInterrupt:
        if cancel_on_interrupt:
            vertex.cancel(job_name)
            info(f"interrupted: cancel requested for {display} ({job_name})")
        else:
            from jobspec.places import followup

            follow_it = followup("logs", display, bucket, "--follow")
            cancel_it = followup("cancel", display, bucket)
            info(f"interrupted: stopped following; {display} keeps running. Follow it with "
                 f"`{follow_it}`, stop it with `{cancel_it}`")
        return EXIT_INTERRUPTED
    if state == SUCCEEDED:
        return EXIT_OK
    masking = (secrets if isinstance(secrets, Secrets) else Secrets.of(secrets)) | known()
    error = masking.mask((job.get("error") or {}).get("message", ""))
    info(f"{display} ended {short_state(str(state))}" + (f": {error}" if error else ""))
    return EXIT_JOB_FAILED


def say_cost(display: str, job: dict[str, Any]) -> None:
    """The running time and estimated cost of a job that ended (jobspec.prices)."""
    from jobspec.prices import job_cost
    from jobspec.prices_text import cost_text

    found = job_cost(job)
    if found is not None:
        info(f"{display} {cost_text(found)}")


def drain(tail: LogTail, pause: float, secrets: Sequence[str] | Secrets,
          prefix: str = "") -> None:
    """Logging can trail the job's state: read until a fetch brings nothing new."""
    for _ in range(5):
        time.sleep(min(pause, 1.0))
        if not print_entries(tail.fetch(), secrets, prefix):
            return
