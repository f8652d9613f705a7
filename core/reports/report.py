"""The results report of a tenant: what its messages sent, earned and changed (docs/reports.md).

``build_report(connection_or_engine, tenant_id, since, until)`` returns plain
JSON-ready data whose keys are stable: counts are integers, money is a decimal
string in the shop's currency, rates and intervals are floats.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import Connection, Engine

from core.attribution.settings import windows
from core.reports.stats import newcombe, sample_variance, welch
from core.reports.store.aggregates import (
    Period,
    has_holdouts,
    holdout_rows,
    message_rows,
    order_rows,
    recipient_rows,
)
from core.store.tenants import Tenant, get_tenant_by_id

#: The counts of every group, in this order (tables and CSV follow it).
COUNTS = ("sent", "delivered", "bounced", "opened", "clicked", "unsubscribed", "complaints", "recipients", "orders")
MESSAGE_COUNTS = COUNTS[:7]
CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """Money as the report shows it: a decimal string with two decimals."""
    return str(value.quantize(CENT, rounding=ROUND_HALF_EVEN))


class _Group:
    """Counts of one group of messages (a flow, a step, a campaign, a variant, the tenant)."""

    def __init__(self) -> None:
        self.counts: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self.revenue = Decimal(0)

    def add_messages(self, values: Mapping[str, int]) -> None:
        for key in MESSAGE_COUNTS:
            self.counts[key] += int(values[key])

    def add_orders(self, orders: int, revenue: Decimal) -> None:
        self.counts["orders"] += int(orders)
        self.revenue += revenue

    def to_dict(self) -> dict[str, Any]:
        recipients = self.counts["recipients"]
        per = self.revenue / recipients if recipients else Decimal(0)
        return {**self.counts, "revenue": money(self.revenue), "revenue_per_recipient": money(per)}


class _Tree:
    """Flows (with steps and variants) and campaigns (with variants), filled row by row."""

    def __init__(self) -> None:
        self.flows: dict[str, _Group] = defaultdict(_Group)
        self.steps: dict[tuple[str, int], _Group] = defaultdict(_Group)
        self.flow_variants: dict[tuple[str, str], _Group] = defaultdict(_Group)
        self.step_variants: dict[tuple[str, int, str], _Group] = defaultdict(_Group)
        self.campaigns: dict[str, _Group] = defaultdict(_Group)
        self.campaign_variants: dict[tuple[str, str], _Group] = defaultdict(_Group)
        self.totals = _Group()

    def groups(self, flow: str, step: int, campaign: str | None, variant: str | None) -> Iterable[_Group]:
        """Every group a message (or a credited order) of these keys counts in."""
        yield self.totals
        if campaign is not None:
            yield self.campaigns[campaign]
            if variant is not None:
                yield self.campaign_variants[(campaign, variant)]
            return
        yield self.flows[flow]
        yield self.steps[(flow, step)]
        if variant is not None:
            yield self.flow_variants[(flow, variant)]
            yield self.step_variants[(flow, step, variant)]


def _connection(connection_or_engine: Connection | Engine) -> tuple[Connection, bool]:
    if isinstance(connection_or_engine, Engine):
        return connection_or_engine.connect(), True
    return connection_or_engine, False


def build_report(
    connection_or_engine: Connection | Engine,
    tenant_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> dict[str, Any]:
    """The tenant's results report for messages sent and orders placed in [since, until) (open ends allowed).

    Returns ``{"tenant", "currency", "since", "until", "flows", "campaigns", "totals", "days"}``
    (docs/reports.md lists every key). Raises NotFoundError for an unknown tenant id.
    """
    conn, owned = _connection(connection_or_engine)
    try:
        tenant = get_tenant_by_id(conn, tenant_id)
        return _build(conn, tenant, Period(since, until))
    finally:
        if owned:
            conn.close()


def _build(conn: Connection, tenant: Tenant, period: Period) -> dict[str, Any]:
    currency = tenant.config.currency
    tree = _Tree()
    days: dict[str, dict[str, Any]] = {}

    def day(date: str) -> dict[str, Any]:
        return days.setdefault(date, {"date": date, "sent": 0, "opened": 0, "clicked": 0, "orders": 0,
                                      "revenue": Decimal(0)})  # fmt: skip

    channels: dict[str, int] = defaultdict(int)
    for row in message_rows(conn, tenant.id, period):
        values = row._mapping
        for group in tree.groups(values["flow"], values["step"], values["campaign"], values["variant"]):
            group.add_messages(values)
        channels[values["channel"]] += int(values["sent"])
        entry = day(values["day"])
        for key in ("sent", "opened", "clicked"):
            entry[key] += int(values[key])

    other: dict[str, dict[str, Any]] = {}
    for flow, step, campaign, variant, order_currency, date, orders, revenue in order_rows(conn, tenant.id, period):
        if order_currency != currency:
            found = other.setdefault(order_currency, {"orders": 0, "revenue": Decimal(0)})
            found["orders"] += int(orders)
            found["revenue"] += revenue
            continue
        for group in tree.groups(flow, step, campaign, variant):
            group.add_orders(orders, revenue)
        entry = day(date)
        entry["orders"] += int(orders)
        entry["revenue"] += revenue

    _recipients(conn, tenant.id, period, tree)
    holdouts = _holdouts(conn, tenant, period) if has_holdouts(conn, tenant.id) else {}

    flows: dict[str, Any] = {}
    for flow in sorted(tree.flows):
        steps = {
            str(step): {
                **tree.steps[(name, step)].to_dict(),
                "variants": _variants(tree.step_variants, (name, step)),
            }
            for name, step in sorted(tree.steps)
            if name == flow
        }
        variants = _variants(tree.flow_variants, (flow,))
        flows[flow] = {
            **tree.flows[flow].to_dict(),
            "steps": steps,
            "variants": variants,
            "ab": ab_test(variants),
            "holdout": holdouts.get((flow, None)),
        }
    campaigns: dict[str, Any] = {}
    for name in sorted(tree.campaigns):
        variants = _variants(tree.campaign_variants, (name,))
        campaigns[name] = {
            **tree.campaigns[name].to_dict(),
            "variants": variants,
            "ab": ab_test(variants),
            "holdout": next((v for (_, c), v in holdouts.items() if c == name), None),
        }
    totals = {
        **tree.totals.to_dict(),
        "channels": dict(sorted(channels.items())),
        "other_currencies": {
            code: {"orders": found["orders"], "revenue": money(found["revenue"])}
            for code, found in sorted(other.items())
        },
    }
    return {
        "tenant": tenant.name,
        "currency": currency,
        "since": None if period.since is None else period.since.isoformat(),
        "until": None if period.until is None else period.until.isoformat(),
        "flows": flows,
        "campaigns": campaigns,
        "totals": totals,
        "days": [{**entry, "revenue": money(entry["revenue"])} for _, entry in sorted(days.items())],
    }


def _variants(groups: Mapping[tuple[Any, ...], _Group], prefix: tuple[Any, ...]) -> dict[str, Any]:
    size = len(prefix)
    return {key[size]: groups[key].to_dict() for key in sorted(groups) if key[:size] == prefix}


def _recipients(conn: Connection, tenant_id: int, period: Period, tree: _Tree) -> None:
    """Distinct contacts per group: they do not add up across groups, so each level is counted in SQL."""
    levels: list[tuple[tuple[str, ...], bool, dict[Any, _Group]]] = [
        (("flow",), False, tree.flows),
        (("flow", "step"), False, tree.steps),
    ]
    if tree.flow_variants:
        levels += [(("flow", "variant"), False, tree.flow_variants)]
        levels += [(("flow", "step", "variant"), False, tree.step_variants)]
    if tree.campaigns:
        levels += [(("campaign",), True, tree.campaigns)]
    if tree.campaign_variants:
        levels += [(("campaign", "variant"), True, tree.campaign_variants)]
    for by, campaigns, groups in levels:
        for *keys, count in recipient_rows(conn, tenant_id, period, by, campaigns):
            key = keys[0] if len(keys) == 1 else tuple(keys)
            if key in groups:
                groups[key].counts["recipients"] = int(count)
    rows = recipient_rows(conn, tenant_id, period, (), None)
    tree.totals.counts["recipients"] = int(rows[0][0]) if rows else 0


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _arm(contacts: int, converted: int, revenue: Decimal) -> dict[str, Any]:
    return {
        "contacts": contacts,
        "converted": converted,
        "conversion_rate": _rate(converted, contacts),
        "revenue": money(revenue),
        "revenue_per_contact": money(revenue / contacts if contacts else Decimal(0)),
    }


def _holdouts(conn: Connection, tenant: Tenant, period: Period) -> dict[tuple[str, str | None], dict[str, Any]]:
    """Recipients against holdout per flow and campaign that held anyone out."""
    days = windows(tenant.config.attribution).click.total_seconds() / 86400
    arms: dict[tuple[str, str | None], dict[int, tuple[int, int, Decimal, float]]] = defaultdict(dict)
    for flow, campaign, held, contacts, converted, revenue, squares in holdout_rows(
        conn, tenant.id, period, days, tenant.config.currency
    ):
        arms[(flow, campaign)][int(held)] = (int(contacts), int(converted), revenue, squares)
    out: dict[tuple[str, str | None], dict[str, Any]] = {}
    for key, found in arms.items():
        if 1 not in found:
            continue
        n1, k1, r1, s1 = found.get(0, (0, 0, Decimal(0), 0.0))
        n2, k2, r2, s2 = found[1]
        conversion = newcombe(k1, n1, k2, n2)
        m1, m2 = (float(r1) / n1 if n1 else 0.0), (float(r2) / n2 if n2 else 0.0)
        revenue = welch(m1, sample_variance(float(r1), s1, n1), n1, m2, sample_variance(float(r2), s2, n2), n2)
        out[key] = {
            "window_days": days,
            "recipients": _arm(n1, k1, r1),
            "holdout": _arm(n2, k2, r2),
            "conversion_difference": None if conversion is None else conversion.to_dict(),
            "revenue_per_contact_difference": None if revenue is None else revenue.to_dict(2),
            "lift": round(k1 / n1 / (k2 / n2) - 1, 4) if n1 and n2 and k2 else None,
        }
    return out


def ab_test(variants: Mapping[str, Mapping[str, Any]]) -> dict[str, Any] | None:
    """Each variant against the first (by name): click rate and order rate per message sent, with intervals."""
    if len(variants) < 2:
        return None
    names = sorted(variants)
    control = variants[names[0]]
    compared: dict[str, Any] = {}
    for name in names[1:]:
        other = variants[name]
        clicks = newcombe(other["clicked"], other["sent"], control["clicked"], control["sent"])
        orders = newcombe(other["orders"], other["sent"], control["orders"], control["sent"])
        compared[name] = {
            "click_rate_difference": None if clicks is None else clicks.to_dict(),
            "order_rate_difference": None if orders is None else orders.to_dict(),
        }
    return {"control": names[0], "compared": compared}
