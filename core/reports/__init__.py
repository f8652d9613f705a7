"""Reports of results: what a tenant's messages sent, earned and changed (docs/reports.md).

``build_report(connection_or_engine, tenant_id, since, until) -> dict`` is the entry point.
"""

from core.reports.report import build_report

__all__ = ["build_report"]
