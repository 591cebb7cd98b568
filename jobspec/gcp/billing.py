"""The Cloud Billing Catalog (cloudbilling v1): the public SKUs of one service, every page.

Endpoint: https://cloudbilling.googleapis.com/, or CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING
as gcloud names it. Credentials: google.auth.default(); anonymous only for a loopback endpoint.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

from jobspec.errors import CloudError
from jobspec.gcp.transport import _SessionHttp, max_pages

BILLING_OVERRIDE = "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDBILLING"
BILLING_ENDPOINT = "https://cloudbilling.googleapis.com/"


def billing_endpoint(env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return env.get(BILLING_OVERRIDE) or BILLING_ENDPOINT


def _credentials(endpoint: str) -> Any:
    from jobspec.gcp.clients import _auth_reason, _credentials_error, _is_loopback

    if _is_loopback(endpoint):
        from google.auth.credentials import AnonymousCredentials

        return AnonymousCredentials()  # type: ignore[no-untyped-call]
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        credentials, _ = google.auth.default(
            scopes=["https://www.googleapis.com/auth/cloud-platform"])
    except DefaultCredentialsError as exc:
        raise _credentials_error(os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"),
                                 _auth_reason(exc)) from None
    return credentials


def _client(endpoint: str) -> Any:
    from googleapiclient.discovery import build

    return build("cloudbilling", "v1", static_discovery=True,
                 http=_SessionHttp(_credentials(endpoint)),
                 client_options={"api_endpoint": endpoint})


def _pages(request: Any, next_page: Any, key: str, what: str) -> Iterator[dict[str, Any]]:
    for _ in range(max_pages()):
        if request is None:
            return
        answer = request.execute(num_retries=3)
        if not isinstance(answer, dict):
            raise CloudError(f"the Cloud Billing Catalog answered {what} with no JSON object")
        yield from answer.get(key, [])
        request = next_page(request, answer)
    raise CloudError(f"the Cloud Billing Catalog's {what} went on past {max_pages()} pages")


def service_skus(display_name: str, env: Mapping[str, str] | None = None
                 ) -> tuple[str, list[dict[str, Any]]]:
    """The service id named display_name (e.g. "Vertex AI") and all its public SKUs."""
    from jobspec.gcp.failures import api_errors, classify

    endpoint = billing_endpoint(env)
    try:
        client = _client(endpoint)
        try:
            services = client.services()
            found = [s for s in _pages(services.list(pageSize=5000), services.list_next,
                                       "services", "services.list")
                     if s.get("displayName") == display_name]
            if not found:
                raise CloudError(f"the Cloud Billing Catalog at {endpoint} lists no service "
                                 f"named {display_name!r}")
            parent = str(found[0]["name"])
            skus = services.skus()
            return parent, list(_pages(skus.list(parent=parent, pageSize=5000), skus.list_next,
                                       "skus", "services.skus.list"))
        finally:
            client.close()
    except api_errors() as exc:
        failure = classify(exc)
        reason = failure.message if failure else f"{type(exc).__name__}: {exc}"
        hint = ("enable the Cloud Billing API (cloudbilling.googleapis.com) for your "
                "credentials' project" if failure and failure.status in (403, 404) else None)
        raise CloudError(f"cannot read the Cloud Billing Catalog at {endpoint}: {reason}",
                         hint=hint) from None
