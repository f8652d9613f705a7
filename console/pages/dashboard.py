"""A tenant's dashboard: revenue per flow and campaign over time, the funnel per flow and campaign with
holdout and A/B results (``core.reports.build_report``, the figures of ``relance report``), segments with
their counts and trend."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import render_template, request

from console import charts
from console.auth import current_user, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from core.console.store.figures import days_of, revenue_per_day, segment_counts, segment_trends
from core.reports.report import build_report
from core.store.tenants import list_tenants

PERIODS = (7, 30, 90)


def tenant_choices() -> list[Any]:
    """The tenants the signed-in user may switch to (every one for an agency admin)."""
    user = current_user()
    if not user.is_admin:
        return []
    with runtime().engine.connect() as conn:
        return list_tenants(conn)


@bp.get("/t/<tenant>/")
def dashboard(tenant: str) -> Any:
    found = tenant_for(tenant)
    days = request.args.get("days", 30, type=int)
    if days not in PERIODS:
        days = 30
    rt = runtime()
    now = rt.clock()
    since = now - timedelta(days=days)
    with rt.engine.connect() as conn:
        report = build_report(conn, found.id, since, now)
        revenue = revenue_per_day(conn, found.id, found.config.currency, since, now)
        segments = segment_counts(conn, found.id)
        trends = segment_trends(conn, found.id, now, days)
    window = days_of(now, days)
    series = {name: [per.get(day, 0) for day in window] for name, per in revenue.items()}
    chart = charts.lines(t("revenue_per_flow"), window, series) if series else None
    groups = [(name, "flow", figures) for name, figures in report["flows"].items()]
    groups += [(name, "campaign", figures) for name, figures in report["campaigns"].items()]
    return render_template(
        "console/dashboard.html",
        tenant=found,
        report=report,
        groups=groups,
        segments=segments,
        trends=trends,
        chart=chart,
        days=days,
        periods=PERIODS,
        choices=tenant_choices(),
        section="dashboard",
    )
