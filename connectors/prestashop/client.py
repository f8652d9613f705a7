"""HTTP to a PrestaShop webservice (``/api``): lists, filters, pages; no mapping.

The key is the Basic-auth user with an empty password. Every list asks for
``output_format=JSON``; dates are filtered and sorted with ``date=1``; pages
are ``limit=offset,count`` and there is no total count, so a list ends with a
short or empty page. An empty list may come back as ``[]``, ``{}`` or
``{"customers": []}``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from connectors.errors import ConnectorError
from connectors.http import HttpClient

#: Ids per ``filter[field]=[1|2|3]`` request: keeps URLs far below server limits.
IDS_PER_REQUEST = 100
AUTH_HINT = (
    "credentials.api_key in the tenant file, and that the webservice is enabled and the key is active "
    "with the View (GET) permission on this resource (back office: Advanced Parameters > Webservice)"
)
Record = Mapping[str, Any]


def unwrap(data: Any, resource: str, tenant: str) -> list[Any]:
    """The records of a list answer, whatever the shape PrestaShop gave an empty list."""
    if data == [] or data == {}:
        return []
    if isinstance(data, Mapping):
        if "errors" in data and resource not in data:
            raise ConnectorError(f"tenant {tenant}: /api/{resource} answered an error: {_first_error(data)}")
        found = data.get(resource)
        if found is None:
            # A single record without ``display`` uses the singular key ({"customer": {...}}).
            singles = [value for value in data.values() if isinstance(value, Mapping)]
            if len(data) == 1 and singles:
                return singles
            raise ConnectorError(
                f"tenant {tenant}: /api/{resource} answered JSON without a {resource!r} list; "
                "check that the shop URL points at PrestaShop"
            )
        if isinstance(found, Mapping):
            return [found]
        if isinstance(found, list):
            return found
    raise ConnectorError(f"tenant {tenant}: /api/{resource} answered an unexpected JSON shape")


def _first_error(data: Mapping[str, Any]) -> str:
    errors = data.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], Mapping):
        return str(errors[0].get("message", ""))[:200]
    return "unknown error"


def id_filter(ids: Iterable[str]) -> str:
    """``[1|2|3]``: PrestaShop's "any of" filter."""
    return "[" + "|".join(ids) + "]"


class PrestaShopClient:
    """Reads lists from one shop's webservice through an ``HttpClient`` (retries, auth errors)."""

    def __init__(self, http: HttpClient, language_id: int | None = None) -> None:
        self.http = http
        self.language_id = language_id

    @property
    def tenant(self) -> str:
        return self.http.tenant

    def list(self, resource: str, params: Mapping[str, Any], display: str = "full") -> list[Any]:
        """One GET of a list; ``display`` is "full" or "[field,field]"."""
        query: dict[str, Any] = {"display": display, **params}
        if self.language_id is not None:
            query["language"] = str(self.language_id)
        data, _ = self.http.get_json(resource, query)
        return unwrap(data, resource, self.tenant)

    def changed(
        self, resource: str, since: str, until: str, offset: int, count: int, display: str = "full"
    ) -> list[Any]:
        """One page of the records whose ``date_upd`` is within [since, until] (shop-local times),
        oldest first and by id for equal times."""
        params = {
            "date": "1",
            "filter[date_upd]": f"[{since},{until}]",
            "sort": "[date_upd_ASC,id_ASC]",
            "limit": f"{offset},{count}",
        }
        return self.list(resource, params, display)

    def by_ids(
        self,
        resource: str,
        ids: Iterable[str],
        field: str = "id",
        display: str = "full",
        extra: Mapping[str, Any] | None = None,
    ) -> list[Any]:
        """Every record whose ``field`` is one of ``ids``, fetched a hundred ids at a time."""
        wanted = sorted(set(ids), key=lambda value: (len(value), value))
        found: list[Any] = []
        for start in range(0, len(wanted), IDS_PER_REQUEST):
            chunk = wanted[start : start + IDS_PER_REQUEST]
            found.extend(self.list(resource, {f"filter[{field}]": id_filter(chunk), **(extra or {})}, display))
        return found

    def every(self, resource: str, display: str = "full", count: int = 500) -> Iterator[Any]:
        """Every record of a (small) resource, page by page in id order."""
        offset = 0
        while True:
            page = self.list(resource, {"sort": "[id_ASC]", "limit": f"{offset},{count}"}, display)
            yield from page
            if len(page) < count:
                return
            offset += count
