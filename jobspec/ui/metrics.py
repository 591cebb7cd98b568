"""Metrics a run reported, as series over steps (for the page's plots) and plain values.

Two sources, both read as data, never run:
- the JSON metrics a trainer writes to its job dir (`metrics.json`): an object of values (a
  number is a value; a list of numbers is a series over steps 1..N), a list of objects with a
  `step` or `global_step`, or JSON lines of such objects;
- a cloudml-hypertune metric file (the file `CLOUD_ML_HP_METRIC_FILE` names): JSON lines like
  `{"global_step": "1000", "accuracy": "0.85", "timestamp": 1525851440.1, "trial": "3"}`, the
  values written as strings (DESIGN.md, "cloudml-hypertune").
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from jobspec.fileread import read_regular

MAX_METRICS = 4 << 20  # a metrics file jobspec reads for a plot: a few KB, bounded anyway
_STEP_KEYS = ("step", "global_step")
_NOT_METRICS = {"timestamp", "trial", "step", "global_step"}

Series = dict[str, list[list[float]]]


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _points(records: list[Any], series: Series) -> None:
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            continue
        step = next((_number(record[k]) for k in _STEP_KEYS if k in record), None)
        at = float(index + 1) if step is None else step
        for key, value in record.items():
            number = _number(value)
            if number is not None and str(key) not in _NOT_METRICS:
                series.setdefault(str(key), []).append([at, number])


def _line(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return None


def parse(text: str) -> tuple[Series, dict[str, float]]:
    """(series by name: [[step, value], ...] in step order, values by name) from the text of a
    metrics file in any of the shapes above. Text that is none of them gives nothing."""
    data: Any
    try:
        data = json.loads(text)
    except ValueError:  # JSON lines (hypertune's own format)
        data = [_line(line) for line in text.splitlines()]
    except RecursionError:
        return {}, {}
    return from_data(data)


def from_data(data: Any) -> tuple[Series, dict[str, float]]:
    """parse(), of JSON already read (a metrics.json object in a bucket)."""
    series: Series = {}
    values: dict[str, float] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            number = _number(value) if not isinstance(value, str) else None
            if number is not None:
                values[str(key)] = number
            elif isinstance(value, list):
                points = [[float(i + 1), n] for i, v in enumerate(value)
                          if (n := _number(v)) is not None and not isinstance(v, str)]
                if points:
                    series[str(key)] = points
    elif isinstance(data, list):
        _points(data, series)
    for points in series.values():
        points.sort(key=lambda p: p[0])
    return series, values


def read(path: Path) -> tuple[Series, dict[str, float]] | None:
    """The metrics in PATH, or None when there is no such regular file (or it cannot be read)."""
    try:
        raw = read_regular(path, MAX_METRICS)
    except (OSError, ValueError):
        return None
    return parse(raw.decode("utf-8", errors="replace"))
