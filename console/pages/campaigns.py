"""A tenant's campaigns (``core.campaigns.api``): list with progress, create from a segment (validated as the
tenant file's campaigns are), preview in a sandboxed frame, schedule, cancel."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import yaml
from flask import Response, abort, flash, redirect, render_template, request, url_for

from console.auth import current_user, record, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from console.pages.dashboard import tenant_choices
from console.pages.flows import PREVIEW_CSP
from console.pages.settings import MAX_UPLOAD_BYTES, _NoAliasLoader
from core.campaigns.api import (
    campaign_progress,
    cancel_campaign,
    create_campaign,
    get_campaign,
    list_campaigns,
    schedule_campaign,
)
from core.campaigns.preview import render
from core.errors import ConfigError, NotFoundError, UserError
from core.messages.errors import SendError
from core.model import Channel
from transports.registry import tenant_transports

EXAMPLE = """name: spring
segment: loyal_customer
subject: "15% for our best customers"
title: Thank you
text: "Until Sunday, 15% off everything with your code."
coupon: LOYAL15
"""


def _page(tenant: Any, text: str, error: str | None, status: int = 200) -> Any:
    rt = runtime()
    with rt.engine.begin() as conn:
        rows = list_campaigns(conn, tenant, rt.clock())
        progress = {row.name: campaign_progress(conn, tenant, row.name) for row in rows}
    body = render_template(
        "console/campaigns.html",
        tenant=tenant,
        rows=rows,
        progress=progress,
        text=text,
        error=error,
        can_change=current_user().can_change(tenant.id),
        choices=tenant_choices(),
        section="campaigns",
    )
    return body, status


@bp.route("/t/<tenant>/campaigns", methods=["GET", "POST"])
def campaigns(tenant: str) -> Any:
    found = tenant_for(tenant, change=request.method == "POST")
    if request.method == "GET":
        return _page(found, EXAMPLE, None)
    text = request.form.get("yaml", "")
    rt = runtime()
    try:
        if len(text.encode()) > MAX_UPLOAD_BYTES:
            raise ConfigError("the campaign is too long")
        try:
            raw = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as exc:
            raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}") from None
        with rt.engine.begin() as conn:
            row = create_campaign(conn, found, raw, rt.clock())
    except UserError as exc:
        return _page(found, text, str(exc), 422)
    record("campaign_created", found.id, campaign=row.name, state=row.state)
    flash(f"{row.name}: {row.state}", "ok")
    return redirect(url_for("console.campaigns", tenant=found.name))


@bp.post("/t/<tenant>/campaigns/<name>/schedule")
def campaign_schedule(tenant: str, name: str) -> Any:
    found = tenant_for(tenant, change=True)
    rt = runtime()
    try:
        try:
            at = datetime.fromisoformat(request.form.get("at", ""))
        except ValueError:
            raise ConfigError("give the date and time to send at, e.g. 2026-12-10T10:00") from None
        local = request.form.get("local_time") == "on"
        with rt.engine.begin() as conn:
            get_campaign(conn, found, name)
            row = schedule_campaign(conn, found, name, at, rt.clock(), local_time=local)
    except NotFoundError:
        abort(404)
    except UserError as exc:
        flash(f"{name}: {exc}", "error")
        return redirect(url_for("console.campaigns", tenant=found.name))
    record("campaign_scheduled", found.id, campaign=name, at=at.isoformat(), local_time=local)
    flash(f"{row.name}: {row.state}", "ok")
    return redirect(url_for("console.campaigns", tenant=found.name))


@bp.post("/t/<tenant>/campaigns/<name>/cancel")
def campaign_cancel(tenant: str, name: str) -> Any:
    found = tenant_for(tenant, change=True)
    rt = runtime()
    try:
        with rt.engine.begin() as conn:
            get_campaign(conn, found, name)
            row = cancel_campaign(conn, found, name, rt.clock())
    except NotFoundError:
        abort(404)
    except UserError as exc:
        flash(f"{name}: {exc}", "error")
        return redirect(url_for("console.campaigns", tenant=found.name))
    record("campaign_cancelled", found.id, campaign=name)
    flash(f"{row.name}: {row.state}", "ok")
    return redirect(url_for("console.campaigns", tenant=found.name))


@bp.post("/t/<tenant>/campaigns/<name>/test")
def campaign_test(tenant: str, name: str) -> Any:
    """Send the campaign's message once to an address, through the tenant's transport ([TEST] in the subject)."""
    found = tenant_for(tenant, change=True)
    rt = runtime()
    to = (request.form.get("to") or "").strip()[:320]
    now = rt.clock()
    try:
        if not to:
            raise ConfigError("give the address (or phone number, for SMS) to send the test to")
        with rt.engine.begin() as conn:
            row = get_campaign(conn, found, name)
            message = render(conn, found, row.campaign, rt.settings.base_url, rt.settings.secret_key, now, to=to)
        transport = tenant_transports(rt.settings.data_dir / "outbox")(found, message.channel)
        try:
            if message.channel == Channel.SMS.value:
                transport.send_sms(message, 0, now, None)  # type: ignore[union-attr]
            else:
                transport.send_email(replace(message, subject=f"[TEST] {message.subject}"), 0, now)  # type: ignore[union-attr]
        except SendError as exc:
            raise UserError(f"the test message was not sent: {exc}") from exc
    except NotFoundError:
        abort(404)
    except UserError as exc:
        flash(f"{name}: {exc}", "error")
        return redirect(url_for("console.campaigns", tenant=found.name))
    record("campaign_test_sent", found.id, campaign=name)  # the address is not kept in the audit log
    flash(f"{name}: {t('test_sent')}", "ok")
    return redirect(url_for("console.campaigns", tenant=found.name))


@bp.get("/t/<tenant>/campaigns/<name>/preview")
def campaign_preview(tenant: str, name: str) -> Any:
    """The campaign's message for a sample contact, for the sandboxed frame of the campaigns page."""
    found = tenant_for(tenant)
    rt = runtime()
    try:
        with rt.engine.connect() as conn:
            row = get_campaign(conn, found, name)
            message = render(conn, found, row.campaign, rt.settings.base_url, rt.settings.secret_key, rt.clock())
    except NotFoundError:
        abort(404)
    except UserError as exc:
        return Response(str(exc), status=422, mimetype="text/plain")
    response = Response(message.html or message.text, mimetype="text/html" if message.html else "text/plain")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
