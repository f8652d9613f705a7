"""The web side, through the real app factory: clicks, opens, unsubscribe, double opt-in."""

from __future__ import annotations

import re
from html import unescape

import pytest
from sqlalchemy import select

from core.messages import links
from core.messages.preferences import opt_outs_since
from core.messages.sending import SendConfig, send_messages
from core.store.schema import consents, contacts, events, messages
from tests.conftest import NOW
from tests.messages.helpers import BASE_URL, SECRET, Clock, add_contact, ingest_raw, message_row, outbox, runtime, shop
from transports.files import FileTransport
from webhooks.app import create_app


@pytest.fixture
def app_env(engine, tmp_path):
    rt = runtime(engine, tmp_path)
    client = create_app(rt, TESTING=True).test_client()
    return rt, client


def send(engine, tmp_path, ids):
    transport = FileTransport(tmp_path / "mail")
    return send_messages(engine, ids, Clock(), SendConfig(BASE_URL, SECRET), lambda *_: transport)


def sent_html(tmp_path, message_id):
    return next((tmp_path / "mail").glob(f"{message_id:06d}-*.html")).read_text()


def local(url):
    return url[len(BASE_URL) :]


def stored(engine, name):
    with engine.connect() as conn:
        return conn.execute(select(events).where(events.c.name == name)).all()


def test_a_click_redirects_to_the_signed_url_and_records_the_click(engine, tmp_path, app_env):
    _, client = app_env
    tenant = shop(engine)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    assert send(engine, tmp_path, [message_id]).sent == [message_id]
    html = sent_html(tmp_path, message_id)
    click = next(unescape(h) for h in re.findall(r'href="([^"]+)"', html) if "/m/c/" in h)

    response = client.get(local(click))
    assert response.status_code == 302
    assert response.headers["Location"].startswith("https://shop.example.com")
    assert "utm_campaign=birthday" in response.headers["Location"]
    client.get(local(click))  # a second click on the same link is the same event
    clicked = stored(engine, "email_clicked")
    assert len(clicked) == 1 and clicked[0].source == "relance"
    assert clicked[0].properties == {
        "message_id": message_id,
        "flow": "birthday",
        "step": 1,
        "url": response.headers["Location"],
    }

    tampered = click[:-3] + ("xyz" if not click.endswith("xyz") else "abc")
    refused = client.get(local(tampered))
    assert refused.status_code == 404 and "Location" not in refused.headers


def test_a_forged_click_cannot_redirect_anywhere_else(app_env):
    _, client = app_env
    forged = links.click_url(BASE_URL, "not-the-secret-0123456789", 1, 1, "https://evil.example")
    response = client.get(local(forged))
    assert response.status_code == 404 and "Location" not in response.headers


def test_the_open_pixel_records_an_open(engine, tmp_path, app_env):
    _, client = app_env
    tenant = shop(engine)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="cross_sell")
    send(engine, tmp_path, [message_id])
    pixel = re.search(r'src="([^"]+/m/o/[^"]+)"', sent_html(tmp_path, message_id)).group(1)
    response = client.get(local(unescape(pixel)))
    assert response.status_code == 200 and response.mimetype == "image/gif" and response.data.startswith(b"GIF89a")
    assert "no-store" in response.headers["Cache-Control"]
    client.get(local(unescape(pixel)))
    assert len(stored(engine, "email_opened")) == 1
    assert client.get("/m/o/garbage.gif").status_code == 200  # a bad pixel still answers, records nothing


def test_one_click_unsubscribe_stops_the_next_message(engine, tmp_path, app_env):
    _, client = app_env
    tenant = shop(engine)
    contact = add_contact(engine, tenant)
    first = outbox(engine, tenant, contact, flow="abandoned_cart")
    assert send(engine, tmp_path, [first]).sent == [first]
    eml = next((tmp_path / "mail").glob(f"{first:06d}-*.eml")).read_text()
    url = re.search(r"List-Unsubscribe: <([^>]+)>", eml).group(1)

    response = client.post(local(url), data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200

    with engine.connect() as conn:
        row = conn.execute(select(contacts).where(contacts.c.id == contact)).one()
        proof = conn.execute(select(consents).where(consents.c.granted.is_(False))).one()
    assert row.email_consent is False and row.email_consent_at == NOW
    assert proof.channel == "email" and proof.source == "relance" and proof.at == NOW
    assert proof.detail == f"one-click unsubscribe (RFC 8058) from message {first}"

    second = outbox(engine, tenant, contact, flow="abandoned_cart", step=2)
    report = send(engine, tmp_path, [second])
    assert report.suppressed == [second] and message_row(engine, second).reason == "unsubscribed"
    with engine.connect() as conn:
        pending = opt_outs_since(conn, tenant.id)
    assert [(o["email"], o["channel"]) for o in pending] == [("marie@example.com", "email")]
    with engine.connect() as conn:
        assert opt_outs_since(conn, tenant.id, after_id=pending[-1]["id"]) == []


def test_the_preferences_page_lets_a_contact_leave_one_channel_or_all(engine, tmp_path, app_env):
    _, client = app_env
    tenant = shop(engine)
    contact = add_contact(engine, tenant, phone="+33612345678", consent={"email": True, "sms": True})
    message_id = outbox(engine, tenant, contact, flow="birthday")
    path = local(links.unsubscribe_url(BASE_URL, SECRET, tenant.id, contact, message_id))

    page = client.get(path)
    assert page.status_code == 200 and 'lang="fr"' in page.text
    assert "Ne plus recevoir de SMS" in page.text and "Emails : abonné·e" in page.text
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.email_consent)).scalar() is True  # a GET changes nothing

    done = client.post(path, data={"choice": "sms"})
    assert done.status_code == 200 and "plus de SMS" in done.text
    with engine.connect() as conn:
        row = conn.execute(select(contacts)).one()
    assert (row.email_consent, row.sms_consent) == (True, False)

    client.post(path, data={"choice": "all"})
    with engine.connect() as conn:
        row = conn.execute(select(contacts)).one()
        details = conn.execute(select(consents.c.detail).where(consents.c.granted.is_(False))).scalars().all()
    assert (row.email_consent, row.sms_consent) == (False, False)
    assert sorted(set(details)) == [
        f"unsubscribe page (all) from message {message_id}",
        f"unsubscribe page (sms) from message {message_id}",
    ]
    assert client.get("/m/u/not-a-token").status_code == 404


def test_double_opt_in_consent_only_after_the_click(engine, tmp_path, app_env):
    _, client = app_env
    tenant = shop(engine)
    ingest_raw(
        engine,
        tenant,
        {
            "type": "track",
            "event": "newsletter_subscribed",
            "contact": {"email": "lea@example.com"},
            "properties": {"list": "newsletter"},
        },
        source="tracker",
    )
    with engine.connect() as conn:
        contact = conn.execute(select(contacts)).one()
        queued = conn.execute(select(messages)).one()
    assert contact.email_consent is None
    assert (queued.flow, queued.template, queued.marketing, queued.status) == (
        "double_opt_in",
        "double_opt_in/1",
        False,
        "scheduled",
    )
    assert queued.to_address == "lea@example.com"
    # the same person signing up again the same day gets one confirmation email
    ingest_raw(
        engine,
        tenant,
        {"type": "track", "event": "newsletter_subscribed", "contact": {"email": "lea@example.com"}},
        source="tracker",
    )
    with engine.connect() as conn:
        assert len(conn.execute(select(messages)).all()) == 1

    assert send(engine, tmp_path, [queued.id]).sent == [queued.id]
    html = sent_html(tmp_path, queued.id)
    confirm = unescape(re.search(rf'href="({BASE_URL}/m/confirm/[^"]+)"', html).group(1))
    page = client.get(local(confirm))
    assert page.status_code == 200 and "<form" in page.text
    with engine.connect() as conn:
        assert (
            conn.execute(select(contacts.c.email_consent)).scalar() is None
        )  # a GET (a mail scanner) confirms nothing
    done = client.post(local(confirm))
    assert done.status_code == 200 and "Inscription confirmée" in done.text
    client.post(local(confirm))
    with engine.connect() as conn:
        contact = conn.execute(select(contacts)).one()
        proofs = conn.execute(select(consents).where(consents.c.granted.is_(True))).all()
    assert contact.email_consent is True and contact.email_consent_at == NOW
    assert len(proofs) == 1 and proofs[0].detail == f"double opt-in confirmed from message {queued.id}"
    # a confirmed contact signing up again gets no confirmation email
    ingest_raw(
        engine,
        tenant,
        {
            "type": "track",
            "event": "newsletter_subscribed",
            "message_id": "again",
            "contact": {"email": "lea@example.com"},
        },
        source="tracker",
    )
    with engine.connect() as conn:
        assert len(conn.execute(select(messages)).all()) == 1


def test_a_shop_signup_needs_no_confirmation(engine):
    tenant = shop(engine)
    ingest_raw(
        engine,
        tenant,
        {"type": "track", "event": "newsletter_subscribed", "contact": {"email": "max@example.com"}},
        source="woocommerce",
    )
    with engine.connect() as conn:
        assert conn.execute(select(messages)).all() == []
        assert conn.execute(select(contacts.c.email_consent)).scalar() is True
