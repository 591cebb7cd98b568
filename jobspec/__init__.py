"""jobspec: a version-controlled YAML job file, run locally or on Vertex AI."""

from __future__ import annotations

__version__ = "0.1.0"
