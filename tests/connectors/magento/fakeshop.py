"""A fake Magento 2 REST API for ``responses``: searchCriteria filters, sorting and Magento's paging quirk.

It serves the payloads of ``tests/fixtures/magento`` the way Magento does:
filter groups ANDed and the filters of a group ORed; ``sortOrders``;
``pageSize``/``currentPage`` with a page past the end answered with the last
page again (``Collection::getCurPage()`` clamps), forever; ``total_count``
counting every match; 401 with Magento's ``%resources`` message when the
Bearer token is wrong or an endpoint is not granted.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

FIXTURES = Path(__file__).parents[2] / "fixtures" / "magento"
SHOP_URL = "https://magento.example.com"
TOKEN = "kq9x2c8p0w5m7r4t1y3u6i8o0plk2j4h"
CREDENTIALS = {"access_token": TOKEN}
#: endpoint -> (fixture, the field Magento filters and sorts ids by, the payload key of that id, ACL resource)
COLLECTIONS = {
    "orders": ("orders.json", "entity_id", "Magento_Sales::actions_view"),
    "customers/search": ("customers.json", "id", "Magento_Customer::customer"),
    "carts/search": ("carts.json", "id", "Magento_Cart::manage"),
    "products": ("products.json", "id", "Magento_Catalog::products"),
    "categories/list": ("categories.json", "id", "Magento_Catalog::categories"),
}
DEFAULT_PAGE_SIZE = 20


def magento_fixture(name: str) -> Any:
    """A fixture file as Python data (floats as JSON gives them)."""
    return json.loads((FIXTURES / name).read_text())


def fixture_items(name: str) -> list[dict[str, Any]]:
    return magento_fixture(name)["items"]


def _criteria(query: list[tuple[str, str]]) -> tuple[list[list[tuple[str, str, str]]], list[tuple[str, str]], dict]:
    groups: dict[int, dict[int, dict[str, str]]] = {}
    sorts: dict[int, dict[str, str]] = {}
    other: dict[str, str] = {}
    for key, value in query:
        found = re.fullmatch(r"searchCriteria\[filter_?[gG]roups\]\[(\d+)\]\[filters\]\[(\d+)\]\[(\w+)\]", key)
        if found:
            g, f, part = int(found[1]), int(found[2]), found[3]
            part = {"conditionType": "condition_type"}.get(part, part)
            groups.setdefault(g, {}).setdefault(f, {})[part] = value
            continue
        found = re.fullmatch(r"searchCriteria\[sort_?[oO]rders\]\[(\d+)\]\[(\w+)\]", key)
        if found:
            sorts.setdefault(int(found[1]), {})[found[2]] = value
            continue
        other[key] = value
    filter_groups = [
        [(f["field"], f.get("value", ""), f.get("condition_type", "eq")) for _, f in sorted(group.items())]
        for _, group in sorted(groups.items())
    ]
    sort = [(s["field"], s.get("direction", "ASC")) for _, s in sorted(sorts.items())]
    return filter_groups, sort, other


def _value(record: dict[str, Any], field: str, id_key: str) -> Any:
    if field == "entity_id":
        return record.get(id_key)
    value = record.get(field)
    if isinstance(value, bool):
        return int(value)
    return value


def _compare(left: Any, right: str) -> tuple[Any, Any]:
    if isinstance(left, int | float) and not isinstance(left, bool):
        return left, float(right)
    return str(left), right


def _sort_key(value: Any) -> tuple[bool, bool, Any]:
    """Nulls last; numbers and texts apart (MySQL would cast; a test never mixes them on purpose)."""
    return value is None, isinstance(value, str), value if value is not None else 0


def _matches(record: dict[str, Any], field: str, value: str, condition: str, id_key: str) -> bool:
    actual = _value(record, field, id_key)
    if condition == "in":
        return str(actual) in value.split(",")
    if condition == "nin":
        return str(actual) not in value.split(",")
    if condition == "null":
        return actual is None
    if condition == "notnull":
        return actual is not None
    if actual is None:
        return False
    a, b = _compare(actual, value)
    return {
        "eq": a == b,
        "neq": a != b,
        "gt": a > b,
        "gteq": a >= b,
        "from": a >= b,
        "lt": a < b,
        "lteq": a <= b,
        "to": a <= b,
    }[condition]


@dataclass
class FakeMagento:
    """One fake shop: its records per endpoint, the requests it saw, and failures to inject."""

    url: str = SHOP_URL
    scope: str = "all"
    token: str = TOKEN
    data: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    options: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    #: endpoint -> statuses to answer before serving (e.g. [429, 503]); ``fail_after`` below for mid-sync failures
    failures: dict[str, list[tuple[int, dict[str, str]]]] = field(default_factory=dict)
    #: endpoint -> answer 500 forever once this many requests were served
    fail_after: dict[str, int] = field(default_factory=dict)
    denied: set[str] = field(default_factory=set)
    honour_filters: bool = True
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    @classmethod
    def from_fixtures(cls, **kwargs: Any) -> FakeMagento:
        shop = cls(**kwargs)
        for endpoint, (name, _, _) in COLLECTIONS.items():
            shop.data[endpoint] = fixture_items(name)
        shop.options["manufacturer"] = magento_fixture("manufacturer_options.json")
        return shop

    @property
    def base(self) -> str:
        return f"{self.url}/rest/{self.scope}/V1/"

    def register(self, rsps: responses.RequestsMock) -> None:
        rsps.add_callback(responses.GET, re.compile(re.escape(self.url) + r"/rest/.*"), callback=self._answer)

    def calls(self, endpoint: str) -> list[dict[str, str]]:
        return [params for path, params in self.requests if path == endpoint]

    def _answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        headers = {"Content-Type": "application/json; charset=utf-8"}
        route = re.fullmatch(r".*/rest/([^/]+)/V1/(.+)", parts.path)
        if route is None or route[1] != self.scope:
            return 404, headers, json.dumps({"message": "Request does not match any route."})
        endpoint = route[2]
        query = parse_qsl(parts.query, keep_blank_values=True)
        self.requests.append((endpoint, dict(query)))
        queued = self.failures.get(endpoint)
        if queued:
            status, extra = queued.pop(0)
            return status, {**headers, **extra}, json.dumps({"message": "Service temporarily unavailable"})
        limit = self.fail_after.get(endpoint)
        if limit is not None and len(self.calls(endpoint)) > limit:
            return 500, headers, json.dumps({"message": "Internal Error. Details are available in Magento log file."})
        acl = COLLECTIONS.get(endpoint, (None, None, "Magento_Catalog::attributes_attributes"))[2]
        if request.headers.get("Authorization") != f"Bearer {self.token}" or endpoint in self.denied:
            body = {"message": "The consumer isn't authorized to access %resources.", "parameters": {"resources": acl}}
            return 401, headers, json.dumps(body)
        options = re.fullmatch(r"products/attributes/([^/]+)/options", endpoint)
        if options:
            if options[1] not in self.options:
                body = {
                    "message": 'The attribute with a "%1" attributeCode doesn\'t exist. Verify the attribute and try again.',
                    "parameters": [options[1]],
                }
                return 404, headers, json.dumps(body)
            return 200, headers, json.dumps(self.options[options[1]])
        if endpoint not in self.data:
            return 404, headers, json.dumps({"message": "Request does not match any route."})
        return 200, headers, json.dumps(self.search(endpoint, query))

    def search(self, endpoint: str, query: list[tuple[str, str]]) -> dict[str, Any]:
        id_key = COLLECTIONS[endpoint][1]
        groups, sort, other = _criteria(query)
        records = self.data[endpoint]
        if self.honour_filters:
            records = [
                r for r in records if all(any(_matches(r, f, v, c, id_key) for f, v, c in group) for group in groups)
            ]
        for field_name, direction in reversed(sort):
            records = sorted(
                records,
                key=lambda r: _sort_key(_value(r, field_name, id_key)),
                reverse=direction.upper() == "DESC",
            )
        size = int(other.get("searchCriteria[pageSize]") or 0) or None
        page = int(other.get("searchCriteria[currentPage]") or 1)
        total = len(records)
        echo: dict[str, Any] = {
            "filter_groups": [
                {"filters": [{"field": f, "value": v, "condition_type": c} for f, v, c in group]} for group in groups
            ]
        }
        if sort:
            echo["sort_orders"] = [{"field": f, "direction": d} for f, d in sort]
        if size:
            last = max(1, -(-total // size))
            page = min(max(page, 1), last)  # Magento clamps: past the end is the last page again
            records = records[(page - 1) * size : page * size]
            echo["page_size"] = size
            echo["current_page"] = page
        return {"items": copy.deepcopy(records), "search_criteria": echo, "total_count": total}
