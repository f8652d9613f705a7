"""POST /hooks/<tenant>/woocommerce: WooCommerce deliveries through the real app, Redis and worker."""

from __future__ import annotations

import json
import logging

from sqlalchemy import func, select

from core.store.deliveries import deliveries
from core.store.schema import contact_identities, contacts, events, order_items, orders, products
from tests.webhooks.conftest import SECRET
from tests.webhooks.payloads import CUSTOMER, PRODUCT, delivery_headers, order, wp_json

URL = "/hooks/shop/woocommerce"


def post(client, topic, payload, secret=SECRET, **header_changes):
    body = payload if isinstance(payload, bytes) else wp_json(payload)
    headers = delivery_headers(topic, body, secret)
    headers.update(header_changes)
    return client.post(URL, data=body, headers=headers)


def rows(engine, table, *where):
    with engine.connect() as conn:
        return conn.execute(select(table).where(*where)).all()


def count(engine, table):
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_signed_order_delivery_is_stored_before_the_answer_then_processed(engine, shop, client, work):
    response = post(client, "order.created", order())
    assert response.status_code == 200
    [stored] = rows(engine, deliveries)
    assert stored.state == "pending"
    assert stored.topic == "order.created"
    assert stored.headers["X-WC-Webhook-Delivery-ID"] == "a1b2c3d4e5f6"
    assert "X-WC-Webhook-Signature" not in stored.headers
    assert bytes(stored.body) == wp_json(order())

    assert work() == 1
    [row] = rows(engine, orders)
    assert (row.external_id, row.status, str(row.total), row.currency) == ("727", "paid", "66.6000", "EUR")
    assert len(rows(engine, order_items)) == 2
    [contact] = rows(engine, contacts)
    assert contact.email == "zoe.angstrom@example.fr"
    [stored] = rows(engine, deliveries)
    assert stored.state == "processed"
    assert stored.result["stored"] == 1
    assert stored.processed_at is not None


def test_the_creation_ping_is_answered_200_without_signature(engine, shop, client):
    response = client.post(URL, data=b"webhook_id=4", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 200
    assert count(engine, deliveries) == 0


def test_a_bad_or_missing_signature_is_refused_401_and_nothing_is_stored(engine, shop, client):
    assert post(client, "order.created", order(), secret="not-the-secret").status_code == 401
    body = wp_json(order())
    headers = delivery_headers("order.created", body, SECRET)
    del headers["X-WC-Webhook-Signature"]
    response = client.post(URL, data=body, headers=headers)
    assert response.status_code == 401
    assert "X-WC-Webhook-Signature" in response.get_json()["error"]
    # A body changed after signing (even re-serialised the same JSON) no longer matches.
    tampered = json.dumps(order()).encode()
    response = client.post(URL, data=tampered, headers=delivery_headers("order.created", body, SECRET))
    assert response.status_code == 401
    assert count(engine, deliveries) == 0


def test_the_signature_is_checked_before_the_json(engine, shop, client):
    assert post(client, "order.created", b"{not json", secret="wrong").status_code == 401
    response = post(client, "order.created", b"{not json")
    assert response.status_code == 400
    assert "not valid JSON" in response.get_json()["error"]
    assert count(engine, deliveries) == 0


def test_unknown_tenant_is_404(engine, shop, client):
    body = wp_json(order())
    response = client.post(
        "/hooks/nobody/woocommerce", data=body, headers=delivery_headers("order.created", body, SECRET)
    )
    assert response.status_code == 404
    assert client.post("/hooks/Bad..Name/woocommerce", data=body).status_code == 404


def test_a_body_over_one_megabyte_is_refused_413(engine, shop, client):
    body = b'{"id": 1, "pad": "' + b"x" * (1024 * 1024) + b'"}'
    response = client.post(URL, data=body, headers=delivery_headers("order.created", body, SECRET))
    assert response.status_code == 413
    assert count(engine, deliveries) == 0


def test_an_unsupported_topic_is_acknowledged_and_ignored(engine, shop, client, work):
    response = post(client, "coupon.created", {"id": 5, "code": "noel"})
    assert response.status_code == 200
    assert response.get_json()["ignored"] == "coupon.created"
    assert post(client, "action.woocommerce_add_to_cart", {"action": "x", "arg": 1}).status_code == 200
    assert count(engine, deliveries) == 0
    assert work() == 0


def test_a_redelivery_changes_nothing(engine, shop, client, work):
    for _ in range(2):
        assert post(client, "order.updated", order()).status_code == 200
    assert count(engine, deliveries) == 2
    work()
    assert count(engine, orders) == 1
    assert count(engine, events) == 1
    states = sorted(r.state for r in rows(engine, deliveries))
    assert states == ["processed", "processed"]
    results = sorted(r.result["duplicates"] for r in rows(engine, deliveries))
    assert results == [0, 1]


def test_created_then_updated_with_the_same_state_is_one_event(engine, shop, client, work):
    post(client, "order.created", order())
    post(client, "order.updated", order())
    work()
    assert count(engine, events) == 1


def test_an_older_state_arriving_late_never_overwrites_a_newer_one(engine, shop, client, work):
    newer = order(status="completed", date_modified_gmt="2026-11-22T09:00:00", date_modified="2026-11-22T10:00:00")
    post(client, "order.updated", newer)
    work()
    post(client, "order.updated", order())  # the state of 2026-11-20, delivered late
    work()
    [row] = rows(engine, orders)
    assert row.status == "completed"
    assert count(engine, events) == 2  # both kept as history


def test_deliveries_of_different_resources_sharing_a_delivery_id_are_all_kept(engine, shop, client, work):
    # WooCommerce derives X-WC-Webhook-Delivery-ID from the webhook and the second: it repeats.
    first = order()
    second = order(id=728, number="728", order_key="wc_order_x")
    post(client, "order.created", first, **{"X-WC-Webhook-Delivery-ID": "same"})
    post(client, "order.created", second, **{"X-WC-Webhook-Delivery-ID": "same"})
    work()
    assert sorted(r.external_id for r in rows(engine, orders)) == ["727", "728"]


def test_several_changes_arriving_as_one_update_give_the_final_state(engine, shop, client, work):
    post(client, "order.created", order(status="pending", date_paid_gmt=None, date_paid=None))
    work()
    # paid, then refunded, all before WooCommerce sent the next delivery: one update carrying the final state.
    final = order(
        status="refunded", date_modified_gmt="2026-11-21T08:00:00", refunds=[{"id": 1, "reason": "", "total": "-66.60"}]
    )
    post(client, "order.updated", final)
    work()
    [row] = rows(engine, orders)
    assert row.status == "refunded"


def test_an_order_deleted_becomes_cancelled_and_restored_comes_back(engine, shop, client, work, clock):
    post(client, "order.created", order())
    work()
    assert post(client, "order.deleted", {"id": 727}).status_code == 200
    work()
    [row] = rows(engine, orders)
    assert row.status == "cancelled"
    assert len(rows(engine, order_items)) == 2  # the lines are kept
    # A redelivery of the deletion changes nothing.
    post(client, "order.deleted", {"id": 727})
    work()
    assert count(engine, events) == 2
    # Restored from the trash a second later; WooCommerce's date may be earlier than our deletion time.
    restored = order(date_modified_gmt="2026-11-20T14:40:00")
    clock.advance(seconds=30)
    post(client, "order.restored", restored)
    work()
    [row] = rows(engine, orders)
    assert row.status == "paid"


def test_a_deletion_of_an_order_never_seen_is_ignored(engine, shop, client, work):
    post(client, "order.deleted", {"id": 999})
    work()
    [stored] = rows(engine, deliveries)
    assert stored.state == "ignored"
    assert count(engine, orders) == 0


def test_customer_created_updates_the_contact_and_deleted_marks_it(engine, shop, client, work):
    post(client, "customer.created", CUSTOMER)
    work()
    [contact] = rows(engine, contacts)
    assert (contact.first_name, contact.last_name, contact.country) == ("Zoé", "Ångström", "FR")
    post(client, "customer.deleted", {"id": 12})
    work()
    [contact] = rows(engine, contacts)
    assert contact.attributes["woocommerce_account_deleted"] is True
    assert contact.email == "zoe.angstrom@example.fr"  # the contact and its history stay
    assert len(rows(engine, contact_identities, contact_identities.c.kind == "ext:woocommerce")) == 1


def test_product_updated_then_deleted_is_no_longer_in_stock(engine, shop, client, work):
    post(client, "product.updated", PRODUCT)
    work()
    [row] = rows(engine, products)
    assert (row.name, row.brand, row.categories, row.in_stock) == ("Woo Single #1", "Maison", ["Tea & Coffee"], True)
    post(client, "product.deleted", {"id": 93})
    work()
    [row] = rows(engine, products)
    assert row.in_stock is False
    assert row.name == "Woo Single #1"


def test_a_malformed_resource_fails_and_is_kept_with_the_error(engine, shop, client, work):
    broken = order(total="not money")
    assert post(client, "order.updated", broken).status_code == 200
    work()
    [stored] = rows(engine, deliveries)
    assert stored.state == "failed"
    assert "total" in stored.error
    assert count(engine, orders) == 0


def test_no_secret_and_no_personal_data_in_the_logs(engine, shop, client, work, caplog):
    caplog.set_level(logging.DEBUG)
    post(client, "order.created", order())
    post(client, "order.created", order(), secret="wrong")
    post(client, "customer.updated", CUSTOMER)
    work()
    text = caplog.text.lower()
    assert caplog.records, "the service logs what it does"
    for secret_or_personal in ("wc-s3cret", "zoe.angstrom", "ångström", "06 12 34 56 78", "+33612345678", "république"):
        assert secret_or_personal not in text


def test_a_product_deleted_then_restored_is_back_in_stock(engine, shop, client, work, clock):
    post(client, "product.updated", PRODUCT)
    work()
    post(client, "product.deleted", {"id": 93})
    work()
    clock.advance(seconds=40)
    post(client, "product.restored", PRODUCT)  # same date_modified_gmt as before the deletion
    work()
    [row] = rows(engine, products)
    assert row.in_stock is True


def test_http_errors_of_the_webhook_endpoints_are_json(engine, shop, client):
    response = client.get(URL)
    assert response.status_code == 405
    assert response.is_json
    assert "error" in response.get_json()
