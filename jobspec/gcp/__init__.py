"""The only package that imports google.*; every import is lazy, so local commands never pay.

transport: timeouts, the requests session that never re-sends, the whole-answer watchdog.
clients: credentials, connect() and the storage, Vertex AI, Logging, Cloud Build and Artifact
Registry clients.
failures: what an exception from a google client means (classify), storage retries.
billing: the Cloud Billing Catalog (cloudbilling v1): a service's public SKUs, every page
(imported as jobspec.gcp.billing by `jobspec prices --refresh` only).
Imports go one way: clients and failures use transport, nothing uses them but this file.
"""

from __future__ import annotations

from jobspec.gcp.clients import Clients, adc_project, all_loopback, connect, logging_endpoint
from jobspec.gcp.failures import (
    Failure,
    api_errors,
    classify,
    status_of,
    storage_errors,
    storage_retry,
)
from jobspec.gcp.transport import (
    HTTP_TIMEOUT,
    MAX_PAGES,
    STORAGE_DEADLINE,
    BadAnswer,
    DeadlineExceeded,
    http_timeout,
    max_pages,
    operation_deadline,
    storage_deadline,
    user_agent,
)

__all__ = [
    "HTTP_TIMEOUT", "MAX_PAGES", "STORAGE_DEADLINE", "BadAnswer", "Clients", "DeadlineExceeded",
    "Failure", "adc_project", "all_loopback", "api_errors", "classify", "connect",
    "http_timeout", "logging_endpoint", "max_pages", "operation_deadline", "status_of",
    "storage_deadline", "storage_errors", "storage_retry", "user_agent",
]
