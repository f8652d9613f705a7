"""Links in messages, and the SMS provider's callbacks (all under ``/m``).

- ``GET /m/c/<token>``: signed click redirect (email). Goes only to the URL
  that was signed; records ``email_clicked``.
- ``GET /m/s/<token>``: short SMS link; the destination is read from the
  store; records ``sms_clicked``.
- ``GET /m/o/<token>.gif``: open pixel; records ``email_opened``.
- ``GET /m/u/<token>``: unsubscribe and preferences page (no login: the
  signed link is the proof); ``POST`` with ``List-Unsubscribe=One-Click``
  (RFC 8058) or ``choice=email|sms|all`` unsubscribes at once.
- ``GET /m/confirm/<token>``: double opt-in page; ``POST`` grants consent.
  (A GET never changes anything: mail scanners follow links.)
- ``POST /m/sms/twilio/<tenant>/inbound`` and ``.../status``: Twilio's
  callbacks, verified with ``X-Twilio-Signature``; a STOP reply opts the
  sender out of SMS at once.

A click or an open is recorded on the way, but a database that does not
answer never stops the redirect or the pixel.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from flask import Blueprint, Response, redirect, request

from core.errors import NotFoundError
from core.messages import links, pages, preferences
from core.messages.errors import LinkError
from core.messages.settings import message_settings
from core.messages.store import engagement
from core.messages.store.suppression import suppress
from core.model import Channel
from core.store.tenants import Tenant, get_tenant, get_tenant_by_id
from core.tenants import NAME_RE
from transports import twilio
from webhooks.context import runtime, with_any_key
from webhooks.errors import UnknownTenantError

log = logging.getLogger(__name__)

bp = Blueprint("links", __name__, url_prefix=links.PREFIX)

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(NO_STORE)
    return response


def _invalid(exc: Exception) -> Response:
    lang = pages.lang_of(request.accept_languages.best_match(["fr", "en"]))
    return _html(pages.invalid_page(lang, str(exc)), 404)


def _record(tenant_id: int, message_id: int, kind: str, url: str | None = None) -> None:
    """Store an engagement event; a failure is logged, never shown to the contact."""
    rt = runtime()
    try:
        with rt.engine.begin() as conn:
            row = engagement.get_message(conn, tenant_id, message_id)
            if row is not None:
                tenant = get_tenant_by_id(conn, tenant_id)
                preferences.record_engagement(conn, tenant, row, kind, rt.clock(), url)
    except Exception:  # noqa: BLE001 - the contact still gets the page or the redirect
        log.exception("tenant %s message %s: could not record %s", tenant_id, message_id, kind)


@bp.get("/c/<token>")
def click(token: str) -> Any:
    try:
        found = with_any_key(lambda key: links.read_click(key, token), LinkError)
    except LinkError as exc:
        return _invalid(exc)
    _record(found.tenant_id, found.message_id, "email_clicked", found.url)
    response = redirect(found.url, 302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/s/<token>")
def sms_link(token: str) -> Any:
    rt = runtime()
    try:
        tenant_id, message_id, position = with_any_key(lambda key: links.read_sms_link(key, token), LinkError)
    except LinkError as exc:
        return _invalid(exc)
    with rt.engine.connect() as conn:
        url = engagement.link_url(conn, tenant_id, message_id, position)
    if url is None:
        return _invalid(LinkError("this link has expired"))
    _record(tenant_id, message_id, "sms_clicked", url)
    response = redirect(url, 302)
    response.headers.update(NO_STORE)
    return response


@bp.get("/o/<token>.gif")
def pixel(token: str) -> Any:
    try:
        tenant_id, message_id = with_any_key(lambda key: links.read_open(key, token), LinkError)
    except LinkError:
        tenant_id = message_id = 0
    if message_id:
        _record(tenant_id, message_id, "email_opened")
    response = Response(PIXEL, mimetype="image/gif")
    response.headers.update(NO_STORE)
    return response


def _recipient(conn: Any, tenant_id: int, contact_id: int) -> tuple[Tenant, preferences.Identity]:
    tenant = get_tenant_by_id(conn, tenant_id)
    identity = preferences.get_identity(conn, tenant_id, contact_id)
    if identity is None:
        raise LinkError("this link is no longer valid: the contact was deleted")
    return tenant, identity


def _look(tenant: Tenant, identity: preferences.Identity) -> tuple[str, str, str]:
    settings = message_settings(tenant.config)
    shop = tenant.config.sender.name if tenant.config.sender else tenant.name
    return pages.lang_of(identity.locale, tenant.config.locale), shop, settings.brand_color


@bp.route("/u/<token>", methods=["GET", "POST"])
def unsubscribe(token: str) -> Any:
    rt = runtime()
    try:
        who = with_any_key(lambda key: links.read_unsubscribe(key, token), LinkError)
        with rt.engine.begin() as conn:
            tenant, identity = _recipient(conn, who.tenant_id, who.contact_id)
            lang, shop, color = _look(tenant, identity)
            if request.method == "GET":
                page = pages.preferences_page(
                    lang, shop, color, identity.email_consent, identity.sms_consent, bool(identity.phone)
                )
                return _html(page)
            one_click = request.form.get("List-Unsubscribe") == "One-Click"
            choice = "email" if one_click else request.form.get("choice", "email")
            if choice not in ("email", "sms", "all"):
                choice = "email"
            channels = [Channel.EMAIL, Channel.SMS] if choice == "all" else [Channel(choice)]
            how = "one-click unsubscribe (RFC 8058)" if one_click else f"unsubscribe page ({choice})"
            preferences.unsubscribe(conn, tenant, identity, channels, rt.clock(), how, who.message_id)
    except (LinkError, NotFoundError) as exc:
        return _invalid(exc)
    log.info("tenant %s contact %s unsubscribed from %s", who.tenant_id, who.contact_id, choice)
    if one_click:
        return _html("OK")
    return _html(pages.done_page(lang, shop, color, choice))


@bp.route("/confirm/<token>", methods=["GET", "POST"])
def confirm(token: str) -> Any:
    rt = runtime()
    try:
        who = with_any_key(lambda key: links.read_confirm(key, token, rt.clock()), LinkError)
        with rt.engine.begin() as conn:
            tenant, identity = _recipient(conn, who.tenant_id, who.contact_id)
            lang, shop, color = _look(tenant, identity)
            if request.method == "GET":
                return _html(pages.confirm_page(lang, shop, color))
            preferences.confirm_subscription(conn, tenant, identity, who.message_id, rt.clock())
    except (LinkError, NotFoundError) as exc:
        return _invalid(exc)
    log.info("tenant %s contact %s confirmed the newsletter", who.tenant_id, who.contact_id)
    return _html(pages.confirmed_page(lang, shop, color))


def _twilio_tenant(conn: Any, tenant_name: str) -> Tenant:
    """The tenant of a Twilio callback, after checking its signature (SignatureError, answered 401)."""
    if not NAME_RE.match(tenant_name):
        raise UnknownTenantError(f"no tenant named {tenant_name[:63]!r}; check the URL")
    try:
        tenant = get_tenant(conn, tenant_name)
    except NotFoundError:
        raise UnknownTenantError(f"no tenant named {tenant_name!r}; check the URL") from None
    settings = message_settings(tenant.config)
    query = request.query_string.decode("utf-8", "replace")
    url = runtime().settings.base_url + request.path + (f"?{query}" if query else "")
    twilio.verify_callback(
        url, request.form.items(multi=True), request.headers.get(twilio.SIGNATURE_HEADER), settings.sms.auth_token
    )
    return tenant


@bp.post("/sms/twilio/<tenant_name>/inbound")
def twilio_inbound(tenant_name: str) -> Any:
    rt = runtime()
    with rt.engine.begin() as conn:
        tenant = _twilio_tenant(conn, tenant_name)
        phone, body, sid = (
            request.form.get("From", ""),
            request.form.get("Body", ""),
            request.form.get("MessageSid", ""),
        )
        if phone.startswith("+") and sid:
            choice = preferences.sms_reply(conn, tenant, phone, body, sid, rt.clock())
            if choice is not None:
                log.info("tenant %s: SMS %s %s", tenant.name, sid, "opt-out" if choice is False else "opt-in")
    return Response(TWIML_EMPTY, mimetype="text/xml")


@bp.post("/sms/twilio/<tenant_name>/status")
def twilio_status(tenant_name: str) -> Any:
    rt = runtime()
    now = rt.clock()
    with rt.engine.begin() as conn:
        tenant = _twilio_tenant(conn, tenant_name)
        sid = request.form.get("MessageSid") or request.form.get("SmsSid") or ""
        status = request.form.get("MessageStatus") or request.form.get("SmsStatus") or "unknown"
        code = request.form.get("ErrorCode") or None
        row = engagement.sms_by_provider_id(conn, tenant.id, sid)
        message_id = row.id if row is not None else None
        engagement.record_receipt(
            conn, tenant.id, message_id, "twilio", sid, status, code, dict(request.form.items()), now
        )
        if row is not None and status in twilio.FINAL_FAILURES:
            _apply_failure(conn, tenant, row, code, now)
    return Response(status=204)


def _apply_failure(conn: Any, tenant: Tenant, row: Any, code: str | None, now: Any) -> None:
    """A final failure Twilio reported (failed, undelivered): a bad or unreachable number is suppressed, an opt-out recorded."""
    error = f"Twilio reported the SMS undelivered (error {code})"
    if code in twilio.BAD_NUMBER_CODES and row.to_address:
        suppress(conn, tenant.id, Channel.SMS.value, row.to_address, "invalid_number", now, error, row.id)
        reason = "bounced"
    elif code == twilio.OPTED_OUT_CODE:
        identity = preferences.get_identity(conn, tenant.id, row.contact_id)
        if identity is not None:
            preferences.unsubscribe(conn, tenant, identity, [Channel.SMS], now, "opted out at the SMS provider", row.id)
        reason = "opted_out_at_provider"
    else:
        reason = "undelivered"
    status = "bounced" if reason != "undelivered" else "failed"
    engagement.mark_undelivered(conn, tenant.id, row.id, status, reason, error, now)
