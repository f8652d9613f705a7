"""What a message shows, read from the store: the contact, products, cart and order.

The outbox row's ``context`` names them: ``products`` (product ids as the shop
knows them), ``cart_id`` and ``order_id`` (our row ids as integers, or the
shop's ids as strings), ``coupon``. Everything is read scoped by tenant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select

from core.messages.content import MAX_PRODUCTS, CartView, ContactView, Content, OrderView, ProductView
from core.messages.store.schema import suppressions
from core.store.schema import cart_items, carts, contacts, order_items, orders, products


def get_contact(conn: Connection, tenant_id: int, contact_id: int) -> ContactView | None:
    row = conn.execute(select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)).first()
    return None if row is None else contact_view(row)


#: ContactView's fields and the ``contacts`` columns they come from.
_VIEW_COLUMNS = {
    "contact_id": "id",
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "phone": "phone",
    "locale": "locale",
    "timezone": "timezone",
    "country": "country",
    "city": "city",
    "email_consent": "email_consent",
    "sms_consent": "sms_consent",
}


def get_recipient(
    conn: Connection, tenant_id: int, contact_id: int, channel: str, fallback: str | None
) -> tuple[ContactView, str | None] | None:
    """The contact of a message about to be sent and the reason its address is suppressed (or None), in one
    query; None when the contact no longer exists. The address is the contact's email (or phone for
    ``sms``), else ``fallback`` (the address the message was written for)."""
    own = contacts.c.phone if channel == "sms" else contacts.c.email
    suppressed = and_(
        suppressions.c.tenant_id == contacts.c.tenant_id,
        suppressions.c.channel == channel,
        suppressions.c.address == func.coalesce(own, fallback),
    )
    row = conn.execute(
        select(contacts, suppressions.c.reason.label("suppressed_because"))
        .select_from(contacts.outerjoin(suppressions, suppressed))
        .where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)
    ).first()
    return None if row is None else (contact_view(row), row.suppressed_because)


def contact_view(row: Any, prefix: str = "") -> ContactView:
    """A ContactView from a row of ``contacts`` (its columns named ``<prefix><column>``)."""
    if prefix:
        return ContactView(**{field: getattr(row, prefix + column) for field, column in _VIEW_COLUMNS.items()})
    return ContactView(
        contact_id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        timezone=row.timezone,
        country=row.country,
        city=row.city,
        email_consent=row.email_consent,
        sms_consent=row.sms_consent,
    )


def _by_id(table: Any, tenant_id: int, ref: Any) -> Any:
    """A WHERE clause for a row named by our id (int) or the shop's id (str)."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return (table.c.tenant_id == tenant_id) & (table.c.id == ref)
    return (table.c.tenant_id == tenant_id) & (table.c.external_id == str(ref))


def get_products(conn: Connection, tenant_id: int, ids: Sequence[Any], platform: str) -> list[ProductView]:
    """Products by the shop's ids, in the order given; unknown ids are skipped."""
    wanted = [str(i) for i in ids][:MAX_PRODUCTS]
    if not wanted:
        return []
    rows = conn.execute(
        select(products).where(products.c.tenant_id == tenant_id, products.c.external_id.in_(wanted))
    ).all()
    found: dict[str, Any] = {}
    for row in rows:  # the tenant's platform wins when two sources share an id
        if row.external_id not in found or row.source == platform:
            found[row.external_id] = row
    return [
        ProductView(
            product_id=row.external_id,
            name=row.name,
            price=row.price,
            currency=row.currency,
            url=row.url,
            image_url=row.image_url,
        )
        for key in wanted
        if (row := found.get(key)) is not None
    ]


def _items(
    conn: Connection, tenant_id: int, table: Any, parent: Any, parent_id: int, platform: str
) -> list[ProductView]:
    rows = conn.execute(
        select(table).where(table.c.tenant_id == tenant_id, parent == parent_id).order_by(table.c.position)
    ).all()
    catalogue = {
        p.product_id: p for p in get_products(conn, tenant_id, [r.product_id for r in rows if r.product_id], platform)
    }
    views = []
    for row in rows[:MAX_PRODUCTS]:
        known = catalogue.get(row.product_id)
        views.append(
            ProductView(
                product_id=row.product_id,
                name=row.name or (known.name if known else None),
                price=row.unit_price,
                url=row.url or (known.url if known else None),
                image_url=row.image_url or (known.image_url if known else None),
                quantity=row.quantity,
            )
        )
    return views


def load(
    conn: Connection,
    tenant_id: int,
    platform: str,
    contact_id: int,
    context: Mapping[str, Any],
    contact: ContactView | None = None,
) -> Content | None:
    """Everything an outbox row's template needs, or None when its contact no longer exists.

    ``contact``: the contact already read (``get_recipient``), not read again.
    """
    contact = contact or get_contact(conn, tenant_id, contact_id)
    if contact is None:
        return None
    cart = order = None
    items: list[ProductView] = []
    if context.get("cart_id") is not None:
        row = conn.execute(select(carts).where(_by_id(carts, tenant_id, context["cart_id"]))).first()
        if row is not None:
            cart = CartView(url=row.recovery_url, total=row.total, currency=row.currency, item_count=row.item_count)
            items = _items(conn, tenant_id, cart_items, cart_items.c.cart_id, row.id, platform)
            items = [ProductView(**{**item.__dict__, "currency": row.currency}) for item in items]
    if context.get("order_id") is not None:
        row = conn.execute(select(orders).where(_by_id(orders, tenant_id, context["order_id"]))).first()
        if row is not None:
            order = OrderView(number=row.number, total=row.total, currency=row.currency, created_at=row.created_at)
            if not items and not context.get("products"):
                items = _items(conn, tenant_id, order_items, order_items.c.order_id, row.id, platform)
    ids = context.get("products") or context.get("product_ids") or []
    if isinstance(ids, list | tuple) and ids and not (cart is not None and items):
        items = get_products(conn, tenant_id, ids, platform)
    coupon = context.get("coupon")
    known = {"products", "product_ids", "cart_id", "order_id", "coupon"}
    extra = {k: v for k, v in context.items() if k not in known}
    return Content(
        contact=contact,
        products=tuple(items),
        cart=cart,
        order=order,
        coupon=str(coupon) if coupon else None,
        extra=extra,
    )
