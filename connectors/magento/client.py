"""HTTP to the Magento 2 REST API: Bearer token, searchCriteria, pages; no mapping.

The base is ``<shop>/rest/<scope>/V1``. The scope is ``all`` unless the tenant
names a store view (``credentials.store_code``): ``all`` reads with the admin
(default) values and is what an integration needs to see every store's
orders, customers and quotes; a store code reads product names, URL keys and
prices as that store view shows them (orders, customers and quotes are not
filtered by store either way).

Lists take ``searchCriteria[...]`` query parameters (``search_params``): filter
groups are ANDed, the filters inside one group ORed. The answer is
``{"items": [...], "search_criteria": {...}, "total_count": N}``. Magento
answers a page past the end with the last page again (``Collection::getCurPage``
clamps), so ``iter_pages`` stops on ``total_count`` and also when a page
repeats the previous one, never by waiting for an empty page.

A 401 from Magento means the token was refused *or* the integration lacks the
ACL resource of that endpoint (``"The consumer isn't authorized to access
%resources."``, with the resource in ``parameters``); the error names both.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.http import HttpClient, decode_json

log = logging.getLogger(__name__)

DEFAULT_SCOPE = "all"
DEFAULT_PAGE_SIZE = 100
#: Magento's "Web API input limits" cap pageSize at 300 by default when they are enabled (2.4.3+).
MAX_PAGE_SIZE = 300
AUTH_HINT = (
    "credentials.access_token in the tenant file: the integration must be active (System > Extensions > "
    "Integrations) with read access to this API resource, and on Magento 2.4.4+ "
    "'Allow OAuth Access Tokens to be used as standalone Bearer tokens' must be enabled "
    "(bin/magento config:set oauth/consumer/enable_integration_as_bearer 1)"
)


@dataclass(frozen=True)
class Filter:
    """One ``searchCriteria`` filter: ``field condition value`` (``condition`` e.g. eq, gt, gteq, lteq, in)."""

    field: str
    value: str
    condition: str = "eq"


@dataclass(frozen=True)
class SearchPage:
    """One page of a Magento list answer."""

    items: list[Any]
    total_count: int | None
    page: int
    page_size: int

    @property
    def is_last(self) -> bool:
        """True when this page reaches ``total_count`` (or is short, when Magento gave no count)."""
        if self.total_count is not None:
            return self.page * self.page_size >= self.total_count
        return len(self.items) < self.page_size


def search_params(
    groups: Sequence[Sequence[Filter]],
    sort: Sequence[tuple[str, str]] = (),
    page_size: int | None = None,
    page: int | None = None,
) -> dict[str, str]:
    """The ``searchCriteria[...]`` query parameters for filter groups (ANDed; filters in a group ORed)."""
    params: dict[str, str] = {}
    for g, group in enumerate(groups):
        for f, item in enumerate(group):
            prefix = f"searchCriteria[filter_groups][{g}][filters][{f}]"
            params[f"{prefix}[field]"] = item.field
            params[f"{prefix}[value]"] = item.value
            params[f"{prefix}[condition_type]"] = item.condition
    for s, (field, direction) in enumerate(sort):
        params[f"searchCriteria[sortOrders][{s}][field]"] = field
        params[f"searchCriteria[sortOrders][{s}][direction]"] = direction
    if page_size is not None:
        params["searchCriteria[pageSize]"] = str(page_size)
    if page is not None:
        params["searchCriteria[currentPage]"] = str(page)
    if not params:
        # Magento requires searchCriteria to be present, even empty.
        params["searchCriteria"] = ""
    return params


def _item_key(item: Any) -> Any:
    if isinstance(item, Mapping):
        return item.get("id", item.get("entity_id", item.get("sku")))
    return None


def _magento_message(response: requests.Response) -> str | None:
    """Magento's error message with its ``%name`` parameters filled in, or None."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, Mapping) or not isinstance(body.get("message"), str):
        return None
    message = body["message"]
    parameters = body.get("parameters")
    if isinstance(parameters, Mapping):
        for name, value in parameters.items():
            message = message.replace(f"%{name}", str(value))
    elif isinstance(parameters, list):
        for index, value in enumerate(parameters, start=1):
            message = message.replace(f"%{index}", str(value))
    return message[:300]


class MagentoClient:
    """Reads one Magento shop's REST API through an ``HttpClient`` (timeouts, retries, auth errors)."""

    def __init__(
        self,
        url: str,
        access_token: str,
        *,
        tenant: str,
        store_code: str | None = None,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        max_tries: int = 5,
    ) -> None:
        scope = quote((store_code or DEFAULT_SCOPE).strip(), safe="")
        options: dict[str, Any] = {}
        if session is not None:
            options["session"] = session
        if sleep is not None:
            options["sleep"] = sleep
        self.http = HttpClient(
            base_url=f"{url.rstrip('/')}/rest/{scope}/V1",
            tenant=tenant,
            timeout=timeout,
            max_tries=max_tries,
            headers={"Authorization": f"Bearer {access_token}"},
            auth_hint=AUTH_HINT,
            **options,
        )
        self._refusal: str | None = None

    @property
    def tenant(self) -> str:
        return self.http.tenant

    def _remember_refusal(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        if response.status_code in (401, 403):
            self._refusal = _magento_message(response)
        return response

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``/V1/<path>`` and decode it (decimals exact); ConnectorAuthError names what Magento refused."""
        self._refusal = None
        try:
            response = self.http.request("GET", path, params=params, hooks={"response": self._remember_refusal})
        except ConnectorAuthError as exc:
            if self._refusal:
                raise ConnectorAuthError(f"{exc} (Magento said: {self._refusal})") from exc
            raise
        return decode_json(response)

    def search(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        sort: Sequence[tuple[str, str]] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        page: int = 1,
        fields: str | None = None,
    ) -> SearchPage:
        """One page of a searchCriteria list (``orders``, ``customers/search``, ``carts/search``, ...)."""
        params: dict[str, Any] = search_params(groups, sort, page_size, page)
        if fields:
            params["fields"] = fields
        data = self.get_json(path, params)
        if not isinstance(data, Mapping) or not isinstance(data.get("items", []), list):
            raise ConnectorError(
                f"tenant {self.tenant}: /V1/{path} did not answer a search result; check that the shop URL points at Magento"
            )
        total = data.get("total_count")
        return SearchPage(
            items=list(data.get("items") or []),
            total_count=int(total) if isinstance(total, int | str) and str(total).isdigit() else None,
            page=page,
            page_size=page_size,
        )

    def iter_pages(
        self,
        path: str,
        groups: Sequence[Sequence[Filter]] = (),
        sort: Sequence[tuple[str, str]] = (),
        page_size: int = DEFAULT_PAGE_SIZE,
        fields: str | None = None,
    ) -> Iterator[SearchPage]:
        """Every page of a list by ``currentPage``, stopping on ``total_count`` or a repeated page."""
        page_no = 1
        previous: list[Any] | None = None
        while True:
            page = self.search(path, groups, sort, page_size, page_no, fields)
            keys = [_item_key(item) for item in page.items]
            if not page.items or keys == previous:
                return
            yield page
            if page.is_last:
                return
            previous = keys
            page_no += 1

    def attribute_options(self, attribute_code: str) -> dict[str, str]:
        """Option id -> label of a product attribute (``/V1/products/attributes/{code}/options``)."""
        data = self.get_json(f"products/attributes/{quote(attribute_code, safe='')}/options")
        labels: dict[str, str] = {}
        for option in data if isinstance(data, list) else []:
            if not isinstance(option, Mapping):
                continue
            value, label = option.get("value"), option.get("label")
            if value in (None, "") or not isinstance(label, str) or not label.strip():
                continue
            labels[str(value)] = label.strip()
        return labels
