"""`gcloud ai hp-tuning-jobs create --config FILE`: a tuning job's config read as a cloud target
(its trialJobSpec, as `ai custom-jobs create` maps its config) plus a tuning block (its
studySpec and trial counts, jobspec/importer/tuning.py)."""

from __future__ import annotations

from typing import Any

from jobspec.importer import config, vertex
from jobspec.importer.draft import Draft, PoolSpec
from jobspec.importer.flags import Parsed
from jobspec.importer.tuning import HP_JOB_KEYS, _number, _snake, study_spec
from jobspec.located import Loc


def hp_tuning_job(parsed: Parsed, draft: Draft) -> None:
    """`gcloud ai hp-tuning-jobs create --config FILE ...`: the file's trialJobSpec as the
    cloud target (as `ai custom-jobs create` maps its config), its studySpec and trial counts
    as the tuning block; --max-trial-count, --parallel-trial-count and --algorithm override the
    file, as in gcloud (whose defaults are 1, 1 and the file's or the service's algorithm)."""
    from jobspec.errors import UsageError

    word = parsed.one("--config")
    if word is None:
        raise UsageError(f"`{parsed.command}` needs --config (gcloud requires it too)")
    conf = config._File(word, draft)
    job = conf.mapping(conf.tree, Loc(conf.file, 1, 1), "", HP_JOB_KEYS)
    tuning: dict[str, Any] = {}
    pools: list[PoolSpec] = []
    for key in job:
        if key == "studySpec":
            tuning.update(study_spec(conf, job[key], job.val_locs[key], key))
        elif key in ("maxTrialCount", "parallelTrialCount", "maxFailedTrialCount"):
            tuning[_snake(key)] = _number(conf, job, key, "", whole=True)
        elif key == "trialJobSpec":
            pools = config.custom_job_spec_node(conf, job[key], job.val_locs[key], key)
        elif key == "labels":
            draft.target["labels"] = conf.labels(job, key)
        elif key == "displayName":
            draft.notes.append(f"{conf.where(job, key, '')} is ignored: --display-name wins, "
                               "as in gcloud")
        else:  # encryptionSpec
            conf.unsupported(job, key, "", "the spec has no customer-managed encryption key "
                             "setting")
    if "studySpec" not in job:
        raise conf.fail(Loc(conf.file, 1, 1), "studySpec", "missing: a tuning job's config "
                        "holds its studySpec")
    for flag, key in (("--max-trial-count", "max_trial_count"),
                      ("--parallel-trial-count", "parallel_trial_count")):
        if (given := parsed.one(flag)) is not None:
            tuning[key] = vertex._count(given.text, flag, 1)
        else:
            tuning.setdefault(key, 1)  # gcloud's default
    if (given := parsed.one("--algorithm")) is not None:
        tuning["algorithm"] = given.text.strip().upper().replace("-", "_")
    draft.tuning = tuning
    vertex.custom_job(parsed, draft, config_pools=pools)
