"""SMS through Twilio (HTTP faked with ``responses``) and Twilio's signed callbacks through the app."""

from __future__ import annotations

import pytest
import requests
import responses
from responses import matchers
from sqlalchemy import select

from core.messages.sending import SendConfig, send_messages
from core.messages.store.schema import message_links, receipts, suppressions
from core.store.schema import consents, contacts
from tests.messages.helpers import BASE_URL, SECRET, Clock, add_contact, message_row, outbox, runtime, shop
from transports.registry import tenant_transports
from transports.twilio import sign_callback
from webhooks.app import create_app

SID = "AC" + "0123456789abcdef" * 2
TOKEN = "twilio-auth-token-0123456789"
API = f"https://api.twilio.com/2010-04-01/Accounts/{SID}/Messages.json"
SMS = {"provider": "twilio", "account_sid": SID, "auth_token": TOKEN, "from": "+33757000000"}


def sms_shop(engine):
    return shop(engine, {"sms": SMS})


def sms_contact(engine, tenant, email="marie@example.com", phone="+33612345678"):
    return add_contact(engine, tenant, email, phone=phone, consent={"email": True, "sms": True})


CONFIG = SendConfig(BASE_URL, SECRET)


def transports(tmp_path):
    return tenant_transports(tmp_path / "outbox")


@responses.activate
def test_an_sms_is_sent_through_twilio(engine, tmp_path):
    tenant = sms_shop(engine)
    message_id = outbox(
        engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday", context={"coupon": "ANNIV"}
    )
    responses.post(
        API,
        json={"sid": "SM" + "a" * 32, "status": "queued"},
        status=201,
        match=[matchers.header_matcher({"Authorization": requests.auth._basic_auth_str(SID, TOKEN)})],
    )
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    assert report.sent == [message_id]
    sent = dict(p.split("=", 1) for p in responses.calls[0].request.body.split("&"))
    from urllib.parse import unquote_plus

    sent = {k: unquote_plus(v) for k, v in sent.items()}
    assert sent["To"] == "+33612345678" and sent["From"] == "+33757000000"
    assert sent["StatusCallback"] == f"{BASE_URL}/m/sms/twilio/shop/status"
    assert "joyeux anniversaire Marie" in sent["Body"] and "ANNIV" in sent["Body"]
    assert sent["Body"].endswith("Répondez STOP pour vous désinscrire")
    assert f"{BASE_URL}/m/s/{tenant.id}-{message_id}-0-" in sent["Body"]
    row = message_row(engine, message_id)
    assert row.status == "sent" and row.provider_id == "SM" + "a" * 32 and row.to_address == "+33612345678"
    with engine.connect() as conn:
        link = conn.execute(select(message_links)).one()
    assert link.message_id == message_id and "utm_medium=sms" in link.url


@responses.activate
def test_an_invalid_number_bounces_and_is_suppressed(engine, tmp_path):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    responses.post(
        API, json={"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}, status=400
    )
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    assert report.bounced == [message_id]
    with engine.connect() as conn:
        kept = conn.execute(select(suppressions)).one()
    assert (kept.channel, kept.address, kept.reason) == ("sms", "+33612345678", "invalid_number")
    assert "21211" in message_row(engine, message_id).error


@pytest.mark.parametrize(("status", "retried"), [(429, True), (503, True), (400, False)])
@responses.activate
def test_twilio_errors_are_sorted_before_any_retry(engine, tmp_path, status, retried):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    responses.post(API, json={"code": 20001 if status == 400 else 20429, "message": "nope"}, status=status)
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    row = message_row(engine, message_id)
    if retried:
        assert report.retry == [message_id] and row.status == "scheduled"
    else:
        assert report.failed == [message_id] and row.status == "failed" and row.reason == "refused"


@responses.activate
def test_a_timeout_after_posting_is_never_resent(engine, tmp_path):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    responses.post(API, body=requests.ReadTimeout("read timed out"))
    report = send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    row = message_row(engine, message_id)
    assert report.failed == [message_id] and row.reason == "unknown_outcome" and "not sent again" in row.error


@responses.activate
def test_a_connection_failure_is_retried(engine, tmp_path):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    responses.post(API, body=requests.ConnectionError("refused"))
    assert send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path)).retry == [message_id]


@responses.activate
def test_a_recipient_who_opted_out_at_twilio_is_opted_out_here(engine, tmp_path):
    tenant = sms_shop(engine)
    contact = sms_contact(engine, tenant)
    message_id = outbox(engine, tenant, contact, channel="sms", flow="birthday")
    responses.post(API, json={"code": 21610, "message": "Attempt to send to unsubscribed recipient"}, status=400)
    assert send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path)).bounced == [message_id]
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.sms_consent)).scalar() is False


def post_signed(client, path, form, token=TOKEN):
    signature = sign_callback(BASE_URL + path, list(form.items()), token)
    return client.post(path, data=form, headers={"X-Twilio-Signature": signature})


@pytest.fixture
def client(engine, tmp_path):
    return create_app(runtime(engine, tmp_path), TESTING=True).test_client()


def test_a_stop_reply_opts_the_contact_out_of_sms_at_once(engine, tmp_path, client):
    tenant = sms_shop(engine)
    contact = sms_contact(engine, tenant)
    path = "/m/sms/twilio/shop/inbound"
    form = {
        "MessageSid": "SM" + "b" * 32,
        "AccountSid": SID,
        "From": "+33612345678",
        "To": "+33757000000",
        "Body": " stop ",
    }
    response = post_signed(client, path, form)
    assert response.status_code == 200 and response.mimetype == "text/xml" and "<Response>" in response.text
    with engine.connect() as conn:
        row = conn.execute(select(contacts).where(contacts.c.id == contact)).one()
        proof = conn.execute(select(consents).where(consents.c.channel == "sms", consents.c.granted.is_(False))).one()
    assert row.sms_consent is False and row.email_consent is True
    assert proof.source == "relance" and proof.detail == "SMS reply STOP"
    message_id = outbox(engine, tenant, contact, channel="sms", flow="birthday")
    assert send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path)).suppressed == [message_id]
    # an ordinary reply changes nothing; START opts back in
    post_signed(client, path, {**form, "MessageSid": "SM" + "c" * 32, "Body": "Merci !"})
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.sms_consent)).scalar() is False
    post_signed(client, path, {**form, "MessageSid": "SM" + "d" * 32, "Body": "START"})
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.sms_consent)).scalar() is True


def test_a_callback_with_a_bad_signature_is_refused(engine, client):
    tenant = sms_shop(engine)
    sms_contact(engine, tenant)
    form = {"MessageSid": "SM" + "b" * 32, "From": "+33612345678", "Body": "STOP"}
    assert post_signed(client, "/m/sms/twilio/shop/inbound", form, token="wrong-token-0123456789").status_code == 401
    assert client.post("/m/sms/twilio/shop/inbound", data=form).status_code == 401
    assert post_signed(client, "/m/sms/twilio/nobody/inbound", form).status_code == 404
    with engine.connect() as conn:
        assert conn.execute(select(contacts.c.sms_consent)).scalar() is True


@responses.activate
def test_a_status_callback_is_kept_and_an_unknown_number_suppressed(engine, tmp_path, client):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    responses.post(API, json={"sid": "SM" + "e" * 32}, status=201)
    send_messages(engine, [message_id], Clock(), CONFIG, transports(tmp_path))
    path = "/m/sms/twilio/shop/status"
    base = {"MessageSid": "SM" + "e" * 32, "AccountSid": SID, "To": "+33612345678"}
    assert post_signed(client, path, {**base, "MessageStatus": "sent"}).status_code == 204
    assert post_signed(client, path, {**base, "MessageStatus": "undelivered", "ErrorCode": "30005"}).status_code == 204
    with engine.connect() as conn:
        kept = conn.execute(select(receipts.c.status, receipts.c.error_code).order_by(receipts.c.id)).all()
        suppressed = conn.execute(select(suppressions.c.address, suppressions.c.reason)).all()
    assert kept == [("sent", None), ("undelivered", "30005")]
    assert suppressed == [("+33612345678", "invalid_number")]
    assert message_row(engine, message_id).status == "bounced"


def test_a_short_sms_link_redirects_and_records_the_click(engine, tmp_path, client):
    tenant = sms_shop(engine)
    message_id = outbox(engine, tenant, sms_contact(engine, tenant), channel="sms", flow="birthday")
    from transports.files import FileTransport

    transport = FileTransport(tmp_path / "sms")
    send_messages(engine, [message_id], Clock(), CONFIG, lambda *_: transport)
    text = next((tmp_path / "sms").glob("*.sms.txt")).read_text()
    link = next(word for word in text.split() if "/m/s/" in word)
    response = client.get(link[len(BASE_URL) :])
    assert response.status_code == 302 and "utm_medium=sms" in response.headers["Location"]
    from core.store.schema import events

    with engine.connect() as conn:
        assert conn.execute(select(events.c.name).where(events.c.source == "relance")).scalars().all() == [
            "sms_clicked"
        ]
    assert client.get(link[len(BASE_URL) : -1] + "x").status_code == 404
