"""Census rows -> features -> logistic regression, with numpy only.

Numeric columns are standardised with the training set's mean and standard
deviation; categorical columns are one-hot over the training set's vocabulary,
so an unseen or missing (`?`) value encodes as all zeros.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

COLUMNS = (
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
)  # fmt: skip
LABEL = "income_bracket"
POSITIVE = ">50K"
LABELS = ("<=50K", POSITIVE)
NUMERIC = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
# fnlwgt is the census sampling weight, not a trait of the person: not a feature.
CATEGORICAL = (
    "workclass", "education", "marital_status", "occupation", "relationship", "race",
    "gender", "native_country",
)  # fmt: skip
MISSING = "?"
SEED = 20240131
FORMAT = "jobspec-census-logreg/1"

Row = dict[str, str]


class DataError(Exception):
    """The input is not census data; the message says where."""


def parse_rows(text: str, source: str) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        fields = [field.strip() for field in line.split(",")]
        if len(fields) != len(COLUMNS):
            raise DataError(f"{source}:{number}: expected 15 fields, found {len(fields)}")
        row = dict(zip(COLUMNS, fields, strict=True))
        # the original UCI test file writes labels with a trailing period
        row[LABEL] = row[LABEL].rstrip(".")
        if row[LABEL] not in LABELS:
            raise DataError(f"{source}:{number}: label {row[LABEL]!r} is not <=50K or >50K")
        for name in NUMERIC:
            if row[name] != MISSING:
                try:
                    float(row[name])
                except ValueError:
                    raise DataError(
                        f"{source}:{number}: {name} {row[name]!r} is not a number"
                    ) from None
        rows.append(row)
    if not rows:
        raise DataError(f"{source}: no data rows")
    return rows


def labels(rows: list[Row]) -> np.ndarray:
    return np.array([row[LABEL] == POSITIVE for row in rows], dtype=np.float64)


@dataclass(frozen=True)
class Features:
    means: dict[str, float]
    stds: dict[str, float]
    vocab: dict[str, list[str]]

    @classmethod
    def fit(cls, rows: list[Row]) -> Features:
        means, stds = {}, {}
        for name in NUMERIC:
            values = _numeric(rows, name)
            present = values[~np.isnan(values)]
            means[name] = float(present.mean()) if present.size else 0.0
            std = float(present.std()) if present.size else 0.0
            stds[name] = std if std > 0 else 1.0
        vocab = {name: sorted({row[name] for row in rows} - {MISSING}) for name in CATEGORICAL}
        return cls(means, stds, vocab)

    @property
    def names(self) -> list[str]:
        return list(NUMERIC) + [f"{n}={v}" for n in CATEGORICAL for v in self.vocab[n]]

    def transform(self, rows: list[Row]) -> np.ndarray:
        blocks = []
        for name in NUMERIC:
            values = (_numeric(rows, name) - self.means[name]) / self.stds[name]
            blocks.append(np.nan_to_num(values, nan=0.0)[:, None])
        for name in CATEGORICAL:
            index = {value: i for i, value in enumerate(self.vocab[name])}
            onehot = np.zeros((len(rows), len(index)))
            for r, row in enumerate(rows):
                column = index.get(row[name])
                if column is not None:
                    onehot[r, column] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks)

    def to_json(self) -> dict[str, Any]:
        return {
            "numeric": {n: {"mean": self.means[n], "std": self.stds[n]} for n in NUMERIC},
            "categorical": self.vocab,
        }


def _numeric(rows: list[Row], name: str) -> np.ndarray:
    return np.array(
        [np.nan if row[name] == MISSING else float(row[name]) for row in rows], dtype=np.float64
    )


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # equal to 1/(1+e^-z), without overflow


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass
class LogisticRegression:
    weights: np.ndarray
    bias: float = 0.0

    @classmethod
    def untrained(cls, n_features: int) -> LogisticRegression:
        return cls(weights=np.zeros(n_features))

    def predict(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(x @ self.weights + self.bias)

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        *,
        steps: int,
        batch_size: int,
        learning_rate: float,
        report: Callable[[int, float], None],
        every: int = 100,
    ) -> None:
        """Mini-batch SGD over reshuffled epochs; `report(step, mean loss since last)`."""
        rng = np.random.default_rng(SEED)
        order = rng.permutation(len(y))
        cursor, window = 0, []
        for step in range(1, steps + 1):
            if cursor + batch_size > len(order):
                order, cursor = rng.permutation(len(y)), 0
            batch = order[cursor : cursor + batch_size]
            cursor += batch_size
            p = self.predict(x[batch])
            window.append(log_loss(p, y[batch]))
            error = p - y[batch]
            self.weights -= learning_rate * (x[batch].T @ error) / len(batch)
            self.bias -= learning_rate * float(error.mean())
            if step % every == 0 or step == steps:
                report(step, float(np.mean(window)))
                window = []


def accuracy(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p >= 0.5) == (y == 1)))


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    """Area under the ROC curve from ranks (Mann-Whitney U); ties share their mean rank."""
    positives = int(y.sum())
    negatives = len(y) - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    values, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    mean_rank = ends - (counts - 1) / 2.0  # ranks start at 1
    rank_sum = float(mean_rank[inverse][y == 1].sum())
    return (rank_sum - positives * (positives + 1) / 2.0) / (positives * negatives)


def majority_accuracy(train_y: np.ndarray, eval_y: np.ndarray) -> float:
    """Accuracy on eval of always answering the training set's majority class."""
    majority = 1.0 if train_y.mean() > 0.5 else 0.0
    return float(np.mean(eval_y == majority))


def model_json(features: Features, model: LogisticRegression) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "label": {"column": LABEL, "positive": POSITIVE},
        "features": features.to_json(),
        "feature_names": features.names,
        "weights": [float(w) for w in model.weights],
        "bias": model.bias,
    }
