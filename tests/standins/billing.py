"""A Cloud Billing Catalog (cloudbilling v1) stand-in over real HTTP: services.list and
services.skus.list, paginated with pageSize/pageToken as the real API does.

SKU documents have the shape of Google's reference (cloud.google.com/billing/v1/how-tos/
catalog-api, and the Sku schema of the discovery document google-api-python-client ships):
name, skuId, description, category {serviceDisplayName, resourceFamily, resourceGroup,
usageType}, serviceRegions, pricingInfo [{effectiveTime, summary, pricingExpression {usageUnit,
usageUnitDescription, baseUnit, baseUnitDescription, baseUnitConversionFactor, displayQuantity,
tieredRates [{startUsageAmount, unitPrice {currencyCode, units (an int64 string), nanos}}]},
aggregationInfo, currencyConversionRate}], serviceProviderName. Every answer is checked against
that document's schemas before it is sent, so a stand-in drifting from the API fails loudly.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from ._http import ApiError
from ._schema import discovery

VERTEX_SERVICE = {"name": "services/C7E2-9256-1C43", "serviceId": "C7E2-9256-1C43",
                  "displayName": "Vertex AI", "businessEntityName": "businessEntities/GCP"}
OTHER_SERVICES = [
    {"name": "services/6F81-5844-456A", "serviceId": "6F81-5844-456A",
     "displayName": "Compute Engine", "businessEntityName": "businessEntities/GCP"},
    {"name": "services/95FF-2EF5-5EA1", "serviceId": "95FF-2EF5-5EA1",
     "displayName": "Cloud Storage", "businessEntityName": "businessEntities/GCP"},
]


def money(usd: float) -> dict[str, Any]:
    units = int(usd)
    return {"currencyCode": "USD", "units": str(units), "nanos": round((usd - units) * 1e9)}


def sku(sku_id: str, description: str, regions: list[str], usd: float, *, unit: str = "h",
        usage: str = "OnDemand", family: str = "Compute", free_tier: bool = False
        ) -> dict[str, Any]:
    """One SKU document as the catalog returns it (free_tier: a zero-priced first tier)."""
    unit_text = {"h": "hour", "GiBy.mo": "gibibyte month"}.get(unit, unit)
    tiers = ([{"startUsageAmount": 0, "unitPrice": money(0.0)}] if free_tier else []) + [
        {"startUsageAmount": 1 if free_tier else 0, "unitPrice": money(usd)}]
    return {
        "name": f"services/{VERTEX_SERVICE['serviceId']}/skus/{sku_id}", "skuId": sku_id,
        "description": description,
        "category": {"serviceDisplayName": "Vertex AI", "resourceFamily": family,
                     "resourceGroup": "Training", "usageType": usage},
        "serviceRegions": regions,
        "pricingInfo": [{
            "summary": "", "effectiveTime": "2026-11-27T08:00:00.000Z",
            "pricingExpression": {
                "usageUnit": unit, "usageUnitDescription": unit_text, "baseUnit": "s",
                "baseUnitDescription": "second", "baseUnitConversionFactor": 3600,
                "displayQuantity": 1, "tieredRates": tiers},
            "aggregationInfo": {"aggregationLevel": "ACCOUNT", "aggregationInterval": "MONTHLY",
                                "aggregationCount": 1},
            "currencyConversionRate": 1}],
        "serviceProviderName": "Google",
    }


class _Checker:
    """Answers checked against the discovery document's schemas: known fields, right types."""

    def __init__(self) -> None:
        self.schemas = discovery("cloudbilling.v1")["schemas"]

    def check(self, value: Any, ref: str, where: str) -> None:
        schema = self.schemas[ref]
        if not isinstance(value, dict):
            raise AssertionError(f"{where}: not an object")
        for key, item in value.items():
            prop = schema["properties"].get(key)
            if prop is None:
                raise AssertionError(f"{where}.{key}: not a field of {ref}")
            self._value(item, prop, f"{where}.{key}")

    def _value(self, item: Any, prop: dict[str, Any], where: str) -> None:
        if "$ref" in prop:
            self.check(item, prop["$ref"], where)
        elif prop.get("type") == "array":
            assert isinstance(item, list), where
            for i, each in enumerate(item):
                self._value(each, prop["items"], f"{where}[{i}]")
        elif prop.get("type") == "string":
            assert isinstance(item, str), f"{where}: {item!r} is not a string"  # int64 too
        elif prop.get("type") == "integer":
            assert isinstance(item, int), f"{where}: {item!r} is not an integer"
        elif prop.get("type") == "number":
            assert isinstance(item, (int, float)), f"{where}: {item!r} is not a number"


class BillingStandin:
    """services.list and services.skus.list on 127.0.0.1; `requests` records every path."""

    def __init__(self, skus: list[dict[str, Any]], *, page_size: int = 2,
                 services: list[dict[str, Any]] | None = None) -> None:
        self.skus = skus
        self.services = services if services is not None else [*OTHER_SERVICES, VERTEX_SERVICE]
        self.page_size = page_size  # the server's own limit: small, so pages really happen
        self.requests: list[str] = []
        self.fail: ApiError | None = None
        self.checker = _Checker()
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802 - http.server naming
                standin.requests.append(self.path)
                try:
                    status, body = 200, standin.answer(self.path)
                except ApiError as exc:
                    status, body = exc.code, exc.body()
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, path: str) -> dict[str, Any]:
        if self.fail is not None:
            raise self.fail
        url = urlparse(path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        if url.path == "/v1/services":
            page = self._page(self.services, query, "services")
            self.checker.check(page, "ListServicesResponse", "ListServicesResponse")
            return page
        parts = url.path.strip("/").split("/")
        if len(parts) == 4 and parts[:2] == ["v1", "services"] and parts[3] == "skus":
            if not any(s["serviceId"] == parts[2] for s in self.services):
                raise ApiError(404, f"Service services/{parts[2]} not found")
            items = self.skus if parts[2] == VERTEX_SERVICE["serviceId"] else []
            page = self._page(items, query, "skus")
            self.checker.check(page, "ListSkusResponse", "ListSkusResponse")
            return page
        raise ApiError(404, f"no route for GET {url.path}")

    def _page(self, items: list[dict[str, Any]], query: dict[str, str],
              key: str) -> dict[str, Any]:
        size = min(int(query.get("pageSize") or 5000), self.page_size)
        start = int(query.get("pageToken") or 0)
        page: dict[str, Any] = {key: items[start:start + size]}
        if start + size < len(items):
            page["nextPageToken"] = str(start + size)
        return page
