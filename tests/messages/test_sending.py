"""Delivery through a real SMTP server: claims, consent at send time, bounces, retries, never twice."""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest
from sqlalchemy import select

from core.messages import sending
from core.messages.sending import SendConfig, mark_interrupted, send_messages
from core.messages.settings import SmtpSettings
from core.messages.store.schema import suppressions
from core.store.schema import messages
from tests.conftest import NOW
from tests.messages.helpers import (
    BASE_URL,
    SECRET,
    Clock,
    Inbox,
    add_contact,
    ingest_raw,
    message_row,
    outbox,
    shop,
    smtp_server,
)
from transports.files import FileTransport
from transports.registry import tenant_transports
from transports.smtp import SmtpTransport, default_ssl_context


@pytest.fixture
def inbox():
    box = Inbox()
    controller = smtp_server(box)
    yield box, controller
    controller.stop()


def smtp_tenant(engine, controller, **transport):
    section = {
        "transport": {"type": "smtp", "host": "127.0.0.1", "port": controller.port, "security": "none", **transport}
    }
    return shop(engine, section)


CONFIG = SendConfig(BASE_URL, SECRET)


def transports(tmp_path):
    return tenant_transports(tmp_path / "outbox")


def add_cart(engine, tenant, email="marie@example.com"):
    ingest_raw(
        engine,
        tenant,
        {
            "type": "track",
            "event": "cart_updated",
            "contact": {"email": email},
            "properties": {
                "cart_id": "c-1",
                "currency": "EUR",
                "recovery_url": "https://shop.example.com/cart/restore/c-1",
                "items": [
                    {
                        "product_id": "p1",
                        "name": "Théière en fonte",
                        "quantity": 1,
                        "price": "49.90",
                        "url": "https://shop.example.com/p/p1",
                        "image_url": "https://shop.example.com/img/p1.jpg",
                    }
                ],
            },
        },
        source="woocommerce",
    )


def test_an_email_goes_through_a_real_smtp_server(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    contact = add_contact(engine, tenant)
    add_cart(engine, tenant)
    message_id = outbox(engine, tenant, contact, context={"cart_id": "c-1", "products": ["p1"]})

    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))

    assert report.sent == [message_id]
    assert len(box.received) == 1
    received = box.received[0]
    assert box.envelopes[0] == ("bonjour@maison.example", ["marie@example.com"])
    assert received["Subject"] == "Marie, votre panier vous attend"
    assert received["From"] == "Maison Lumière <bonjour@maison.example>"
    assert received["Reply-To"] == "aide@maison.example"
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert received["List-Unsubscribe"].startswith(f"<{BASE_URL}/m/u/")
    assert received.get_content_type() == "multipart/alternative"
    text = received.get_body(("plain",)).get_content()
    html = received.get_body(("html",)).get_content()
    assert "Bonjour Marie" in text and "Théière en fonte" in text and "49,90 €" in text
    assert "Théière en fonte" in html and "/m/o/" in html
    row = message_row(engine, message_id)
    assert row.status == "sent" and row.sent_at == NOW and row.attempts == 1
    assert row.provider_id == received["Message-ID"] and row.provider_id.endswith("@maison.example>")
    assert row.to_address == "marie@example.com" and row.subject == received["Subject"]


def test_batches_share_one_default_tls_context_built_only_for_tls(engine, tmp_path, inbox):
    """Building a TLS context loads the system's CA certificates (37 ms): a transport is made for every batch, so
    the default context is built once per process, and not at all for a server reached without TLS."""
    box, controller = inbox
    default_ssl_context.cache_clear()
    tenant = smtp_tenant(engine, controller)
    for batch in range(2):  # two batches, two transports
        ok = outbox(engine, tenant, add_contact(engine, tenant, f"b{batch}@example.com"), flow="birthday")
        assert send_messages(engine, [ok], Clock(), CONFIG, transports(tmp_path)).sent == [ok]
    assert len(box.received) == 2 and default_ssl_context.cache_info().currsize == 0
    first, second = SmtpTransport(SmtpSettings("smtp.example.com")), SmtpTransport(SmtpSettings("smtp.example.com"))
    assert first.ssl_context is second.ssl_context
    assert default_ssl_context.cache_info().misses == 1
    assert first.ssl_context.verify_mode == ssl.CERT_REQUIRED and first.ssl_context.check_hostname
    given = ssl.create_default_context()
    assert SmtpTransport(SmtpSettings("smtp.example.com"), given).ssl_context is given


def test_smtp_authentication_is_used(engine, tmp_path):
    from aiosmtpd.smtp import AuthResult

    box = Inbox()
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    controller = smtp_server(box, authenticator=authenticator, auth_require_tls=False)
    try:
        tenant = smtp_tenant(engine, controller, username="shop", password="s3cret")
        ok = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
        assert send_messages(engine, [ok], Clock(), CONFIG, transports(tmp_path)).sent == [ok]
        assert logins == [(b"shop", b"s3cret")] and len(box.received) == 1

    finally:
        controller.stop()


def test_a_message_is_claimed_once_and_never_sent_twice(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    first = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    again = send_messages(engine, [message_id, message_id], Clock(), CONFIG, transports(tmp_path))
    assert first.sent == [message_id] and again.as_dict() == {
        "sent": 0,
        "suppressed": 0,
        "failed": 0,
        "bounced": 0,
        "retry": 0,
    }
    assert len(box.received) == 1


def test_a_message_not_yet_due_is_left_alone(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    later = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday", due_at=NOW + timedelta(hours=1))
    assert send_messages(engine, [later], Clock(), CONFIG, transports(tmp_path)).sent == []
    assert message_row(engine, later).status == "scheduled" and not box.received


def test_consent_is_checked_again_at_send_time(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    out = add_contact(engine, tenant, "out@example.com", consent={"email": False})
    unknown = add_contact(engine, tenant, "unknown@example.com", consent={})
    ids = [outbox(engine, tenant, out, flow="birthday"), outbox(engine, tenant, unknown, flow="birthday")]
    transactional = outbox(engine, tenant, out, flow="double_opt_in", marketing=False)
    report = send_messages(engine, [*ids, transactional], Clock(), CONFIG, transports(tmp_path))
    assert report.suppressed == ids and report.sent == [transactional]
    assert [message_row(engine, i).reason for i in ids] == ["unsubscribed", "no_consent"]
    assert [m["To"] for m in box.received] == ["out@example.com"]


def test_a_refused_recipient_bounces_and_is_suppressed_for_marketing(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    contact = add_contact(engine, tenant)
    box.rcpt_reply = "550 5.1.1 <marie@example.com>: no such user"
    first = outbox(engine, tenant, contact, flow="birthday")
    report = send_messages(engine, [first], Clock(), CONFIG, transports(tmp_path))
    row = message_row(engine, first)
    assert report.bounced == [first] and row.status == "bounced" and row.reason == "bounced" and "550" in row.error
    with engine.connect() as conn:
        kept = conn.execute(select(suppressions)).one()
    assert (kept.channel, kept.address, kept.reason, kept.message_id) == (
        "email",
        "marie@example.com",
        "bounced",
        first,
    )

    box.rcpt_reply = None
    second = outbox(engine, tenant, contact, flow="cross_sell")
    confirmation = outbox(engine, tenant, contact, flow="double_opt_in", marketing=False)
    report = send_messages(engine, [second, confirmation], Clock(), CONFIG, transports(tmp_path))
    assert report.suppressed == [second] and message_row(engine, second).reason == "suppressed:bounced"
    assert report.sent == [confirmation]  # transactional mail still goes


def test_a_temporary_failure_is_retried_later_and_sent_once(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    box.rcpt_reply = "451 4.7.1 greylisted, try again later"
    clock = Clock()
    report = send_messages(engine, [message_id], clock, CONFIG, transports(tmp_path))
    row = message_row(engine, message_id)
    assert report.retry == [message_id] and row.status == "scheduled" and row.attempts == 1
    assert row.due_at == NOW + timedelta(seconds=5) and "451" in row.error and not box.received

    assert send_messages(engine, [message_id], clock, CONFIG, transports(tmp_path)).sent == []  # not due yet
    box.rcpt_reply = None
    clock.now = NOW + timedelta(seconds=5)
    assert send_messages(engine, [message_id], clock, CONFIG, transports(tmp_path)).sent == [message_id]
    assert send_messages(engine, [message_id], clock, CONFIG, transports(tmp_path)).sent == []
    row = message_row(engine, message_id)
    assert row.status == "sent" and row.attempts == 2 and row.error is None and len(box.received) == 1


def test_temporary_failures_give_up_after_the_last_attempt(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    box.rcpt_reply = "421 4.3.2 service not available"
    clock = Clock()
    for _ in range(sending.MAX_ATTEMPTS):
        send_messages(engine, [message_id], clock, CONFIG, transports(tmp_path))
        clock.now += timedelta(hours=1)
    row = message_row(engine, message_id)
    assert row.status == "failed" and row.reason == "gave_up" and row.attempts == sending.MAX_ATTEMPTS


def test_an_unreachable_server_is_a_temporary_failure(engine, tmp_path):
    from tests.messages.helpers import free_port

    tenant = shop(
        engine,
        {
            "transport": {
                "type": "smtp",
                "host": "127.0.0.1",
                "port": free_port(),
                "security": "none",
                "timeout_seconds": 2,
            }
        },
    )
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    assert send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path)).retry == [message_id]
    assert "cannot reach the SMTP server" in message_row(engine, message_id).error


def test_a_message_interrupted_while_sending_is_never_resent(engine, tmp_path, inbox):
    box, controller = inbox
    tenant = smtp_tenant(engine, controller)
    stuck = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday", status="sending")
    with engine.begin() as conn:
        assert mark_interrupted(conn, NOW) == []  # not stuck long enough yet
        assert mark_interrupted(conn, NOW + timedelta(minutes=16)) == [stuck]
    row = message_row(engine, stuck)
    assert row.status == "failed" and row.reason == "interrupted"
    assert send_messages(engine, [stuck], Clock(NOW + timedelta(minutes=20)), CONFIG, transports(tmp_path)).sent == []
    assert not box.received


def test_a_template_that_fails_fails_the_message_with_the_reason(engine, tmp_path):
    tenant = shop(engine)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="no_such_flow")
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    row = message_row(engine, message_id)
    assert report.failed == [message_id] and row.reason == "template" and "messages.templates.email" in row.error


def test_the_file_transport_writes_eml_and_html_by_default(engine, tmp_path):
    tenant = shop(engine)
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday", context={"coupon": "ANNIV"})
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    folder = tmp_path / "outbox" / "shop"
    eml = folder / f"{message_id:06d}-birthday-1-fr.eml"
    assert report.sent == [message_id] and eml.exists() and eml.with_suffix(".html").exists()
    assert message_row(engine, message_id).provider_id == f"file:{eml.name}"
    from email import message_from_bytes, policy

    parsed = message_from_bytes(eml.read_bytes(), policy=policy.default)
    assert parsed["Subject"] == "Joyeux anniversaire Marie !" and "ANNIV" in parsed.get_body(("plain",)).get_content()


def test_an_sms_without_consent_or_number_is_not_sent(engine, tmp_path):
    tenant = shop(engine)
    no_phone = add_contact(engine, tenant, consent={"sms": True})
    no_consent = add_contact(engine, tenant, "paul@example.com", phone="+33612345678")
    ids = [
        outbox(engine, tenant, no_phone, channel="sms", flow="birthday"),
        outbox(engine, tenant, no_consent, channel="sms", flow="birthday"),
    ]
    transport = FileTransport(tmp_path / "sms")
    report = send_messages(engine, ids, Clock(), CONFIG, lambda *_: transport)
    assert report.suppressed == ids
    with engine.connect() as conn:
        reasons = (
            conn.execute(select(messages.c.reason).where(messages.c.id.in_(ids)).order_by(messages.c.id))
            .scalars()
            .all()
        )
    assert reasons == ["no_address", "no_consent"]
