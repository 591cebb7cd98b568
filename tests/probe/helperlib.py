"""A repo-level helper module that the probe package imports but does not declare."""

from __future__ import annotations

ANSWER = 42
