"""The demo's segments section: each segment's members, and the purchase model fitted on the sample shop."""

from __future__ import annotations

from collections.abc import Callable

from core.operations import refresh_segments
from core.segments.settings import segment_settings
from core.segments.store.membership import member_counts
from core.segments.store.metrics import get_models
from core.store.tenants import Tenant, get_tenant
from relance.wiring import Runtime

Echo = Callable[[str], None]


def segments_section(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    """Refresh the demo shop's segments and contact metrics, and print each segment's count."""
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        tenant = get_tenant(conn, tenant.name)
        report = refresh_segments(conn, tenant, now, metrics=True)
        counts = member_counts(conn, tenant.id)
        models = get_models(conn, tenant.id)
    names = segment_settings(tenant.config.segments).names
    echo("  segments   " + ", ".join(f"{name} {counts.get(name, 0)}" for name in names))
    if models is not None:
        model = models.purchase
        echo(
            f"  purchases  a repeat customer orders every {model.typical_interval_days:.0f} days typically "
            f"(fitted on {model.customers} customers); metrics of {report.metrics_written} contacts updated"
        )
