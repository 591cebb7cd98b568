"""Census income classifier: `python -m trainer.task --train-files F --eval-files F [...]`.

Logistic regression on the UCI Adult census rows, trained with mini-batch SGD in
numpy, deterministic for the same inputs and flags. Files may be local paths or
gs:// URLs (several may follow --train-files / --eval-files).

Where outputs go (only the chief writes; see below):
- model.json (weights plus the feature vocabulary and normalisation) goes to
  AIP_MODEL_DIR when that is set and non-empty (Vertex sets it to <base>/model/),
  else to <--job-dir>/model/. Both give the layout <base>/model/model.json.
- metrics.json goes to --job-dir when given, else to the parent of AIP_MODEL_DIR,
  so it lands at <base>/metrics.json, beside model/, in both cases.
- With neither --job-dir nor AIP_MODEL_DIR the run trains, evaluates and says that
  it writes nothing.
Local folders are created as needed; gs:// objects are uploaded.

Distributed runs: TF_CONFIG (JSON) is read if present. The chief is the task of
type "chief" or "master", or the only task when "task" is empty or absent. Other
workers and evaluators train and print the same lines but write nothing. A "ps"
task has nothing to serve, so it prints one line and waits, like a parameter
server, until it is stopped (SIGTERM ends it with exit 0).

Hyperparameter tuning: the chief reports its eval accuracy (tag "accuracy") with Google's
cloudml-hypertune when that library is installed, as Vertex AI's and jobspec's studies read it
(the file named by CLOUD_ML_HP_METRIC_FILE); without it the run is the same, minus the report.

Exit codes: 0 success, 1 unreadable or malformed input or output, 2 bad flags.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any

from trainer import model as m
from trainer import storage

CHIEF_TYPES = ("chief", "master")


@dataclass(frozen=True)
class Role:
    type: str
    index: int

    @property
    def is_chief(self) -> bool:
        return self.type in CHIEF_TYPES

    def __str__(self) -> str:
        return f"{self.type} {self.index}"


def read_role(tf_config: str | None) -> Role:
    if not tf_config or not tf_config.strip():
        return Role("chief", 0)
    try:
        config = json.loads(tf_config)
    except json.JSONDecodeError as exc:
        raise m.DataError(f"TF_CONFIG is not valid JSON: {exc}") from None
    task = config.get("task") if isinstance(config, dict) else None
    if not task:
        return Role("chief", 0)
    if not isinstance(task, dict) or not isinstance(task.get("type"), str):
        raise m.DataError(f"TF_CONFIG task has no type: {task!r}")
    return Role(task["type"], int(task.get("index", 0)))


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be greater than 0: {text!r}")
        return value

    parse.__name__ = kind.__name__
    return parse


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="trainer.task", description=__doc__.splitlines()[0])
    parser.add_argument("--train-files", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--eval-files", nargs="+", required=True, metavar="PATH")
    parser.add_argument("--job-dir", help="where metrics.json (and model/) are written")
    parser.add_argument("--train-steps", type=_positive(int), default=1000)
    parser.add_argument(
        "--eval-steps", type=_positive(int), default=None, help="batches to evaluate (all)"
    )
    parser.add_argument("--learning-rate", type=_positive(float), default=0.1)
    parser.add_argument("--batch-size", type=_positive(int), default=128)
    return parser.parse_args(argv)


def output_dirs(job_dir: str | None, aip_model_dir: str | None) -> tuple[str, str] | None:
    """(model dir, metrics dir) by the rule in the module docstring; None: write nothing."""
    if aip_model_dir:
        return aip_model_dir, job_dir or storage.parent(aip_model_dir)
    if job_dir:
        return storage.join(job_dir, "model"), job_dir
    return None


def load(paths: list[str]) -> list[m.Row]:
    rows: list[m.Row] = []
    for path in paths:
        rows.extend(m.parse_rows(storage.read_text(path), path))
    return rows


def wait_as_parameter_server(role: Role) -> int:
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    print(f"{role}: a numpy model has no shared variables to serve; waiting to be stopped")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def train_and_evaluate(args: argparse.Namespace, role: Role) -> int:
    dirs = output_dirs(args.job_dir, os.environ.get("AIP_MODEL_DIR"))
    train_rows = load(args.train_files)
    eval_rows = load(args.eval_files)
    if args.eval_steps is not None:
        eval_rows = eval_rows[: args.eval_steps * args.batch_size]
    print(f"{role}: {len(train_rows)} training rows, {len(eval_rows)} eval rows", flush=True)

    features = m.Features.fit(train_rows)
    train_x, train_y = features.transform(train_rows), m.labels(train_rows)
    eval_x, eval_y = features.transform(eval_rows), m.labels(eval_rows)
    classifier = m.LogisticRegression.untrained(train_x.shape[1])
    classifier.fit(
        train_x,
        train_y,
        steps=args.train_steps,
        batch_size=args.batch_size,
        learning_rate=args.learning_rate,
        report=lambda step, loss: print(f"step {step} loss {loss:.4f}", flush=True),
    )

    scores = classifier.predict(eval_x)
    auc = m.auc(scores, eval_y)
    metrics = {
        "accuracy": m.accuracy(scores, eval_y),
        "auc": None if math.isnan(auc) else auc,
        "baseline_accuracy": m.majority_accuracy(train_y, eval_y),
        "eval_loss": m.log_loss(scores, eval_y),
        "train_rows": len(train_rows),
        "eval_rows": len(eval_rows),
        "steps": args.train_steps,
    }
    print(f"baseline accuracy {metrics['baseline_accuracy']:.4f}", flush=True)
    print(f"eval accuracy {metrics['accuracy']:.4f} auc {auc:.4f}", flush=True)
    if role.is_chief:
        report_metric("accuracy", metrics["accuracy"], args.train_steps)

    if not role.is_chief:
        print(f"{role}: not the chief, writing nothing", flush=True)
    elif dirs is None:
        print("no --job-dir and no AIP_MODEL_DIR: writing nothing", flush=True)
    else:
        model_dir, metrics_dir = dirs
        for directory, name, content in (
            (model_dir, "model.json", m.model_json(features, classifier)),
            (metrics_dir, "metrics.json", metrics),
        ):
            path = storage.join(directory, name)
            storage.write_text(path, json.dumps(content, indent=1) + "\n")
            print(f"wrote {path}", flush=True)
    return 0


def report_metric(tag: str, value: float, step: int) -> None:
    """The metric for a tuning study, through cloudml-hypertune when it is installed."""
    try:
        import hypertune
    except ImportError:
        return
    hypertune.HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag=tag, metric_value=value, global_step=step)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        role = read_role(os.environ.get("TF_CONFIG"))
        if role.type == "ps":
            return wait_as_parameter_server(role)
        return train_and_evaluate(args, role)
    except (m.DataError, storage.StorageError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
