"""Failed deliveries of a tenant (webhooks, Event API, tracker) with their reason, and replay."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, url_for

from console.auth import record, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from console.pages.dashboard import tenant_choices
from core.errors import RelanceError
from inbound.deliveries import get_delivery, list_deliveries
from inbound.errors import UnknownDeliveryError
from inbound.processing import process_delivery


@bp.get("/t/<tenant>/deliveries")
def deliveries(tenant: str) -> Any:
    found = tenant_for(tenant)
    with runtime().engine.connect() as conn:
        failed = list_deliveries(conn, found.id, state="failed", limit=200)
    return render_template(
        "console/deliveries.html", tenant=found, failed=failed, choices=tenant_choices(), section="deliveries"
    )


@bp.post("/t/<tenant>/deliveries/<int:delivery_id>/replay")
def replay(tenant: str, delivery_id: int) -> Any:
    found = tenant_for(tenant, change=True)
    rt = runtime()
    try:
        with rt.engine.connect() as conn:
            get_delivery(conn, delivery_id, found.id)  # another tenant's delivery: 404
    except UnknownDeliveryError:
        abort(404)
    try:
        outcome = process_delivery(rt.engine, delivery_id, rt.clock, redis=None, replay=True)
    except RelanceError as exc:
        flash(f"{t('replayed')} {delivery_id}: {exc}", "error")
        return redirect(url_for("console.deliveries", tenant=found.name))
    record("delivery_replayed", found.id, delivery=delivery_id, state=outcome.state)
    if outcome.error:
        flash(f"{t('replayed')} {delivery_id}: {outcome.error}", "error")
    else:
        flash(f"{t('replayed')} {delivery_id}: {outcome.state}", "ok")
    return redirect(url_for("console.deliveries", tenant=found.name))
