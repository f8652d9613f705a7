"""What the console's pages show and change: figures, flow switches and settings, the tenant file, contacts'
export and erasure (every table with a contact_id), failed deliveries and their replay."""

from __future__ import annotations

import json
from datetime import timedelta

import yaml
from sqlalchemy import func, select

from core.console.store.contacts import contact_tables, erase_contact, export_contact
from core.console.store.schema import audit, erasures
from core.coupons.store.schema import coupons
from core.flows.settings import tenant_flows
from core.flows.store.schema import flow_runs, flow_webhooks
from core.messages.store.schema import message_links
from core.segments.store.schema import contact_metrics, segment_members
from core.store.deliveries import deliveries
from core.store.schema import carts, contacts, events, messages, orders
from core.store.tenants import get_tenant
from inbound.deliveries import store_delivery
from tests.console.conftest import NOW, csrf_of, seed_contact, sign_in


def attribute(stage, name):
    """Credit the seeded orders to the messages clicked before them (what the pipeline's reaction does)."""
    from core.attribution.attribute import recompute

    recompute(stage["engine"], _tenant(stage, name), NOW)


def _tenant(stage, name="alpha"):
    with stage["engine"].connect() as conn:
        return get_tenant(conn, name)


def test_the_dashboard_shows_the_funnel_revenue_chart_and_segments(stage):
    marie = seed_contact(stage["engine"], stage["alpha"], "marie@example.fr")
    seed_contact(stage["engine"], stage["alpha"], "jean@example.fr", days_ago=40)  # outside the 30 days
    with stage["engine"].begin() as conn:
        conn.execute(
            segment_members.insert().values(
                tenant_id=stage["alpha"].id, segment="vip", contact_id=marie, entered_at=NOW
            )
        )
        for number, name in enumerate(("segment_entered", "segment_entered", "segment_exited")):
            conn.execute(
                events.insert().values(
                    tenant_id=stage["alpha"].id, message_id=f"seg-{number}", type="track", name=name,
                    contact_id=marie, occurred_at=NOW - timedelta(days=number + 1), received_at=NOW,
                    source="relance", properties={"segment": "vip"},
                )
            )  # fmt: skip
    attribute(stage, "alpha")
    client = sign_in(stage["app"], "owner-a")
    html = client.get("/console/t/alpha/").get_data(as_text=True)
    row = html.split('<td data-label="Flow">abandoned_cart</td>')[1].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<")[0].strip() for cell in row.split("<td")[1:]]
    assert cells == ["1", "1", "1", "1", "59.90 EUR"]  # sent, opened, clicked, ordered, revenue
    assert '<polyline class="line series-0"' in html
    segments = html.split('class="counts segments"')[1].split("</ul>")[0]
    assert "<span>vip</span> <strong>1</strong>" in segments and "+2 / −1" in segments
    wide = client.get("/console/t/alpha/?days=90").get_data(as_text=True)
    assert "119.80 EUR" in wide  # both orders within 90 days


def test_the_overview_shows_health_and_alerts(stage):
    from core.store.sync_state import sync_locks

    seed_contact(stage["engine"], stage["alpha"])
    with stage["engine"].begin() as conn:
        conn.execute(
            sync_locks.insert().values(
                tenant_id=stage["beta"].id, finished_at=NOW, outcome="auth_failed", error="401 from the shop"
            )
        )
        store_delivery(conn, stage["alpha"].id, "events", "events", {}, b"{}", NOW)
        conn.execute(deliveries.update().values(state="failed", error="bad event"))
    attribute(stage, "alpha")
    client = sign_in(stage["app"], "admin")
    html = client.get("/console/").get_data(as_text=True)
    beta = html.split(">beta</a>")[1].split("</tr>")[0]
    assert "auth_failed" in beta and "sync failing" in beta
    alpha = html.split(">alpha</a>")[1].split("</tr>")[0]
    assert "failed deliveries" in alpha and "59.90 EUR" in alpha
    assert "Redis does not answer" in html


def test_a_flow_is_switched_on_and_off_and_the_change_is_audited(stage):
    client = sign_in(stage["app"], "owner-a")
    assert not tenant_flows(_tenant(stage).config.flows).settings.of("win_back").enabled
    response = client.post("/console/t/alpha/flows/win_back/toggle", data={"csrf_token": client.csrf})
    assert response.status_code == 302
    assert tenant_flows(_tenant(stage).config.flows).settings.of("win_back").enabled
    client.post("/console/t/alpha/flows/win_back/toggle", data={"csrf_token": client.csrf})
    assert not tenant_flows(_tenant(stage).config.flows).settings.of("win_back").enabled
    with stage["engine"].connect() as conn:
        entries = conn.execute(
            select(audit.c.actor, audit.c.action, audit.c.detail).where(audit.c.action == "flow_switched")
        ).all()
    assert [(e.actor, e.detail["enabled"]) for e in entries] == [("owner-a", True), ("owner-a", False)]
    assert client.post("/console/t/alpha/flows/nosuch/toggle", data={"csrf_token": client.csrf}).status_code == 404


def test_flow_settings_are_validated_like_tenant_apply_and_errors_shown_in_place(stage):
    client = sign_in(stage["app"], "owner-a")
    before = _tenant(stage).config.to_dict()
    response = client.post(
        "/console/t/alpha/flows/abandoned_cart",
        data={"csrf_token": client.csrf, "yaml": "enabled: true\nbogus_key: 3\n"},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="flow-error"' in page and "bogus_key" in page
    assert "bogus_key: 3" in page  # what was typed stays in the form
    assert _tenant(stage).config.to_dict() == before
    ok = client.post(
        "/console/t/alpha/flows/abandoned_cart", data={"csrf_token": client.csrf, "yaml": "enabled: true\n"}
    )
    assert ok.status_code == 302
    assert tenant_flows(_tenant(stage).config.flows).settings.of("abandoned_cart").enabled


def test_a_flow_page_previews_every_step(stage):
    client = sign_in(stage["app"], "owner-a")
    page = client.get("/console/t/alpha/flows/abandoned_cart").get_data(as_text=True)
    assert page.count('<iframe class="preview" sandbox=""') >= 1
    frame = client.get("/console/t/alpha/flows/abandoned_cart/preview/1")
    assert frame.status_code == 200 and b"<html" in frame.data.lower()
    assert client.get("/console/t/alpha/flows/abandoned_cart/preview/99").status_code == 404


def test_the_tenant_file_round_trips_with_secrets_masked_and_kept(stage):
    client = sign_in(stage["app"], "owner-a")
    text = client.get("/console/t/alpha/settings.yaml").get_data(as_text=True)
    assert "cs_alpha_secret_9876" not in text and "ck_alpha_0123456789" not in text
    raw = yaml.safe_load(text)
    raw["timezone"] = "America/New_York"
    response = client.post("/console/t/alpha/settings", data={"csrf_token": client.csrf, "yaml": yaml.safe_dump(raw)})
    assert response.status_code == 302
    config = _tenant(stage).config
    assert config.timezone == "America/New_York"
    assert config.credentials["consumer_secret"] == "cs_alpha_secret_9876"  # the masked value kept the secret
    page = client.get("/console/t/alpha/settings").get_data(as_text=True)
    assert "cs_alpha_secret_9876" not in page


def test_a_bad_tenant_file_is_refused_with_the_error_in_place(stage):
    client = sign_in(stage["app"], "owner-a")
    before = _tenant(stage).config.to_dict()
    for text, expected in (
        ("name: alpha\nplatform: woocommerce\nurl: https://alpha.example.com\ntimezone: Mars/Olympus\n", "timezone"),
        ("name: beta\nplatform: woocommerce\nurl: https://beta.example.com\n", "this page changes 'alpha' only"),
        ("name: [unclosed\n", "not valid YAML"),
        ("a: &x [1]\nb: *x\n", "alias"),
    ):
        response = client.post("/console/t/alpha/settings", data={"csrf_token": client.csrf, "yaml": text})
        assert response.status_code == 422, text
        page = response.get_data(as_text=True).replace("&#39;", "'")
        assert 'id="settings-error"' in page and expected in page, page[:2000]
    assert _tenant(stage).config.to_dict() == before
    assert _tenant(stage, "beta").config.url == "https://beta.example.com"


def _fill_every_contact_table(stage, contact_id):
    tenant_id = stage["alpha"].id
    with stage["engine"].begin() as conn:
        message_id = conn.execute(select(messages.c.id).where(messages.c.contact_id == contact_id)).scalar_one()
        conn.execute(
            message_links.insert().values(tenant_id=tenant_id, message_id=message_id, position=1, url="https://x")
        )
        run_id = conn.execute(
            flow_runs.insert().values(
                tenant_id=tenant_id, flow="abandoned_cart", contact_id=contact_id, trigger_key="cart:1", state="done",
                position=2, trigger_at=NOW, context={}, started_at=NOW, updated_at=NOW,
            ).returning(flow_runs.c.id)
        ).scalar_one()  # fmt: skip
        conn.execute(flow_webhooks.insert().values(
            tenant_id=tenant_id, contact_id=contact_id, flow="abandoned_cart", run_id=run_id, dedupe_key="w1",
            url="https://hook", payload={"email": "marie@example.fr"}, status="delivered", attempts=1,
            created_at=NOW, updated_at=NOW,
        ))  # fmt: skip
        conn.execute(coupons.insert().values(
            tenant_id=tenant_id, contact_id=contact_id, flow="birthday", dedupe_key="c1", expires_at=NOW,
            status="created", code="HBD-MARIE", attempts=1, created_at=NOW, updated_at=NOW,
        ))  # fmt: skip
        conn.execute(
            segment_members.insert().values(tenant_id=tenant_id, segment="vip", contact_id=contact_id, entered_at=NOW)
        )
        conn.execute(contact_metrics.insert().values(
            tenant_id=tenant_id, contact_id=contact_id, orders_count=1, total_spent="59.90", updated_at=NOW
        ))  # fmt: skip
        conn.execute(carts.insert().values(
            tenant_id=tenant_id, source="woocommerce", external_id="cart-1", contact_id=contact_id, total="10",
            item_count=1, recovery_url="https://alpha.example.com/cart?email=marie@example.fr",
            created_at=NOW, updated_at=NOW,
        ))  # fmt: skip
        store_delivery(conn, tenant_id, "events", "events", {"X": "1"}, b'{"email": "marie@example.fr"}', NOW)
        store_delivery(conn, tenant_id, "events", "events", {"X": "1"}, b'{"email": "other@example.fr"}', NOW)


def _rows_of(conn, contact_id):
    found = {}
    for table in contact_tables():
        count = conn.execute(
            select(func.count()).select_from(table).where(table.c.contact_id == contact_id)
        ).scalar_one()
        if count:
            found[table.name] = count
    return found


def test_erasing_a_contact_removes_or_anonymises_every_row_and_records_it(stage):
    marie = seed_contact(stage["engine"], stage["alpha"], "marie@example.fr")
    other = seed_contact(stage["engine"], stage["alpha"], "other@example.fr")
    _fill_every_contact_table(stage, marie)
    with stage["engine"].connect() as conn:
        before = _rows_of(conn, marie)
        other_before = _rows_of(conn, other)
    assert {
        "contact_identities",
        "consents",
        "events",
        "messages",
        "flow_runs",
        "coupons",
        "segment_members",
        "orders",
        "carts",
    } <= set(before)
    client = sign_in(stage["app"], "owner-a")
    page = client.get(f"/console/t/alpha/contacts/{marie}")
    assert page.status_code == 200
    refused = client.post(
        f"/console/t/alpha/contacts/{marie}/erase", data={"csrf_token": client.csrf, "confirm": "erase"}
    )
    assert refused.status_code == 302
    with stage["engine"].connect() as conn:
        assert _rows_of(conn, marie) == before  # not confirmed: nothing happened
    response = client.post(
        f"/console/t/alpha/contacts/{marie}/erase", data={"csrf_token": client.csrf, "confirm": "ERASE"}
    )
    assert response.status_code == 302
    with stage["engine"].connect() as conn:
        assert _rows_of(conn, marie) == {}
        assert conn.execute(select(func.count()).select_from(contacts).where(contacts.c.id == marie)).scalar_one() == 0
        assert _rows_of(conn, other) == other_before
        order = conn.execute(select(orders).where(orders.c.external_id == "o-marie@example.fr")).one()
        assert order.contact_id is None and str(order.total) == "59.9000"  # the shop's figures keep the order
        cart = conn.execute(select(carts).where(carts.c.external_id == "cart-1")).one()
        assert cart.contact_id is None and cart.recovery_url is None
        bodies = conn.execute(select(deliveries.c.body)).scalars().all()
        assert all(b"marie@example.fr" not in bytes(body) for body in bodies)
        assert any(b"other@example.fr" in bytes(body) for body in bodies)
        erasure = conn.execute(select(erasures)).one()
        assert erasure.contact_id == marie and erasure.erased_by == "owner-a"
        assert erasure.removed["events"] == 3 and erasure.removed["webhook_deliveries"] == 1
        assert "marie" not in json.dumps(erasure.removed)
        assert conn.execute(select(audit.c.action).where(audit.c.action == "contact_erased")).scalar_one()
    assert client.get(f"/console/t/alpha/contacts/{marie}").status_code == 404


def test_the_export_holds_everything_stored_about_the_contact(stage):
    marie = seed_contact(stage["engine"], stage["alpha"], "marie@example.fr")
    seed_contact(stage["engine"], stage["alpha"], "other@example.fr")
    _fill_every_contact_table(stage, marie)
    client = sign_in(stage["app"], "owner-a")
    response = client.get(f"/console/t/alpha/contacts/{marie}/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = json.loads(response.data)
    assert data["contact"]["email"] == "marie@example.fr"
    assert len(data["tables"]["events"]) == 3
    assert data["tables"]["orders"][0]["total"] == "59.9000"
    assert data["tables"]["coupons"][0]["code"] == "HBD-MARIE"
    assert data["tables"]["consents"][0]["detail"] == "confirmed from 203.0.113.9"
    assert "other@example.fr" not in response.get_data(as_text=True)


def test_a_contact_is_found_by_search_and_its_profile_shows_the_timeline(stage):
    marie = seed_contact(stage["engine"], stage["alpha"], "marie@example.fr")
    seed_contact(stage["engine"], stage["alpha"], "jean@example.fr")
    client = sign_in(stage["app"], "viewer-a")
    found = client.post("/console/t/alpha/contacts", data={"q": "MARIE@", "csrf_token": client.csrf}).get_data(
        as_text=True
    )
    assert "marie@example.fr" in found and "jean@example.fr" not in found
    wild = client.post("/console/t/alpha/contacts", data={"q": "%_", "csrf_token": client.csrf}).get_data(as_text=True)
    assert "marie" not in wild.split("<tbody>")[1].lower()  # % and _ are searched for as they are
    assert (
        client.post("/console/t/alpha/contacts", data={"q": "marie"}).status_code == 400
    )  # a search needs the token too
    profile = client.get(f"/console/t/alpha/contacts/{marie}").get_data(as_text=True)
    for shown in ("email_opened", "abandoned_cart #1 (email) sent", "double_opt_in", "confirmed from 203.0.113.9"):
        assert shown in profile
    assert 'id="erase-button"' not in profile  # a viewer gets no erase form


def test_a_failed_delivery_is_listed_with_its_reason_and_replayed(stage):
    event = {"type": "track", "event": "product_viewed", "messageId": "m-1", "timestamp": "2026-11-23T10:00:00Z",
             "userId": "u1", "properties": {"product_id": "p1"}}  # fmt: skip
    with stage["engine"].begin() as conn:
        delivery_id = store_delivery(
            conn, stage["alpha"].id, "events", "events", {}, json.dumps({"batch": [event]}).encode(), NOW
        )
        conn.execute(deliveries.update().values(state="failed", error="tenant settings were wrong", attempts=1))
    client = sign_in(stage["app"], "owner-a")
    page = client.get("/console/t/alpha/deliveries").get_data(as_text=True)
    assert "tenant settings were wrong" in page and f"/deliveries/{delivery_id}/replay" in page
    response = client.post(f"/console/t/alpha/deliveries/{delivery_id}/replay", data={"csrf_token": client.csrf})
    assert response.status_code == 302
    with stage["engine"].connect() as conn:
        state = conn.execute(select(deliveries.c.state).where(deliveries.c.id == delivery_id)).scalar_one()
    assert state in ("processed", "ignored", "failed")
    assert state != "failed" or "tenant settings were wrong" not in client.get("/console/t/alpha/deliveries").get_data(
        as_text=True
    )
    other = sign_in(stage["app"], "owner-b")
    assert (
        other.post(f"/console/t/beta/deliveries/{delivery_id}/replay", data={"csrf_token": other.csrf}).status_code
        == 404
    )


def test_erase_contact_refuses_another_tenants_contact(stage):
    beta_contact = seed_contact(stage["engine"], stage["beta"], "paul@example.com")
    import pytest

    from core.errors import NotFoundError

    with stage["engine"].begin() as conn, pytest.raises(NotFoundError):
        erase_contact(conn, stage["alpha"].id, beta_contact, NOW, "test")
    with stage["engine"].connect() as conn, pytest.raises(NotFoundError):
        export_contact(conn, stage["alpha"].id, beta_contact)
    with stage["engine"].connect() as conn:
        assert _rows_of(conn, beta_contact)["events"] == 3


_ = (timedelta, csrf_of)


def test_a_campaign_is_created_from_a_segment_previewed_scheduled_and_cancelled(stage):
    from core.campaigns.api import get_campaign

    client = sign_in(stage["app"], "owner-a")
    page = client.get("/console/t/alpha/campaigns").get_data(as_text=True)
    assert 'name="yaml"' in page and "segment: loyal_customer" in page  # an example to start from
    bad = client.post(
        "/console/t/alpha/campaigns",
        data={"csrf_token": client.csrf, "yaml": "name: spring\nsegment: vip\nsubject: Hello\n"},
    )
    assert bad.status_code == 422
    text = bad.get_data(as_text=True).replace("&#39;", "'")
    assert 'id="campaign-error"' in text and "segment 'vip' does not exist" in text and "segment: vip" in text
    spec = "name: spring\nsegment: loyal_customer\nsubject: Spring sale\ntitle: Thank you\ntext: 15% off\n"
    created = client.post("/console/t/alpha/campaigns", data={"csrf_token": client.csrf, "yaml": spec})
    assert created.status_code == 302
    with stage["engine"].connect() as conn:
        assert get_campaign(conn, _tenant(stage), "spring").state == "draft"
    preview = client.get("/console/t/alpha/campaigns/spring/preview")
    assert preview.status_code == 200 and b"Thank you" in preview.data
    assert preview.headers["Content-Security-Policy"].startswith("sandbox")
    scheduled = client.post(
        "/console/t/alpha/campaigns/spring/schedule", data={"csrf_token": client.csrf, "at": "2026-12-10T10:00"}
    )
    assert scheduled.status_code == 302
    with stage["engine"].connect() as conn:
        row = get_campaign(conn, _tenant(stage), "spring")
    assert row.state == "scheduled" and row.start_at is not None
    listing = client.get("/console/t/alpha/campaigns").get_data(as_text=True)
    assert 'data-state="scheduled"' in listing
    refused = client.post("/console/t/alpha/campaigns/spring/schedule", data={"csrf_token": client.csrf, "at": "soon"})
    assert refused.status_code == 302
    assert "2026-12-10T10:00" in client.get("/console/t/alpha/campaigns").get_data(as_text=True)  # the error said how
    client.post("/console/t/alpha/campaigns/spring/cancel", data={"csrf_token": client.csrf})
    with stage["engine"].connect() as conn:
        assert get_campaign(conn, _tenant(stage), "spring").state == "cancelled"
        actions = conn.execute(select(audit.c.action).where(audit.c.action.like("campaign_%"))).scalars().all()
    assert actions == ["campaign_created", "campaign_scheduled", "campaign_cancelled"]
    assert client.get("/console/t/alpha/campaigns/nosuch/preview").status_code == 404


def test_the_overview_shows_the_queues_and_the_workers_heartbeats(stage, redis, redis_db):
    from dataclasses import replace

    from jobs.duties import HEARTBEAT_KEY
    from relance.wsgi import web_app
    from tests.conftest import redis_url

    runtime = stage["runtime"]
    runtime.settings = replace(runtime.settings, redis_url=redis_url(redis_db))
    app = web_app(runtime, TESTING=True)
    client = sign_in(app, "admin")
    page = client.get("/console/").get_data(as_text=True)
    assert "0 alive" in page and "no worker running" in page
    redis.zadd(HEARTBEAT_KEY, {"worker-1": NOW.timestamp() - 12})
    page = client.get("/console/").get_data(as_text=True)
    workers = page.split('id="workers">')[1].split("</span>")[0]
    assert "1 alive" in workers and "last heartbeat 12 s" in workers
    assert "no worker running" not in page and "relance 0" in page  # the queue's depth


def test_the_dashboard_shows_holdout_and_ab_results(stage):
    from tests.reports import helpers

    alpha = stage["alpha"]
    sent = NOW - timedelta(days=10)
    for number in range(6):
        who = helpers.contact(stage["engine"], alpha, f"r{number}@example.com")
        msg = helpers.message(stage["engine"], alpha, who, "win_back", 1, sent, variant="a" if number % 2 else "b")
        helpers.engage(stage["engine"], alpha, msg, "email_clicked", sent + timedelta(hours=1), url="https://x")
        if number < 3:
            helpers.order(
                stage["engine"], alpha, f"r{number}@example.com", f"o-r{number}", sent + timedelta(days=1), "20.00"
            )
    for number in range(3):
        who = helpers.contact(stage["engine"], alpha, f"h{number}@example.com")
        helpers.message(stage["engine"], alpha, who, "win_back", 1, sent, status="holdout")
    helpers.order(stage["engine"], alpha, "h0@example.com", "o-h0", sent + timedelta(days=2), "5.00")
    client = sign_in(stage["app"], "owner-a")
    response = client.get("/console/t/alpha/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    funnel = html.split('class="funnel"')[1].split("</table>")[0]
    assert "win_back" in funnel and "60.00 EUR" in funnel
    assert "Holdout: recipients 3/6 (50.0 %)" in funnel and "held out 1/3 (33.3 %)" in funnel
    assert "A/B (control a)" in funnel and "b − a" in funnel


def test_a_campaign_test_message_goes_through_the_tenants_transport(stage):
    from core.campaigns.api import create_campaign
    from core.sections import validate_tenant
    from core.store.tenants import upsert_tenant

    raw = stage["alpha"].config.to_dict()
    raw["sender"] = {"name": "Alpha", "email": "shop@alpha.example.com"}
    with stage["engine"].begin() as conn:
        alpha, _ = upsert_tenant(conn, validate_tenant(raw), NOW)
        create_campaign(conn, alpha, {"name": "spring", "segment": "loyal_customer", "subject": "Sale"}, NOW)
    client = sign_in(stage["app"], "owner-a")
    response = client.post(
        "/console/t/alpha/campaigns/spring/test", data={"csrf_token": client.csrf, "to": "me@example.com"}
    )
    assert response.status_code == 302
    page = client.get("/console/t/alpha/campaigns").get_data(as_text=True)
    sent = list((stage["runtime"].settings.data_dir / "outbox" / "alpha").rglob("*.eml"))
    assert sent, page.split("<main>")[1][:600]
    assert len(sent) == 1
    text = sent[0].read_text()
    assert "Subject: [TEST] Sale" in text and "me@example.com" in text
    assert "test message sent" in page
    empty = client.post("/console/t/alpha/campaigns/spring/test", data={"csrf_token": client.csrf, "to": ""})
    assert empty.status_code == 302 and len(list((stage["runtime"].settings.data_dir / "outbox").rglob("*.eml"))) == 1
    with stage["engine"].connect() as conn:
        entry = conn.execute(select(audit.c.detail).where(audit.c.action == "campaign_test_sent")).scalar_one()
    assert "me@example.com" not in json.dumps(entry)
