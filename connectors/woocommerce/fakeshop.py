"""A fake WooCommerce shop: the REST API v3 list endpoints the connector reads, served on loopback.

Used by ``relance demo`` (a real sync over HTTP), by ``bench/connectors_sync.py``
(100,000 orders) and by tests. It answers like WooCommerce does (shared/PLATFORMS.md
§1.2, §4): Basic or query-string auth with the consumer key and secret (or a
one-legged OAuth 1.0a signature over plain HTTP, checked in constant time), 401 with a
WordPress error body otherwise; ``per_page`` 1-100 (else 400 ``rest_invalid_param``);
``X-WP-Total``, ``X-WP-TotalPages`` and ``Link`` prev/next headers; ``200 []`` past
the end; orders and products filtered by ``modified_after`` / ``modified_before``
(strict, on the ``_gmt`` dates with ``dates_are_gmt=true``) and ``exclude``, sorted
by ``orderby`` (``modified`` and ``date`` tie-broken by id, as WooCommerce does);
customers sorted by id or registered date; bodies encoded like PHP's
``json_encode`` (``\\uXXXX`` and ``\\/`` escapes).

It is not WooCommerce: no writes, no search, no status filter.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlencode, urlsplit

from woocommerce.oauth import OAuth

PREFIX = "/wp-json/wc/v3/"


class Collection(Protocol):
    """Records of one resource. ``sorted_by_index``: index order is id, creation and modification
    order alike (generated shops), which lets the shop answer without scanning."""

    sorted_by_index: bool

    def __len__(self) -> int: ...

    def record(self, index: int) -> dict[str, Any]: ...

    def key(self, index: int, field: str) -> Any: ...

    def index_of(self, record_id: int) -> int | None: ...


@dataclass
class ListCollection:
    """A collection held as a list of payloads (tests, fixtures)."""

    records: list[dict[str, Any]]
    sorted_by_index: bool = False

    def __len__(self) -> int:
        return len(self.records)

    def record(self, index: int) -> dict[str, Any]:
        return self.records[index]

    def key(self, index: int, field: str) -> Any:
        return self.records[index].get(field)

    def index_of(self, record_id: int) -> int | None:
        for index, record in enumerate(self.records):
            if record.get("id") == record_id:
                return index
        return None


def php_json(data: Any) -> bytes:
    """JSON the way WordPress's REST server writes it (non-ASCII as \\uXXXX, slashes escaped)."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"), default=str).replace("/", "\\/").encode()


def _error(status: int, code: str, message: str, **data: Any) -> tuple[int, dict[str, str], bytes]:
    return status, {}, php_json({"code": code, "message": message, "data": {"status": status, **data}})


def _ids(values: list[str]) -> set[int]:
    out: set[int] = set()
    for value in values:
        for part in value.split(","):
            if part.strip().isdigit():
                out.add(int(part))
    return out


@dataclass
class FakeShop:
    """The shop's data and credentials; ``respond`` answers one GET."""

    consumer_key: str
    consumer_secret: str
    collections: dict[str, Collection] = field(default_factory=dict)
    url: str = "http://127.0.0.1"
    requests_served: int = 0

    def respond(self, path: str, query: str, authorization: str | None) -> tuple[int, dict[str, str], bytes]:
        """Return (status, headers, body) for ``GET path?query``."""
        self.requests_served += 1
        params = parse_qs(query, keep_blank_values=True)
        if not self._authorised(path, params, authorization):
            return _error(401, "woocommerce_rest_cannot_view", "Sorry, you cannot list resources.")
        if not path.startswith(PREFIX) or path[len(PREFIX) :].strip("/") not in self.collections:
            return _error(404, "rest_no_route", "No route was found matching the URL and request method.")
        name = path[len(PREFIX) :].strip("/")
        one = {key: values[-1] for key, values in params.items()}
        try:
            per_page = int(one.get("per_page", "10"))
            page = int(one.get("page", "1"))
        except ValueError:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): per_page, page")
        if not 1 <= per_page <= 100:
            return _error(
                400,
                "rest_invalid_param",
                "Invalid parameter(s): per_page",
                params={"per_page": "per_page must be between 1 (inclusive) and 100 (inclusive)"},
            )
        if page < 1:
            return _error(400, "rest_invalid_param", "Invalid parameter(s): page")
        collection = self.collections[name]
        indexes = self._matching(name, collection, one, params)
        total = len(indexes)
        pages = -(-total // per_page)
        chosen = indexes[(page - 1) * per_page : page * per_page]
        body = php_json([collection.record(i) for i in chosen])
        headers = {"X-WP-Total": str(total), "X-WP-TotalPages": str(pages)}
        links = []
        base = {k: v for k, v in params.items() if k not in ("page", "consumer_key", "consumer_secret")}
        if page > 1:
            links.append(f'<{self._link(path, base, min(page - 1, max(pages, 0)))}>; rel="prev"')
        if pages > page:
            links.append(f'<{self._link(path, base, page + 1)}>; rel="next"')
        if links:
            headers["Link"] = ", ".join(links)
        return 200, headers, body

    def _link(self, path: str, params: dict[str, list[str]], page: int) -> str:
        return f"{self.url}{path}?{urlencode({**params, 'page': [str(page)]}, doseq=True)}"

    def _authorised(self, path: str, params: dict[str, list[str]], authorization: str | None) -> bool:
        if "oauth_signature" in params:
            return self._oauth_valid(path, params)
        if authorization and authorization.startswith("Basic "):
            try:
                decoded = base64.b64decode(authorization[6:]).decode()
            except (binascii.Error, UnicodeDecodeError):
                return False
            return decoded == f"{self.consumer_key}:{self.consumer_secret}"
        return (
            params.get("consumer_key", [""])[-1] == self.consumer_key
            and params.get("consumer_secret", [""])[-1] == self.consumer_secret
        )

    def _oauth_valid(self, path: str, params: dict[str, list[str]]) -> bool:
        """Check a one-legged OAuth 1.0a signature the way WooCommerce does (plain HTTP shops)."""
        if params.get("oauth_consumer_key", [""])[-1] != self.consumer_key:
            return False
        signed = {key: values[-1] for key, values in params.items() if key != "oauth_signature"}
        oauth = OAuth(
            url=self.url + path, consumer_key=self.consumer_key, consumer_secret=self.consumer_secret, version="wc/v3"
        )
        expected = oauth.generate_oauth_signature(signed, self.url + path)
        return hmac.compare_digest(expected, params["oauth_signature"][-1])

    def _matching(
        self, name: str, collection: Collection, one: dict[str, str], params: dict[str, list[str]]
    ) -> Sequence[int]:
        desc = one.get("order", "desc") == "desc"
        excluded = _ids(params.get("exclude", []) + params.get("exclude[]", []))
        after = one.get("modified_after")
        before = one.get("modified_before")
        gmt = one.get("dates_are_gmt") in ("true", "1")
        column = "date_modified_gmt" if gmt else "date_modified"
        if name == "customers":
            after = before = None
            orderby = one.get("orderby", "name")
        else:
            orderby = one.get("orderby", "date")
        if collection.sorted_by_index and orderby in ("id", "modified", "date", "registered_date"):
            return _IndexRange(collection, column, after, before, excluded, desc)
        indexes = [
            i
            for i in range(len(collection))
            if collection.key(i, "id") not in excluded
            and (after is None or (collection.key(i, column) or "") > after)
            and (before is None or (collection.key(i, column) or "") < before)
        ]
        sort_field = {
            "modified": column,
            "date": "date_created_gmt",
            "registered_date": "date_created_gmt",
            "name": "last_name",
        }.get(orderby)
        if sort_field:
            indexes.sort(key=lambda i: (collection.key(i, sort_field) or "", collection.key(i, "id")), reverse=desc)
        else:
            indexes.sort(key=lambda i: collection.key(i, "id"), reverse=desc)
        return indexes


class _IndexRange(Sequence[int]):
    """The matching indexes of an index-sorted collection, without materialising them."""

    def __init__(
        self, collection: Collection, column: str, after: str | None, before: str | None, excluded: set[int], desc: bool
    ) -> None:
        size = len(collection)
        self.lo = _bisect(collection, column, after, size) if after else 0
        self.hi = _bisect(collection, column, before, size, strict=False) if before else size
        self.hi = max(self.hi, self.lo)
        found = (collection.index_of(record_id) for record_id in excluded)
        self.skip = sorted(i for i in found if i is not None and self.lo <= i < self.hi)
        self.desc = desc

    def __len__(self) -> int:
        return self.hi - self.lo - len(self.skip)

    def _nth(self, n: int) -> int:
        if self.desc:
            index = self.hi - 1 - n
            for skipped in reversed(self.skip):
                if skipped >= index:
                    index -= 1
            return index
        index = self.lo + n
        for skipped in self.skip:
            if skipped <= index:
                index += 1
        return index

    def __getitem__(self, item: Any) -> Any:
        if isinstance(item, slice):
            return [self._nth(n) for n in range(*item.indices(len(self)))]
        if not 0 <= item < len(self):
            raise IndexError(item)
        return self._nth(item)


def _bisect(collection: Collection, column: str, value: str, size: int, strict: bool = True) -> int:
    """First index whose ``column`` is > value (strict) or >= value."""
    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        key = collection.key(mid, column) or ""
        if key > value or (not strict and key == value):
            hi = mid
        else:
            lo = mid + 1
    return lo


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    shop: FakeShop
    latency: float = 0.0

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        if self.latency:
            time.sleep(self.latency)  # a real shop's time to answer (benchmarks)
        parts = urlsplit(self.path)
        status, headers, body = self.shop.respond(parts.path, parts.query, self.headers.get("Authorization"))
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
        return


def serve(
    shop: FakeShop, host: str = "127.0.0.1", port: int = 0, latency: float = 0.0
) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``shop`` on a thread; return the server (``shutdown()`` it) and its base URL. ``latency``:
    seconds each answer waits first, as a real shop's PHP takes to answer (requests still run side by side)."""
    handler = type("FakeWooHandler", (_Handler,), {"shop": shop, "latency": latency})
    server = ThreadingHTTPServer((host, port), handler)
    server.daemon_threads = True
    url = f"http://{host}:{server.server_address[1]}"
    shop.url = url
    threading.Thread(target=server.serve_forever, name="fake-woocommerce", daemon=True).start()
    return server, url
