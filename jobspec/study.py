"""A hyperparameter study on this machine: trials suggested by the search (jobspec/search.py),
each a normal local run (its own record, output prefixed by trial), N at a time, the study's
record (jobspec/studyrecord.py) written as they end.

Each trial gets what a Vertex AI trial gets: `--PARAM=VALUE` flags after all the trainer's args,
`--job-dir` included (Vertex appends them to the container's args, and a trial's args are the
single job's, which end with `--job-dir`), CLOUD_ML_TRIAL_ID, and CLOUD_ML_HP_METRIC_FILE, which
cloudml-hypertune writes its JSON lines to; here that file is in the trial's own run record, and the
trial's metric is the last (or, with BEST_MEASUREMENT, the best) value of the metric's tag in
it. A trial that ends without reporting the metric failed: a tag typo shows at once.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from jobspec.errors import EXIT_INTERRUPTED, EXIT_JOB_FAILED, EXIT_OK, JobspecError, UsageError
from jobspec.output import current, in_context
from jobspec.plandata import LocalPlan
from jobspec.records import Records, Run, StateDir, utc_now, write_json
from jobspec.search import Values, flag_value, make_search
from jobspec.studyplan import StudyPlan
from jobspec.studyrecord import (
    Trial,
    best_trial,
    metric_text,
    say,
    study_file,
    trial_name,
    trial_table,
    write_study,
)

METRIC_FILE = "output.metrics"  # cloudml-hypertune's own default file name
MAX_METRIC_FILE = 1 << 20  # the library keeps its last 100 reports: a few kB


def trial_plan(run: LocalPlan, study: str, trial_id: int, values: Values,
               metric_file: Path) -> LocalPlan:
    """RUN as trial TRIAL_ID: the flags after every arg, as Vertex appends them; its own job dir
    JOB_DIR/TRIAL_ID and the AIP_*_DIR variables under it, and the hypertune environment. Vertex
    gives each trial's CustomJob "a subdirectory of name id" of the tuning job's
    baseOutputDirectory, and AIP_MODEL_DIR = BASE/TRIAL_ID/model/ (aiplatform v1 discovery
    document, CustomJobSpec.baseOutputDirectory, read 2026-11-27); here --job-dir follows it
    too, so two trials at once never write one folder (nor take one job-dir lock)."""
    flags = tuple(f"--{k}={flag_value(v)}" for k, v in values.items())
    job_dir = f"{run.job_dir.rstrip('/')}/{trial_id}" if run.job_dir else None
    processes = []
    for proc in run.processes:
        argv = proc.argv
        if run.job_dir:
            assert argv[-2:] == ("--job-dir", run.job_dir), argv
            argv = (*argv[:-2], "--job-dir", str(job_dir), *flags)
        else:
            argv = (*argv, *flags)
        env = {**proc.env, "CLOUD_ML_TRIAL_ID": str(trial_id),
               "CLOUD_ML_HP_METRIC_FILE": str(metric_file)}
        if job_dir:
            from jobspec.plan import aip_env

            env.update(aip_env(job_dir))
        if "TF_CONFIG" in proc.env:
            config = json.loads(proc.env["TF_CONFIG"])
            args = list(config.get("job", {}).get("args", []))
            if run.job_dir and args[-2:] == ["--job-dir", run.job_dir]:
                args = [*args[:-2], "--job-dir", str(job_dir), *flags]
            else:
                args += flags
            config.setdefault("job", {})["args"] = args
            if config.get("task"):  # a cluster's task: with its trial, as ML Engine gave it.
                # An empty task stays empty (gcloud's single process): trainers read a task
                # that is not empty as one with a type.
                config["task"]["trial"] = str(trial_id)
            env["TF_CONFIG"] = json.dumps(config)
        processes.append(dataclasses.replace(proc, argv=argv, env=env))
    return dataclasses.replace(run, name=trial_name(study, trial_id), job_dir=job_dir,
                               processes=tuple(processes))


def read_metric(path: Path, tag: str, best: str | None) -> tuple[float | None, str | None]:
    """(the trial's metric, None) or (None, why there is none) from cloudml-hypertune's file.
    ``best``: "MAXIMIZE"/"MINIMIZE" to take the best report, None for the last."""
    try:
        with path.open("rb") as fh:
            text = fh.read(MAX_METRIC_FILE).decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None, f"reported no metric (no {METRIC_FILE}: cloudml-hypertune was not called)"
    except OSError as exc:
        return None, f"its metric file cannot be read: {exc.strerror}"
    values: list[float] = []
    tags: set[str] = set()
    for line in text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, dict):
            continue
        tags.update(k for k in entry if k not in ("timestamp", "trial", "global_step",
                                                  "checkpoint_path"))
        if tag in entry:
            try:
                value = float(entry[tag])
            except (TypeError, ValueError):
                continue
            if math.isfinite(value):
                values.append(value)
    if not values:
        other = f" (it reported {', '.join(sorted(tags))})" if tags else ""
        return None, f"reported no finite value of metric {tag!r}{other}"
    if best == "MAXIMIZE":
        return max(values), None
    if best == "MINIMIZE":
        return min(values), None
    return values[-1], None


class _Started(Records):
    """Records whose next start is a run already made: the trial's folder had to exist before
    its plan, which names the metric file inside it."""

    def __init__(self, run: Run, root: Path) -> None:
        super().__init__(root)
        self.run = run

    def start(self, name: str, plan: dict[str, Any]) -> Run:
        write_json(self.run.folder / "plan.json", plan)
        return self.run


class Study:
    def __init__(self, plan: StudyPlan, parallel: int) -> None:
        from jobspec.tuning import Tuning

        self.plan = plan
        self.tuning = Tuning.model_validate(plan.tuning)
        self.parallel = parallel
        self.root = Path(plan.run.project_root)
        self.records = StateDir(self.root).records()
        self.trials: list[Trial] = []
        self.state = "running"
        self.reason: str | None = None
        self.created = utc_now()
        self.lock = threading.Lock()
        self.unsaved = False
        self.path = study_file(self.root, plan.study)

    # --- the record ---------------------------------------------------------------------

    def data(self) -> dict[str, Any]:
        metric = self.tuning.metric
        best = best_trial(self.trials, metric.goal)
        return {"kind": "study", "study": self.plan.study, "target": self.plan.target,
                "spec": self.plan.run.spec_path, "state": self.state, "reason": self.reason,
                "algorithm": self.tuning.algorithm, "seed": self.plan.seed,
                "seed_from": self.plan.seed_from,
                "metric": {"metric_id": metric.metric_id, "goal": metric.goal},
                "parameters": [p.parameter_id for p in self.tuning.parameters],
                "max_trial_count": self.tuning.max_trial_count,
                "parallel_trial_count": self.parallel,
                "max_failed_trial_count": self.tuning.max_failed_trial_count,
                "created": self.created, "pid": os.getpid(),
                "best": None if best is None else best.id,
                "trials": [t.data(self.plan.study) for t in self.trials]}

    def save(self) -> None:
        """Write the study record; a folder that cannot be written is said once, and the study
        goes on (its trials keep their own records)."""
        with self.lock:
            data = self.data()
            try:
                write_study(self.path, data)
            except OSError as exc:
                if not self.unsaved:
                    current().warn(f"cannot write the study record {self.path}: "
                                   f"{exc.strerror}; `status {self.plan.study}` will not see it")
                self.unsaved = True

    # --- one trial, in a worker thread ---------------------------------------------------

    def run_trial(self, trial: Trial, interrupt: Any) -> None:
        from jobspec.local import execute

        name = trial_name(self.plan.study, trial.id)
        label = f"trial {trial.id}"
        run: Run | None = None
        try:
            if interrupt.requested.is_set():
                trial.state, trial.reason = "stopped", "not started: the study was stopped"
                return
            try:
                run = self.records.start(name, {"kind": "local", "name": name,
                                                "target": self.plan.target})
            except OSError as exc:
                raise UsageError(f"cannot record trial {trial.id} under "
                                 f"{self.records.root}: {exc.strerror}") from None
            trial.record, trial.start, trial.state = str(run.folder), utc_now(), "running"
            self.save()
            plan = trial_plan(self.plan.run, self.plan.study, trial.id, trial.values,
                              run.folder / METRIC_FILE)
            shown = " ".join(f"--{k}={flag_value(v)}" for k, v in trial.values.items())
            say(f"{label}: starting {name} {shown}")
            run.set_status(trial={"study": self.plan.study, "id": trial.id})
            code = execute(plan, records=_Started(run, self.records.root), label=label,
                           interrupt=interrupt)
        except JobspecError as exc:
            from jobspec.secrets import mask

            current().failure(exc, mask)
            code = exc.exit_code
            if run is not None and run.status().get("state") == "running":
                run.set_status(state="failed", end=utc_now(), jobspec_exit=code)
        trial.end = utc_now()
        trainer = run.status().get("exit_code") if run is not None else None
        trial.exit_code = trainer if isinstance(trainer, int) and not isinstance(
            trainer, bool) else None
        if code == EXIT_INTERRUPTED:
            trial.state, trial.reason = "stopped", "stopped with the study"
        elif code != EXIT_OK:
            trial.state = "failed"
            trial.reason = (f"the trainer exited with code {trial.exit_code}"
                            if trial.exit_code not in (None, 0) else f"jobspec exit {code}")
        else:
            assert run is not None
            metric = self.tuning.metric
            best = metric.goal if self.tuning.measurement_selection_type == (
                "BEST_MEASUREMENT") else None
            trial.metric, why = read_metric(run.folder / METRIC_FILE, metric.metric_id, best)
            trial.state, trial.reason = ("succeeded", None) if why is None else ("failed", why)
        if run is not None:
            run.set_status(trial={"study": self.plan.study, "id": trial.id,
                                  "state": trial.state, "metric": trial.metric})
        outcome = (f"{metric_text(trial.metric)} ({self.tuning.metric.metric_id})"
                   if trial.state == "succeeded" else f"{trial.state}: {trial.reason}")
        say(f"{label}: {outcome}")

    # --- the study, in the main thread ---------------------------------------------------

    def execute(self) -> int:
        from jobspec.local import Interrupt, Stop, install_sigterm

        if self.parallel > 1 and len(self.plan.run.processes) > 1:
            raise UsageError("trials of a distributed run cannot run at once: their ports "
                             "would collide", hint="use --parallel 1, or drop the "
                             "distributed block")
        search = make_search(self.tuning, self.plan.seed)  # Optuna missing: exit 2 here
        tuning = self.tuning
        seed = ("" if tuning.algorithm == "GRID_SEARCH" else
                f", seed {self.plan.seed} (from {self.plan.seed_from})")
        algorithm = {"ALGORITHM_UNSPECIFIED": "Bayesian search (Optuna TPE)",
                     "GRID_SEARCH": "grid search", "RANDOM_SEARCH": "random search"}
        say(f"study {self.plan.study}: up to {tuning.max_trial_count} trials, "
            f"{algorithm[tuning.algorithm]}{seed}, {self.parallel} at a time; "
            f"{tuning.metric.goal.lower()} {tuning.metric.metric_id}")
        size = getattr(search, "size", None)
        if isinstance(size, int) and size < tuning.max_trial_count:
            say(f"the grid has {size} points: the study runs {size} trials, not "
                f"max_trial_count {tuning.max_trial_count}")
        self.save()
        interrupt = Interrupt()
        restore = install_sigterm()
        pool = ThreadPoolExecutor(max_workers=self.parallel)
        running: dict[Future[None], Trial] = {}
        stopping = False
        ended = False
        try:
            while True:
                try:
                    while not stopping and len(running) < self.parallel and (
                            len(self.trials) < tuning.max_trial_count):
                        values = search.suggest()
                        if values is None:
                            break
                        trial = Trial(id=len(self.trials) + 1, values=values)
                        self.trials.append(trial)
                        running[pool.submit(in_context(self.run_trial), trial,
                                            interrupt)] = trial
                    if not running:
                        break
                    done = wait(running, timeout=0.1, return_when=FIRST_COMPLETED).done
                    for future in done:
                        trial = running.pop(future)
                        future.result()
                        search.report(trial.values, trial.metric
                                      if trial.state == "succeeded" else None)
                        self.save()
                        if not stopping and self._budget_spent():
                            stopping = True
                            failed = sum(t.state == "failed" for t in self.trials)
                            self.state = "failed"
                            self.reason = (f"{failed} trials failed (max_failed_trial_count "
                                           f"{tuning.max_failed_trial_count})")
                            say(f"study {self.plan.study}: {self.reason}; stopping"
                                + (" the running trials" if running else ""))
                            interrupt.requested.set()
                except (KeyboardInterrupt, Stop):
                    stopping = True
                    self.state, self.reason = "interrupted", "interrupted"
                    if interrupt.again():
                        say("interrupted; stopping every trial of the study (interrupt again "
                            "to kill them at once)")
            ended = True
        finally:
            interrupt.requested.set()
            pool.shutdown(wait=True)
            restore()
            if self.state == "running" and not ended:
                self.state = "interrupted"  # an error on the way: never left "running"
            self.save()
        return self._finish()

    def _budget_spent(self) -> bool:
        budget = self.tuning.max_failed_trial_count
        return budget > 0 and sum(t.state == "failed" for t in self.trials) >= budget

    def _finish(self) -> int:
        if self.state == "running":
            if any(t.state == "succeeded" for t in self.trials):
                self.state = "succeeded"
            else:
                self.state, self.reason = "failed", "no trial reported its metric"
        self.save()
        out = current()
        if out.as_json:
            out.emit_json({**self.data(), "exit_code": self.exit_code()})
        else:
            for line in trial_table(self.data()):
                out.print(line)
        return self.exit_code()

    def exit_code(self) -> int:
        return {"succeeded": EXIT_OK, "interrupted": EXIT_INTERRUPTED}.get(self.state,
                                                                           EXIT_JOB_FAILED)


def plan_data(plan: StudyPlan) -> dict[str, Any]:
    """`plan --json` of a study: its settings, and the first trial's run as an example."""
    from jobspec.render import plan_json
    from jobspec.tuning import Tuning, study_spec, trial_counts

    tuning = Tuning.model_validate(plan.tuning)
    values = {p.parameter_id: "VALUE" for p in tuning.parameters}
    example = trial_plan(plan.run, plan.study, 1, values,
                         Path(plan.run.project_root) / ".jobspec" / "runs" /
                         trial_name(plan.study, 1) / "TIMESTAMP" / METRIC_FILE)
    return {"kind": "study", "study": plan.study, "target": plan.target,
            "seed": plan.seed, "seed_from": plan.seed_from, "warnings": list(plan.warnings),
            "study_spec": study_spec(tuning), **trial_counts(tuning),
            "trial": plan_json(example)}


def plan_text(plan: StudyPlan) -> str:
    from jobspec.render import plan_text as run_text

    data = plan_data(plan)
    spec = data["study_spec"]
    lines = [f"study       {plan.study}: {data['maxTrialCount']} trials, "
             f"{data['parallelTrialCount']} at a time, {spec['algorithm']}"
             + ("" if spec["algorithm"] == "GRID_SEARCH" else
                f", seed {plan.seed} (from {plan.seed_from})"),
             f"metric      {spec['metrics'][0]['goal'].lower()} {spec['metrics'][0]['metricId']}"
             f" (reported with cloudml-hypertune)"]
    lines += [f"warning     {w}" for w in plan.notes]
    for param in spec["parameters"]:
        kind = next(k for k in param if k.endswith("ValueSpec"))
        lines.append(f"parameter   --{param['parameterId']}: {kind} "
                     f"{json.dumps(param[kind])} {param.get('scaleType', '')}".rstrip())
    from jobspec.tuning import Tuning

    values = {p.parameter_id: "VALUE" for p in Tuning.model_validate(plan.tuning).parameters}
    example = trial_plan(plan.run, plan.study, 1, values,
                         Path("<trial record>") / METRIC_FILE)
    lines += ["", "=== each trial (trial 1 shown) ===", run_text(example)]
    return "\n".join(lines)


def execute_study(plan: StudyPlan, parallel: int | None) -> int:
    """`run` of a spec with a tuning block on a local target. PARALLEL: --parallel when given
    (1 included), else tuning.parallel_trial_count."""
    if parallel is None:
        parallel = int(plan.tuning.get("parallel_trial_count") or 1)
    return Study(plan, parallel).execute()


__all__ = ["StudyPlan", "execute_study", "read_metric", "trial_plan"]

