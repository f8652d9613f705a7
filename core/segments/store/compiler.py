"""Compile a rule tree to a SQL condition on ``contacts``, for SQLite and PostgreSQL.

A behaviour becomes a set-based test, ``EXISTS (SELECT FROM (SELECT contact_id
... GROUP BY contact_id HAVING <count test>) WHERE contact_id = contacts.id)``,
which PostgreSQL runs as a (hash) semi-join, and ``not`` as an anti-join, so that
a full refresh reads each table once; when the count test holds for zero
(``at_most``, ``fewer_than``, ``exactly: 0``) it becomes ``NOT EXISTS`` over the
contacts for whom it fails.
With ``Context.contact_id`` set (the incremental update) every subquery is
narrowed to that one contact.

"Abandoned a cart": a cart with items, not converted into an order, last
updated inside the window and at least ``abandoned_cart_minutes`` ago, and no
order placed by the contact since that update.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Float, and_, cast, exists, false, func, literal, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from core.model import REVENUE_STATUSES
from core.scoring import EPOCH
from core.segments.rules import (
    AllOf,
    AnyOf,
    Behaviour,
    Compare,
    FieldCondition,
    InSegment,
    Node,
    Not,
    Window,
    field_kind,
)
from core.segments.store import dialect as sql
from core.segments.store.schema import contact_metrics, segment_members
from core.store.schema import cart_items, carts, contacts, events, order_items, orders, products

METRIC_COLUMNS = {
    "first_order_at": "first_order_at",
    "last_order_at": "last_order_at",
    "expected_next_order_at": "expected_next_order_at",
    "rfm.r": "rfm_r",
    "rfm.f": "rfm_f",
    "rfm.m": "rfm_m",
    "orders_count": "orders_count",
    "total_spent": "total_spent",
    "p_active": "p_active",
    "order_interval_days": "order_interval_days",
}
#: Fields that read 0 for a contact without metrics rather than "unknown".
ZERO_WHEN_MISSING = ("orders_count", "total_spent", "score")


@dataclass(frozen=True)
class Context:
    tenant_id: int
    now: datetime
    dialect: str
    timezone: str = "UTC"
    abandoned_cart_minutes: int = 60
    half_life_days: float = 30.0
    contact_id: int | None = None

    @property
    def local_now(self) -> datetime:
        return self.now.astimezone(ZoneInfo(self.timezone))


def window_start(now: datetime, window: Window) -> datetime:
    """The start of ``in_last`` (calendar months go back to the same day, clamped to the month's end)."""
    if window.unit != "months":
        return now - timedelta(**{window.unit: window.amount})
    month_index = now.year * 12 + (now.month - 1) - window.amount
    year, month = divmod(month_index, 12)
    month += 1
    for day in (now.day, 30, 29, 28):
        try:
            return now.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def _compare(expr: Any, compare: Compare) -> ColumnElement[bool]:
    value = literal(compare.value, Float)
    return {
        "at_least": lambda: expr >= value,
        "more_than": lambda: expr > value,
        "at_most": lambda: expr <= value,
        "fewer_than": lambda: expr < value,
        "exactly": lambda: expr == value,
    }[compare.op]()


def _holds_for_zero(compare: Compare) -> bool:
    return {
        "at_least": 0 >= compare.value,
        "more_than": 0 > compare.value,
        "at_most": 0 <= compare.value,
        "fewer_than": 0 < compare.value,
        "exactly": compare.value == 0,
    }[compare.op]


def compile_rule(node: Node, ctx: Context) -> ColumnElement[bool]:
    """The SQL condition, on the ``contacts`` table, that a rule tree stands for."""
    if isinstance(node, AllOf):
        return and_(*(compile_rule(part, ctx) for part in node.parts))
    if isinstance(node, AnyOf):
        return or_(*(compile_rule(part, ctx) for part in node.parts))
    if isinstance(node, Not):
        return not_(compile_rule(node.part, ctx))
    if isinstance(node, InSegment):
        return exists(
            select(literal(1)).where(
                segment_members.c.tenant_id == ctx.tenant_id,
                segment_members.c.segment == node.segment,
                segment_members.c.contact_id == contacts.c.id,
            )
        )
    if isinstance(node, FieldCondition):
        return _field(node, ctx)
    return _behaviour(node, ctx)


# -- fields -----------------------------------------------------------------------------------


def _metric(name: str, ctx: Context) -> Any:
    column = contact_metrics.c[name]
    return (
        select(column)
        .where(contact_metrics.c.tenant_id == ctx.tenant_id, contact_metrics.c.contact_id == contacts.c.id)
        .scalar_subquery()
    )


def _score(ctx: Context) -> Any:
    offset = (ctx.now - EPOCH) / timedelta(days=1) / ctx.half_life_days
    return sql.power2(ctx.dialect, _metric("score_log2", ctx) - offset)


def _field_value(name: str, ctx: Context) -> Any:
    if name == "score":
        return _score(ctx)
    if name in METRIC_COLUMNS:
        return _metric(METRIC_COLUMNS[name], ctx)
    if name.startswith("consent."):
        return contacts.c[f"{name.split('.', 1)[1]}_consent"]
    return contacts.c[name]


def _text_test(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    lowered = func.lower(column)
    if op == "equals":
        return lowered == value
    if op == "not_equals":
        return or_(column.is_(None), lowered != value)
    if op == "in":
        return lowered.in_(value)
    if op == "not_in":
        return or_(column.is_(None), lowered.not_in(value))
    if op == "contains":
        return lowered.contains(value, autoescape=True)
    if op == "starts_with":
        return lowered.startswith(value, autoescape=True)
    raise AssertionError(op)


def _number_test(column: Any, op: str, value: Any) -> ColumnElement[bool]:
    if op == "equals":
        return column == value
    if op == "not_equals":
        return or_(column.is_(None), column != value)
    if op == "in":
        return column.in_(value)
    if op == "not_in":
        return or_(column.is_(None), column.not_in(value))
    return _compare(column, Compare(op, value))


def _attribute(node: FieldCondition, ctx: Context) -> ColumnElement[bool]:
    key = node.field.split(".", 1)[1]
    doc = contacts.c.attributes
    if node.op == "exists":
        present = sql.json_text(doc, key).is_not(None)
        return present if node.value else not_(present)
    values = node.value if isinstance(node.value, tuple) else (node.value,)
    if all(isinstance(v, bool) for v in values) and node.op in ("equals", "not_equals"):
        flag = sql.json_bool(ctx.dialect, doc, key)
        return flag == node.value if node.op == "equals" else or_(flag.is_(None), flag != node.value)
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return _number_test(sql.json_number(ctx.dialect, doc, key), node.op, node.value)
    if node.op in ("at_least", "more_than", "at_most", "fewer_than"):
        return _number_test(sql.json_number(ctx.dialect, doc, key), node.op, node.value)
    text_values = tuple(str(v).lower() for v in values)
    return _text_test(
        sql.json_text(doc, key), node.op, text_values if isinstance(node.value, tuple) else text_values[0]
    )


def _field(node: FieldCondition, ctx: Context) -> ColumnElement[bool]:
    if node.field.startswith("attributes."):
        return _attribute(node, ctx)
    kind = field_kind(node.field)
    column = _field_value(node.field, ctx)
    if node.op == "exists":
        if node.field in ZERO_WHEN_MISSING:
            return true() if node.value else false()
        return column.is_not(None) if node.value else column.is_(None)
    if kind == "bool":
        return column.is_(True) if node.value else or_(column.is_(None), column.is_(False))
    if kind == "date":
        local = ctx.local_now
        month = sql.month_of(ctx.dialect, column)
        if node.op == "month":
            return and_(column.is_not(None), month == node.value)
        if node.value == "this_month":
            return and_(column.is_not(None), month == local.month)
        return and_(column.is_not(None), month == local.month, sql.day_of(ctx.dialect, column) == local.day)
    if kind == "datetime":
        since = sql.at(window_start(ctx.now, node.value))
        return column >= since if node.op == "in_last" else and_(column.is_not(None), column < since)
    if kind == "text":
        return _text_test(column, node.op, node.value)
    if node.field in ZERO_WHEN_MISSING:
        column = func.coalesce(column, 0)
    return _number_test(cast(column, Float), node.op, node.value)


# -- behaviours -------------------------------------------------------------------------------


def _where_catalogue(ctx: Context, table: Any, key: str, value: Any) -> ColumnElement[bool]:
    """A filter on an order or cart line (brand, category, product_id, sku)."""
    if key == "category":
        return sql.json_list_has(ctx.dialect, table.c.categories, str(value))
    if key == "brand":
        return func.lower(table.c.brand) == str(value).lower()
    return table.c[key] == str(value)


def _where_event(ctx: Context, key: str, value: Any) -> ColumnElement[bool]:
    """A filter on a viewed product's properties (brand, category, product_id, sku)."""
    props = events.c.properties
    if key == "category":
        return sql.json_key_list_has(ctx.dialect, props, "categories", str(value))
    if key == "brand":
        return func.lower(sql.json_text(props, "brand")) == str(value).lower()
    return sql.json_text(props, key) == str(value)


def _clicked_on(ctx: Context, key: str, value: Any) -> ColumnElement[bool]:
    """A click on a product (by its product_id or its page's URL) of a brand, a category, or that product."""
    props = events.c.properties
    if key == "flow":
        return sql.json_text(props, "flow") == str(value)
    if key == "brand":
        catalogue = func.lower(products.c.brand) == str(value).lower()
        own = func.lower(sql.json_text(props, "brand")) == str(value).lower()
    elif key == "category":
        catalogue = sql.json_list_has(ctx.dialect, products.c.categories, str(value))
        own = sql.json_key_list_has(ctx.dialect, props, "categories", str(value))
    else:
        catalogue = products.c.external_id == str(value)
        own = sql.json_text(props, "product_id") == str(value)
    clicked = or_(
        products.c.external_id == sql.json_text(props, "product_id"),
        products.c.url == sql.url_base(ctx.dialect, sql.json_text(props, "url")),
    )
    return or_(own, exists(select(literal(1)).where(products.c.tenant_id == ctx.tenant_id, catalogue, clicked)))


def _behaviour_query(node: Behaviour, ctx: Context) -> tuple[Any, Any, Any]:
    """SELECT contact_id FROM ... WHERE <filters>, its contact column and the measure to aggregate."""
    since = window_start(ctx.now, node.window) if node.window else None
    if node.did == "bought":
        conds = [orders.c.tenant_id == ctx.tenant_id, orders.c.status.in_(REVENUE_STATUSES)]
        owner, when = orders.c.contact_id, orders.c.created_at
        lines = bool(node.where) or node.measure in ("items", "products")
        source: Any = orders.join(order_items, order_items.c.order_id == orders.c.id) if lines else orders
        conds += [_where_catalogue(ctx, order_items, k, v) for k, v in node.where]
        measure = {
            "orders": func.count(func.distinct(orders.c.id)),
            "items": func.sum(order_items.c.quantity),
            "products": func.count(func.distinct(order_items.c.product_id)),
            "amount": func.sum(order_items.c.quantity * order_items.c.unit_price)
            if lines
            else func.sum(orders.c.total),
        }[node.measure]
    elif node.did == "abandoned_cart":
        idle_since = ctx.now - timedelta(minutes=ctx.abandoned_cart_minutes)
        later_order = exists(
            select(literal(1)).where(
                orders.c.tenant_id == ctx.tenant_id,
                orders.c.contact_id == carts.c.contact_id,
                orders.c.created_at >= carts.c.updated_at,
            )
        )
        conds = [
            carts.c.tenant_id == ctx.tenant_id,
            carts.c.item_count > 0,
            carts.c.converted_order_id.is_(None),
            carts.c.updated_at <= idle_since,
            not_(later_order),
        ]
        owner, when = carts.c.contact_id, carts.c.updated_at
        source = carts.join(cart_items, cart_items.c.cart_id == carts.c.id) if node.where else carts
        conds += [_where_catalogue(ctx, cart_items, k, v) for k, v in node.where]
        measure = func.count(func.distinct(carts.c.id))
    else:
        owner, when, source = events.c.contact_id, events.c.occurred_at, events
        conds = [events.c.tenant_id == ctx.tenant_id]
        keys = {k for k, _ in node.where}
        if node.did == "viewed":
            names = ["product_viewed", "category_viewed"] if keys == {"category"} else ["product_viewed"]
            conds.append(events.c.name.in_(names))
            for key, value in node.where:
                if key == "category":
                    own = _where_event(ctx, key, value)
                    page = func.lower(sql.json_text(events.c.properties, "category")) == str(value).lower()
                    conds.append(or_(and_(events.c.name == "product_viewed", own), page))
                else:
                    conds.append(_where_event(ctx, key, value))
        elif node.did in ("clicked", "opened"):
            conds.append(events.c.name == ("email_clicked" if node.did == "clicked" else "email_opened"))
            conds += [_clicked_on(ctx, k, v) for k, v in node.where]
        else:
            conds.append(events.c.name == node.did)
            for key, value in node.where:
                if isinstance(value, str):
                    conds.append(func.lower(sql.json_text(events.c.properties, key)) == value.lower())
                else:
                    conds.append(sql.json_number(ctx.dialect, events.c.properties, key) == float(value))
        measure = (
            func.count(func.distinct(sql.json_text(events.c.properties, "product_id")))
            if node.measure == "products"
            else func.count()
        )
    conds.append(owner.is_not(None))
    if since is not None:
        conds.append(when >= sql.at(since))
    if ctx.contact_id is not None:
        conds.append(owner == ctx.contact_id)
    return select(owner.label("contact_id")).select_from(source).where(*conds), owner, measure


def _behaviour(node: Behaviour, ctx: Context) -> ColumnElement[bool]:
    query, owner, measure = _behaviour_query(node, ctx)
    measure = func.coalesce(measure, 0)
    if _holds_for_zero(node.compare):
        failing = query.group_by(owner).having(not_(_compare(measure, node.compare))).subquery()
        return not_(exists(select(literal(1)).select_from(failing).where(failing.c.contact_id == contacts.c.id)))
    holding = query.group_by(owner).having(_compare(measure, node.compare)).subquery()
    return exists(select(literal(1)).select_from(holding).where(holding.c.contact_id == contacts.c.id))
