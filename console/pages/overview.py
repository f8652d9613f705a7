"""The agency overview (``/console/``): every tenant's health and 30-day figures, with alerts."""

from __future__ import annotations

from typing import Any

from flask import redirect, render_template, url_for

from console import charts
from console.auth import current_user
from console.blueprint import bp
from console.context import queue_depths, runtime
from console.i18n import t
from core.console.store.figures import per_day, tenant_health
from core.store.tenants import get_tenant_by_id, list_tenants

DAYS = 30


@bp.get("/")
def home() -> Any:
    """Agency admins see every tenant; a shop's users go to their shop's dashboard."""
    user = current_user()
    rt = runtime()
    if not user.is_admin:
        with rt.engine.connect() as conn:
            tenant = get_tenant_by_id(conn, user.tenant_id or 0)
        return redirect(url_for("console.dashboard", tenant=tenant.name))
    now = rt.clock()
    with rt.engine.connect() as conn:
        tenants = list_tenants(conn)
        health = tenant_health(conn, [tenant.id for tenant in tenants], now, DAYS)
    total_per_day: dict[Any, int] = {}
    for item in health.values():
        for day, count in item.sent_per_day.items():
            total_per_day[day] = total_per_day.get(day, 0) + count
    rows = [
        {
            "tenant": tenant,
            "health": health[tenant.id],
            "chart": charts.bars(f"{tenant.name}: {t('sent_30')}", per_day(health[tenant.id].sent_per_day, now, DAYS)),
        }
        for tenant in tenants
    ]
    return render_template(
        "console/overview.html",
        rows=rows,
        redis=queue_depths(),
        chart=charts.bars(t("sent_30"), per_day(total_per_day, now, DAYS)),
        now=now,
        choices=tenants,
    )


@bp.get("/switch")
def switch() -> Any:
    """The tenant switcher's target: the chosen tenant's dashboard (404 for one the user may not see)."""
    from flask import request

    from console.auth import tenant_for

    found = tenant_for(request.args.get("tenant", ""))
    return redirect(url_for("console.dashboard", tenant=found.name))


@bp.get("/audit")
def audit_log() -> Any:
    """Every audit entry, newest first (agency admins only: a shop's users see theirs on the settings page)."""
    from flask import abort

    from core.console.store.audit import list_audit

    if not current_user().is_admin:
        abort(404)
    with runtime().engine.connect() as conn:
        entries = list_audit(conn, limit=500)
        names = {tenant.id: tenant.name for tenant in list_tenants(conn)}
    return render_template("console/audit.html", entries=entries, names=names)
