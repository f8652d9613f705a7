"""Benchmark: what a connector's fetch costs beyond the download of its pages (mapping + parse_event), 3 platforms.

    .venv/bin/python bench/connectors_mapping.py [--orders 2000] [--repeat 3] [--rounds 3]

For each platform the fake shop of ``bench/connectors_sync.py`` (WooCommerce's
``connectors.woocommerce.fakedata``, ``bench/magento_sync.py``,
``bench/prestashop_sync.py``) answers in this process, through a ``requests``
adapter: a first pass records every answer (the shop's own time is not
measured), later passes replay the recorded bytes, so no socket and no shop
server load the figures, and times are the process's CPU time (the work is
in one thread with no I/O: CPU time is what it costs, and the other loads of a
shared machine do not add to it as they add to wall time). Then, alternated (ABAB) ``--repeat`` times, each the
best of ``--rounds`` passes:

- ``download`` (the baseline): the same pages fetched and JSON-decoded by the
  platform's HTTP client as ``bench/connectors_sync.py``'s ``child_download``
  does, nothing else;
- ``fetch``: a new connector (empty per-run lookups, as a new sync run)
  reading every resource from scratch, the parser's caches emptied first (``connector.fetch``: the HTTP client,
  the lookups it asks for, the mapping and ``core.events.parse_event``), the
  events made but not stored.

Printed per platform: records, requests of each, µs per record of each, their
difference (what the connector adds to the download: mapping, parsing, the
lookups) and min / median / max of the ratio fetch ÷ download. Run it from
another checkout to compare: ``cd OTHER && PYTHONPATH=. python /path/to/bench/connectors_mapping.py``
(the bench imports the package of the current directory first).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

sys.path.insert(0, str(Path.cwd()))
sys.path.insert(1, str(Path(__file__).resolve().parent))

URL = "http://shop.bench"
NOW = datetime(2030, 1, 1, tzinfo=UTC)
Responder = Callable[[requests.PreparedRequest], tuple[int, dict[str, str], bytes]]


class Replay(BaseAdapter):
    """Answers from a responder the first time a URL is asked, then from what it recorded."""

    def __init__(self, respond: Responder) -> None:
        super().__init__()
        self.respond = respond
        self.recorded: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests = 0

    @staticmethod
    def _key(url: str) -> str:
        parts = urlsplit(url)
        query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not k.startswith("oauth_"))
        return f"{parts.path}?{query}"

    def send(self, request: requests.PreparedRequest, **_kwargs: Any) -> requests.Response:
        self.requests += 1
        key = self._key(request.url or "")
        if key not in self.recorded:
            self.recorded[key] = self.respond(request)
        status, headers, body = self.recorded[key]
        response = requests.Response()
        response.status_code = status
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json", **headers})
        response._content = body
        response.url = request.url or ""
        response.request = request
        response.encoding = "utf-8"
        return response

    def close(self) -> None:
        pass


def _session(adapter: Replay) -> requests.Session:
    session = requests.Session()
    session.mount("http://", adapter)
    return session


# --- the three platforms: a responder, a download (baseline) and a connector (subject) -------------


def _woocommerce(orders: int) -> tuple[Responder, Callable[[requests.Session], int], Callable[[requests.Session], Any]]:
    import connectors_sync as bench

    from connectors.woocommerce.client import WooClient
    from connectors.woocommerce.connector import from_tenant
    from connectors.woocommerce.fakedata import generate_shop

    shop = generate_shop(orders, consumer_key=bench.KEY, consumer_secret=bench.SECRET, url=URL)

    def respond(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url or "")
        return shop.respond(parts.path, parts.query, request.headers.get("Authorization"))

    def download(session: requests.Session) -> int:
        client = WooClient(URL, bench.KEY, bench.SECRET, tenant="bench", timeout=120, session=session)
        records = 0
        for collection in ("products", "customers", "orders"):
            page_no = 1
            while True:
                params = {"per_page": 100, "page": page_no, "orderby": "id", "order": "asc"}
                page = client.fetch_page(collection, params)
                records += len(page.records)
                if not page.records or (page.total_pages or 0) <= page_no:
                    break
                page_no += 1
        return records

    return respond, download, lambda session: from_tenant(bench._config(URL), session=session)


def _magento(orders: int) -> tuple[Responder, Callable[[requests.Session], int], Callable[[requests.Session], Any]]:
    import json

    import magento_sync as bench

    from connectors.magento.client import MagentoClient
    from connectors.magento.connector import from_tenant

    shop = bench.GeneratedShop(orders)

    def respond(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url or "")
        endpoint = parts.path.split("/V1/", 1)[-1]
        if endpoint.startswith("products/attributes/"):
            return 200, {}, json.dumps(bench.BRANDS).encode()
        answer = shop.search(endpoint, dict(parse_qsl(parts.query, keep_blank_values=True)))
        return 200, {}, json.dumps(answer).encode()

    def download(session: requests.Session) -> int:
        client = MagentoClient(URL, bench.TOKEN, tenant="bench", timeout=120, session=session)
        records = 0
        for endpoint in ("customers/search", "orders"):
            for page in client.iter_pages(endpoint, sort=[("entity_id", "ASC")], page_size=100):
                records += len(page.items)
        return records

    return respond, download, lambda session: from_tenant(bench._config(URL), session=session)


def _prestashop(orders: int) -> tuple[Responder, Callable[[requests.Session], int], Callable[[requests.Session], Any]]:
    import json

    import prestashop_sync as bench

    from connectors.http import HttpClient
    from connectors.prestashop.connector import from_tenant

    shop = bench.GeneratedShop(orders)

    def respond(request: requests.PreparedRequest) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(request.url or "")
        resource = parts.path.rstrip("/").rsplit("/", 1)[-1]
        records = shop.answer(resource, dict(parse_qsl(parts.query)))
        return 200, {}, json.dumps({resource: records} if records else [], ensure_ascii=False).encode()

    def download(session: requests.Session) -> int:
        http = HttpClient(
            f"{URL}/api",
            "bench",
            timeout=120,
            auth=(bench.KEY, ""),
            base_params={"output_format": "JSON"},
            session=session,
        )
        records = 0
        for name in ("customers", "orders"):
            offset = 0
            while True:
                data, _ = http.get_json(name, {"display": "full", "limit": f"{offset},100", "sort": "[id_ASC]"})
                page = data.get(name, []) if isinstance(data, dict) else []
                records += len(page)
                if len(page) < 100:
                    break
                offset += 100
        return records

    return respond, download, lambda session: from_tenant(bench._config(URL), session=session)


PLATFORMS = {"woocommerce": _woocommerce, "magento": _magento, "prestashop": _prestashop}


def _clear_caches() -> None:
    """Empty the parser's and normalisers' bounded caches: each pass starts cold, as a new process does."""
    import core.events
    import core.normalize

    for module in (core.normalize, core.events):
        for value in vars(module).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()


def _fetch_all(connector: Any) -> tuple[int, int]:
    _clear_caches()
    records = events = 0
    for resource in connector.resources():
        for page in connector.fetch(resource, None, NOW):
            records += page.fetched
            events += len(page.events)
    return records, events


def _best(work: Callable[[], Any], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        started = time.process_time()
        work()
        best = min(best, time.process_time() - started)
    return best


def _spread(values: list[float], fmt: str = ".2f") -> str:
    return f"{min(values):{fmt}} / {statistics.median(values):{fmt}} / {max(values):{fmt}}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=2000)
    parser.add_argument("--platforms", default=",".join(PLATFORMS))
    parser.add_argument("--repeat", type=int, default=3, help="download/fetch pairs (ABAB)")
    parser.add_argument("--rounds", type=int, default=3, help="passes per measure (the best is kept)")
    args = parser.parse_args()
    import core.events

    print(f"connector fetch ÷ download of the same pages, replayed in process ({core.events.__file__})")
    print(f"{args.orders} orders per shop; ABAB x{args.repeat}, each the best of {args.rounds} passes")
    print(
        f"{'platform':<12} {'records':>8} {'dl req':>7} {'fetch req':>9} {'dl µs/rec':>10} {'fetch µs/rec':>12} "
        f"{'added µs/rec (min/med/max)':>28} {'fetch ÷ download (min/med/max)':>31}",
        flush=True,
    )
    for name in args.platforms.split(","):
        respond, download, connector = PLATFORMS[name](args.orders)
        adapter = Replay(respond)
        session = _session(adapter)
        download(session)  # records the answers, and warms imports and caches
        records, events = _fetch_all(connector(session))
        adapter.requests = 0
        download(session)
        dl_requests, adapter.requests = adapter.requests, 0
        _fetch_all(connector(session))
        fetch_requests = adapter.requests
        ratios, added, dl_us, fetch_us = [], [], [], []
        for _ in range(args.repeat):
            base = _best(lambda d=download, s=session: d(s), args.rounds)
            sub = _best(lambda c=connector, s=session: _fetch_all(c(s)), args.rounds)
            dl_us.append(base / records * 1e6)
            fetch_us.append(sub / records * 1e6)
            added.append(fetch_us[-1] - dl_us[-1])
            ratios.append(sub / base)
        print(
            f"{name:<12} {records:>8} {dl_requests:>7} {fetch_requests:>9} {statistics.median(dl_us):>10.1f} "
            f"{statistics.median(fetch_us):>12.1f} {_spread(added, '.1f'):>28} {_spread(ratios):>31}",
            flush=True,
        )
        if events == 0:
            raise SystemExit(f"{name}: the connector made no events")


if __name__ == "__main__":
    main()
