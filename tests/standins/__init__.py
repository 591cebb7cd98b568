"""Loopback stand-ins for the cloud target, used by the tests only (never shipped).

GcsEmulator: fake-gcs-server. VertexStandin: Vertex AI customJobs + Cloud Logging + ML v1.
"""

from __future__ import annotations

from ._http import ApiError, Fault, Faults, RequestRecord
from .gcs import GcsEmulator, GcsError
from .vertex import TERMINAL, VertexStandin

__all__ = ["ApiError", "Fault", "Faults", "GcsEmulator", "GcsError", "RequestRecord",
           "TERMINAL", "VertexStandin"]
