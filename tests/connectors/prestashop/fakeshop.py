"""A fake PrestaShop webservice for ``responses``, answering like PrestaShop 8.1 does.

It serves the records of ``tests/fixtures/prestashop/<resource>.json`` and
applies the webservice's own list rules (``classes/webservice/WebserviceRequest.php``
and ``SQLUtils::getSQLRetrieveFilter``): Basic auth with the key as the user,
``display`` full or a field list (unknown fields are a 400), ``filter[field]``
as ``[a|b]`` (any of), ``[a,b]`` (BETWEEN, both bounds included, bounds sorted)
or ``[a]``, date filters and sorts refused without ``date=1`` (error 32),
``sort=[field_ASC,...]``, ``limit=offset,count``, ``language=N`` turning
translatable fields into plain strings, and a bare ``[]`` for an empty list.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections import deque
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import responses

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "prestashop"
RESOURCES = (
    "addresses carts categories countries currencies customers groups languages manufacturers "
    "order_states orders products stock_availables"
).split()
KEY = "ZQ88PRJX5VWQHCWE4EE7SQ7HPNX00RAJ"


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def shop_data() -> dict[str, list[dict[str, Any]]]:
    return {resource: load_fixture(f"{resource}.json")[resource] for resource in RESOURCES}


def _error(status: int, code: int, message: str) -> tuple[int, dict[str, str], str]:
    return status, {"Content-Type": "application/json"}, json.dumps({"errors": [{"code": code, "message": message}]})


def _number(value: Any) -> Any:
    text = str(value)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _matches(value: Any, spec: str) -> bool:
    inner = re.fullmatch(r"\[(.*)\]", spec)
    if not inner:
        return str(value) == spec
    body = inner.group(1)
    if "|" in body:
        return _number(value) in {_number(v) for v in body.split("|")}
    interval = re.fullmatch(r"([\d.:\-\s]+),([\d.:\-\s]+)", body)
    if interval:
        low, high = sorted([interval.group(1), interval.group(2)])
        if re.fullmatch(r"\d+", low) and re.fullmatch(r"\d+", high):
            return int(low) <= int(_number(value)) <= int(high)
        return low <= str(value) <= high
    return _number(value) == _number(body)


def _plain(value: Any, language: str) -> Any:
    if isinstance(value, list) and value and all(isinstance(v, dict) and "value" in v for v in value):
        return next((v["value"] for v in value if str(v["id"]) == language), value[0]["value"])
    return value


class FakePrestaShop:
    """The fake shop: ``data`` by resource, the requests it answered, failures to serve first."""

    def __init__(self, base_url: str = "https://ps.example.com", key: str = KEY) -> None:
        self.base_url = base_url.rstrip("/")
        self.key = key
        self.data = shop_data()
        self.calls: list[tuple[str, dict[str, str]]] = []
        #: (status, headers) answered before the real answer, one per request.
        self.failures: deque[tuple[int, dict[str, str]]] = deque()

    def install(self, mock: responses.RequestsMock) -> None:
        # Looked up per request, so that a test may wrap ``answer`` after installing the shop.
        mock.add_callback(
            responses.GET,
            re.compile(re.escape(self.base_url) + r"/api/(\w+)(\?.*)?$"),
            callback=lambda request: self.answer(request),
        )

    def calls_to(self, resource: str) -> list[dict[str, str]]:
        return [params for name, params in self.calls if name == resource]

    def answer(self, request: Any) -> tuple[int, dict[str, str], str]:
        parts = urlsplit(request.url)
        resource = parts.path.rsplit("/", 1)[-1]
        params = dict(parse_qsl(parts.query, keep_blank_values=True))
        self.calls.append((resource, params))
        if self.failures:
            status, headers = self.failures.popleft()
            return _error(status, 0, "Service temporarily unavailable")[0], headers, "<html>busy</html>"
        header = request.headers.get("Authorization", "")
        # The dispatcher takes PHP_AUTH_USER first, else ?ws_key=.
        user = base64.b64decode(header[6:]).decode().split(":", 1)[0] if header.startswith("Basic ") else None
        user = user if user is not None else params.get("ws_key")
        if user is None:
            return _error(401, 16, "Please enter the authentication key as the login. No password required")
        if user != self.key:
            return _error(401, 20, "Authentification key is not active")
        if params.get("output_format") != "JSON":
            return 200, {"Content-Type": "text/xml"}, "<?xml version='1.0'?><prestashop/>"
        if resource not in self.data:
            return _error(400, 27, f'Resource of type "{resource}" does not exists')
        return self._list(resource, params)

    def _list(self, resource: str, params: dict[str, str]) -> tuple[int, dict[str, str], str]:
        records = [copy.deepcopy(r) for r in self.data[resource]]
        dated = params.get("date") == "1"
        for key, spec in params.items():
            found = re.fullmatch(r"filter\[(\w+)\]", key)
            if not found:
                continue
            name = found.group(1)
            if name in ("date_add", "date_upd") and not dated:
                return _error(400, 32, "This filter does not exist")
            records = [r for r in records if name in r and _matches(r[name], spec)]
        if "sort" in params:
            for item in reversed(params["sort"].strip("[]").split(",")):
                name, _, direction = item.rpartition("_")
                if name in ("date_add", "date_upd") and not dated:
                    return _error(400, 38, "Unable to filter by this field")
                records.sort(key=lambda r, n=name: _number(r.get(n, "")), reverse=direction == "DESC")
        if "limit" in params:
            bounds = [int(v) for v in params["limit"].split(",")]
            offset, count = (0, bounds[0]) if len(bounds) == 1 else bounds
            records = records[offset : offset + count]
        display = params.get("display")
        if not display:
            records = [{"id": r["id"]} for r in records]  # a list without display gives ids only
        elif display != "full":
            fields = display.strip("[]").split(",")
            known = {key for r in self.data[resource] for key in r}
            unknown = [f for f in fields if f not in known]
            if unknown:
                return _error(400, 35, f'Unable to display this field "{unknown[0]}"')
            records = [{f: r[f] for f in fields if f in r} for r in records]
        if "language" in params:
            records = [{k: _plain(v, params["language"]) for k, v in r.items()} for r in records]
        if not records:
            return 200, {"Content-Type": "application/json"}, "[]"
        return 200, {"Content-Type": "application/json"}, json.dumps({resource: records}, ensure_ascii=False)
