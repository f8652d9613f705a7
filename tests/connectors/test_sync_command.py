"""``relance sync`` and ``relance export orders`` end to end against a fake WooCommerce shop."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import responses
from click.testing import CliRunner

from relance.cli import cli
from tests.conftest import make_tenant
from tests.connectors.helpers import CREDENTIALS, SHOP_URL, fixture_shop, route_shop, woo_fixture


@pytest.fixture
def shop_tenant(cli_env, engine):
    return make_tenant(engine, "shop", url=SHOP_URL, credentials=CREDENTIALS, sync={"page_size": 3})


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_sync_then_export_shows_the_platform_orders_with_their_totals(shop_tenant):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        result = run("sync", "--tenant", "shop")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["resource", "fetched", "created", "updated", "unchanged", "skipped"]
    assert lines[1].split() == ["products", "3", "3", "0", "0", "0"]
    assert lines[2].split() == ["customers", "3", "3", "0", "0", "0"]
    assert lines[3].split() == ["orders", "8", "8", "0", "0", "0"]
    assert lines[4].split() == ["total", "14", "14", "0", "0", "0"]
    assert lines[5].startswith("synced tenant shop in ")
    assert "syncing tenant shop from https://shop.example.com (woocommerce)" in result.stderr
    assert "  orders     fetched 8  created 8" in result.stderr

    exported = [json.loads(line) for line in run("export", "orders", "--tenant", "shop").stdout.splitlines()]
    platform = {str(o["id"]): (o["total"], o["currency"]) for o in woo_fixture("orders", decimal=False)}
    assert {o["external_id"]: (o["total"], o["currency"]) for o in exported} == platform
    assert sum(Decimal(o["total"]) for o in exported) == sum(Decimal(t) for t, _ in platform.values())
    guest = next(o for o in exported if o["external_id"] == "728")
    assert guest["contact_email"] == "guest.buyer@example.com" and guest["status"] == "completed"

    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        again = run("sync", "--tenant", "shop")
    assert again.exit_code == 0
    total = again.stdout.splitlines()[4].split()
    assert (total[2], total[3], total[5]) == ("0", "0", "0")  # nothing created, updated or skipped


def test_resource_and_since_options(shop_tenant):
    with responses.RequestsMock() as mock:
        route_shop(mock, fixture_shop())
        result = run("sync", "--tenant", "shop", "--resource", "orders", "--since", "2026-11-23T10:00:00")
        url = mock.calls[0].request.url
    assert result.exit_code == 0, result.output
    assert "/orders?" in url and "modified_after=2026-11-23T08%3A59%3A59" in url  # 10:00 in Paris is 09:00Z
    assert result.stdout.splitlines()[1].split() == ["orders", "2", "2", "0", "0", "0"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--since", "last tuesday"], "--since 'last tuesday' is not an ISO 8601 date or time"),
        (["--since", "2999-01-01"], "is in the future"),
        (["--full", "--since", "2026-11-01"], "--full and --since cannot be combined"),
        (["--resource", "carts"], "woocommerce cannot sync carts (it syncs products, customers, orders)"),
    ],
)
def test_user_mistakes_get_one_clear_line(shop_tenant, args, message):
    result = CliRunner().invoke(cli, ["sync", "--tenant", "shop", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2 and "Traceback" not in result.output


def test_unknown_tenant(cli_env):
    result = CliRunner().invoke(cli, ["sync", "--tenant", "nope"])
    assert result.exit_code == 2 and "no tenant named 'nope'" in result.stderr


def test_refused_keys_give_one_line_naming_the_tenant(shop_tenant):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{SHOP_URL}/wp-json/wc/v3/products", status=401, json={"code": "woocommerce_rest_authentication_error"}
        )
        result = CliRunner().invoke(cli, ["sync", "--tenant", "shop"])
    assert result.exit_code == 2
    error = [line for line in result.stderr.splitlines() if line.startswith("relance: error:")]
    assert len(error) == 1 and "tenant shop" in error[0] and "consumer_key" in error[0]
    assert CREDENTIALS["consumer_secret"] not in result.output


def test_a_stopped_resource_exits_non_zero_after_the_summary(shop_tenant):
    with responses.RequestsMock() as mock:
        mock.get(
            f"{SHOP_URL}/wp-json/wc/v3/products", status=400, json={"code": "rest_invalid_param", "message": "bad"}
        )
        route_shop(mock, fixture_shop())
        result = CliRunner().invoke(cli, ["sync", "--tenant", "shop"])
    assert result.exit_code == 1
    assert (
        "with errors" in result.stdout
        and "products: tenant shop: GET products failed with HTTP 400: bad" in result.stderr
    )
    # the summary row says so, and the message says what to do (issue 11)
    [row] = [line for line in result.stdout.splitlines() if line.startswith("products")]
    assert row.split()[-1] == "STOPPED"
    assert "the next sync resumes products where this one stopped" in result.stderr
    assert "relance sync --tenant shop --resource products" in result.stderr
