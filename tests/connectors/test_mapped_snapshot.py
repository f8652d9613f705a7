"""The events the three connectors make of the recorded and fixture shops, against a snapshot.

``tests/connectors/mapped_events.jsonl`` holds, one line per event in the order the
connectors yield them, the ``repr`` of each event (every field, the properties'
key order and value types), then one line for the ~2,500 events of the demo's
sample shop parsed by ``parse_event`` (their count and the SHA-256 of their
reprs). It was written before the parsing and mapping were made faster (issue
13), so a change that alters one event by one byte fails here. Rewrite it only for a change meant to alter events (say so in the commit):

    .venv/bin/python -m tests.connectors.test_mapped_snapshot --write
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import responses

from connectors.magento.connector import from_tenant as magento_connector
from connectors.prestashop.connector import from_tenant as ps_connector
from connectors.woocommerce.connector import from_tenant as woo_connector
from core.events import parse_event
from core.model import Event
from core.sections import validate_tenant
from relance.demo.sampleshop import generate
from tests.conftest import FIXTURES
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, fixture_shop, route_shop
from tests.connectors.magento.fakeshop import CREDENTIALS as MAGENTO_CREDENTIALS
from tests.connectors.magento.fakeshop import SHOP_URL as MAGENTO_URL
from tests.connectors.magento.fakeshop import FakeMagento
from tests.connectors.prestashop.fakeshop import KEY, RESOURCES, FakePrestaShop

SNAPSHOT = Path(__file__).parent / "mapped_events.jsonl"
NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
PS_URL = "https://ps.example.com"


def _line(where: str, event: Event) -> str:
    return json.dumps({"from": where, "repr": repr(event)}, ensure_ascii=False)


def _fetch_all(connector: Any) -> Iterator[Event]:
    for resource in connector.resources():
        for page in connector.fetch(resource, None, NOW):
            yield from page.events


def _woocommerce(real: bool) -> Iterator[Event]:
    folder = FIXTURES / "woocommerce" / ("real" if real else "")
    data = {
        name: json.loads((folder / f"{name}.json").read_text("utf-8")) for name in ("orders", "customers", "products")
    }
    config = validate_tenant(
        {
            "name": "woo",
            "platform": "woocommerce",
            "url": SHOP_URL,
            "timezone": "Europe/Paris",
            "credentials": CREDENTIALS,
            "sync": {"birthday_meta_key": "billing_birth_date"},
        }
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        route_shop(mock, fixture_shop(**data))
        yield from _fetch_all(woo_connector(config, sleep=lambda s: None))


def _prestashop(real: bool) -> Iterator[Event]:
    fake = FakePrestaShop(PS_URL)
    if real:
        folder = FIXTURES / "prestashop" / "real"
        fake.data = {name: json.loads((folder / f"{name}.json").read_text("utf-8"))[name] for name in RESOURCES}
    config = validate_tenant(
        {
            "name": "presta",
            "platform": "prestashop",
            "url": PS_URL,
            "timezone": "Europe/Paris",
            "currency": "EUR",
            "credentials": {"api_key": KEY},
        }
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.install(mock)
        yield from _fetch_all(ps_connector(config, sleep=lambda s: None))


def _magento() -> Iterator[Event]:
    fake = FakeMagento.from_fixtures()
    config = validate_tenant(
        {
            "name": "mage",
            "platform": "magento",
            "url": MAGENTO_URL,
            "timezone": "Europe/Zurich",
            "currency": "CHF",
            "credentials": dict(MAGENTO_CREDENTIALS),
        }
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake.register(mock)
        yield from _fetch_all(magento_connector(config, sleep=lambda s: None))


def mapped_lines() -> list[str]:
    """Every event of the fixture shops, serialised, then the digest of the demo's sample shop's events."""
    sources = {
        "woocommerce/real": _woocommerce(real=True),
        "woocommerce": _woocommerce(real=False),
        "prestashop/real": _prestashop(real=True),
        "prestashop": _prestashop(real=False),
        "magento": _magento(),
    }
    lines = [_line(where, event) for where, events in sources.items() for event in events]
    digest, count = hashlib.sha256(), 0
    for raw in generate(date(2026, 11, 24)):
        digest.update(repr(parse_event(raw, default_source="import")).encode() + b"\n")
        count += 1
    lines.append(json.dumps({"from": "sampleshop", "events": count, "sha256": digest.hexdigest()}))
    return lines


def test_the_connectors_map_the_fixture_shops_to_the_same_events_as_the_snapshot() -> None:
    expected = SNAPSHOT.read_text("utf-8").splitlines()
    lines = mapped_lines()
    assert len(expected) > 100
    for number, (want, got) in enumerate(zip(expected, lines, strict=False), start=1):
        assert got == want, f"{SNAPSHOT.name} line {number} differs"
    assert len(lines) == len(expected)


if __name__ == "__main__":
    if sys.argv[1:] != ["--write"]:
        sys.exit(__doc__)
    SNAPSHOT.write_text("".join(line + "\n" for line in mapped_lines()), "utf-8")
    print(f"{SNAPSHOT}: written")
