"""Record what the real shops answer into tests/fixtures/<platform>/real/ (run inside the shops' namespace).

    ip netns exec $NETNS .venv/bin/python -m tests.live.record        # with $RS_DIR/stores.env loaded

WooCommerce: the REST lists the connector reads (orders, customers, products)
and the general settings; PrestaShop: every webservice resource the connector
reads, with ``display=full``, plus the answers that taught us something (the
missing ``genders`` resource, ``/api/`` with and without
``output_format=JSON``). Webhook deliveries are recorded by the live tests
(``tests/live/receiver.py``). The shops hold only made-up people (seed.sh).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import requests

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
WOO_LISTS = {
    "orders": {"orderby": "modified", "order": "asc", "dates_are_gmt": "true"},
    "customers": {"orderby": "id", "order": "asc"},
    "products": {"orderby": "modified", "order": "asc", "dates_are_gmt": "true"},
}
PS_RESOURCES = (
    "addresses carts categories countries currencies customers groups languages manufacturers "
    "order_states orders products stock_availables"
).split()


def _write(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def record_woocommerce(url: str, key: str, secret: str, out: Path) -> None:
    session = requests.Session()
    session.auth = (key, secret)
    session.headers["X-Forwarded-Proto"] = "https"  # up.sh lets Basic auth through then
    api = url.rstrip("/") + "/wp-json/wc/v3/"
    for name, params in WOO_LISTS.items():
        response = session.get(api + name, params={"per_page": 100, **params}, timeout=60)
        response.raise_for_status()
        _write(out / f"{name}.json", response.json())
    response = session.get(api + "settings/general", timeout=60)
    response.raise_for_status()
    # without each setting's list of options (every country of the world)
    settings = [{k: v for k, v in item.items() if k != "options"} for item in response.json()]
    _write(out / "settings_general.json", settings)


def record_prestashop(url: str, key: str, out: Path) -> None:
    session = requests.Session()
    session.auth = (key, "")
    api = url.rstrip("/") + "/api/"
    for name in PS_RESOURCES:
        response = session.get(api + name, params={"output_format": "JSON", "display": "full"}, timeout=60)
        response.raise_for_status()
        data = response.json() or {name: []}
        if name == "countries":  # only what the connector reads ([id,iso_code]) of the 244
            data = {name: [{"id": c["id"], "iso_code": c["iso_code"]} for c in data[name]]}
        _write(out / f"{name}.json", data)
    answers = {}
    for label, path, params in (
        ("genders", "genders", {"output_format": "JSON", "display": "full"}),
        ("api_root", "", {}),
        ("api_root_json", "", {"output_format": "JSON"}),
    ):
        response = session.get(api + path, params=params, timeout=60)
        answers[label] = {"status": response.status_code, "content_type": response.headers.get("Content-Type")}
    _write(out / "answers.json", answers)


def main() -> int:
    env = os.environ
    if env.get("WC_CK"):
        record_woocommerce(env["WP_URL"], env["WC_CK"], env["WC_CS"], FIXTURES / "woocommerce" / "real")
    if env.get("PS_KEY_RW"):
        record_prestashop(env["PS_URL"], env["PS_KEY_RW"], FIXTURES / "prestashop" / "real")
    print(f"recorded into {FIXTURES}/*/real")
    return 0


if __name__ == "__main__":
    sys.exit(main())
