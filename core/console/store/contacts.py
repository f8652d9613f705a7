"""A tenant's contacts for the console and ``relance contact``: search, profile and timeline, GDPR export, erasure.

Export and erasure walk every table that has a ``contact_id`` column (so the
tables other areas add are covered without a change here):

- export: every row of the contact in each of them, plus the items of their
  orders and carts, JSON-ready;
- erasure: rows whose foreign key cascades go with the contact; rows whose
  key is SET NULL (orders, carts: the shop's own records, kept for its
  figures) lose the link and any personal field (a cart's recovery link);
  rows of a table without a foreign key are deleted; stored raw deliveries
  whose body holds the contact's email or phone get their body and headers
  replaced. The contact's suppressed addresses (hard bounces, complaints)
  are kept so that no message ever goes to them again. One row in
  ``contact_erasures`` records it: the id, when, by whom, how many rows went
  from each table; no personal data.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table, func, literal, or_, select

from core.console.store.schema import erasures
from core.errors import NotFoundError
from core.normalize import isoformat
from core.store.deliveries import deliveries
from core.store.registry import all_metadata
from core.store.schema import cart_items, carts, consents, contact_identities, contacts, events, order_items, orders
from core.store.schema import messages as outbox

#: Tables left out of the walk: the erasure record itself.
SKIPPED = frozenset({"contact_erasures"})
#: Personal fields cleared on rows that are kept (their link to the contact set to NULL).
CLEARED_ON_KEPT_ROWS = {"carts": ("recovery_url",)}
ERASED_BODY = b'{"erased": true}'


@dataclass(frozen=True)
class ContactSummary:
    id: int
    email: str | None
    phone: str | None
    first_name: str | None
    last_name: str | None
    created_at: datetime


def _summary(row: Any) -> ContactSummary:
    return ContactSummary(row.id, row.email, row.phone, row.first_name, row.last_name, row.created_at)


def search_contacts(conn: Connection, tenant_id: int, query: str, limit: int = 50) -> list[ContactSummary]:
    """Identified contacts whose email, phone or name contains ``query`` (the newest ones when it is empty)."""
    statement = select(contacts).where(
        contacts.c.tenant_id == tenant_id, or_(contacts.c.email.is_not(None), contacts.c.phone.is_not(None))
    )
    query = query.strip().lower()[:200]
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            or_(
                func.lower(contacts.c.email).like(pattern, escape="\\"),
                contacts.c.phone.like(pattern, escape="\\"),
                func.lower(contacts.c.first_name).like(pattern, escape="\\"),
                func.lower(contacts.c.last_name).like(pattern, escape="\\"),
            )
        )
    rows = conn.execute(statement.order_by(contacts.c.id.desc()).limit(limit))
    return [_summary(row) for row in rows]


def get_contact(conn: Connection, tenant_id: int, contact_id: int) -> ContactSummary:
    """The tenant's contact; raise NotFoundError (also for another tenant's contact)."""
    row = conn.execute(select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)).first()
    if row is None:
        raise NotFoundError(f"no contact with id {contact_id} in this tenant")
    return _summary(row)


def find_contact(conn: Connection, tenant_id: int, email_or_id: str) -> ContactSummary:
    """The contact with this email (any of theirs), phone or id; raise NotFoundError."""
    value = email_or_id.strip()
    if value.isdigit():
        return get_contact(conn, tenant_id, int(value))
    found = conn.execute(
        select(contact_identities.c.contact_id).where(
            contact_identities.c.tenant_id == tenant_id,
            contact_identities.c.kind.in_(("email", "phone")),
            contact_identities.c.value == value.lower(),
        )
    ).scalar()
    if found is None:
        raise NotFoundError(f"no contact with the email or phone {value!r} in this tenant")
    return get_contact(conn, tenant_id, found)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return isoformat(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def contact_tables() -> list[Table]:
    """Every table with a ``contact_id`` column, parents first."""
    return [t for t in all_metadata().sorted_tables if "contact_id" in t.c and t.name not in SKIPPED]


def _rows(conn: Connection, table: Table, tenant_id: int, contact_id: int) -> list[dict[str, Any]]:
    statement = select(table).where(table.c.contact_id == contact_id)
    if "tenant_id" in table.c:
        statement = statement.where(table.c.tenant_id == tenant_id)
    return [_plain(dict(row._mapping)) for row in conn.execute(statement)]


def export_contact(conn: Connection, tenant_id: int, contact_id: int) -> dict[str, Any]:
    """Everything stored about the contact, JSON-ready (GDPR art. 15 and 20)."""
    row = conn.execute(select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)).first()
    if row is None:
        raise NotFoundError(f"no contact with id {contact_id} in this tenant")
    data: dict[str, Any] = {"contact": _plain(dict(row._mapping)), "tables": {}}
    for table in contact_tables():
        data["tables"][table.name] = _rows(conn, table, tenant_id, contact_id)
    order_ids = [item["id"] for item in data["tables"].get("orders", [])]
    cart_ids = [item["id"] for item in data["tables"].get("carts", [])]
    data["tables"]["order_items"] = [
        _plain(dict(r._mapping)) for r in conn.execute(select(order_items).where(order_items.c.order_id.in_(order_ids)))
    ]
    data["tables"]["cart_items"] = [
        _plain(dict(r._mapping)) for r in conn.execute(select(cart_items).where(cart_items.c.cart_id.in_(cart_ids)))
    ]
    return data


def _on_delete(table: Table) -> str | None:
    for key in table.c.contact_id.foreign_keys:
        return (key.ondelete or "").upper() or "NO ACTION"
    return None


def _addresses(conn: Connection, tenant_id: int, contact_id: int) -> list[str]:
    values = conn.execute(
        select(contact_identities.c.value).where(
            contact_identities.c.tenant_id == tenant_id,
            contact_identities.c.contact_id == contact_id,
            contact_identities.c.kind.in_(("email", "phone")),
        )
    ).scalars()
    return sorted({v for v in values if v and len(v) >= 5})


def _contains(conn: Connection, column: Any, needle: bytes) -> Any:
    if conn.dialect.name == "postgresql":
        return func.position(literal(needle).op("IN")(column)) > 0
    return func.instr(column, literal(needle)) > 0


def erase_contact(conn: Connection, tenant_id: int, contact_id: int, now: datetime, by: str) -> dict[str, int]:
    """Erase the contact (GDPR art. 17) and record the erasure; return rows removed or anonymised per table.

    Raises NotFoundError when the tenant has no such contact. Run it in one
    transaction: all of it happens, or none.
    """
    get_contact(conn, tenant_id, contact_id)
    counts: dict[str, int] = {}
    for address in _addresses(conn, tenant_id, contact_id):
        found = conn.execute(
            deliveries.update()
            .where(deliveries.c.tenant_id == tenant_id, _contains(conn, deliveries.c.body, address.encode()))
            .values(body=ERASED_BODY, headers={})
        ).rowcount
        if found:
            counts["webhook_deliveries"] = counts.get("webhook_deliveries", 0) + found
    for table in reversed(contact_tables()):
        if table.name == "contacts":
            continue
        scope = table.c.contact_id == contact_id
        if "tenant_id" in table.c:
            scope = scope & (table.c.tenant_id == tenant_id)
        rule = _on_delete(table)
        if rule == "SET NULL":
            cleared = {name: None for name in CLEARED_ON_KEPT_ROWS.get(table.name, ())}
            changed = conn.execute(table.update().where(scope).values(contact_id=None, **cleared)).rowcount
        elif rule == "CASCADE" or rule is None:
            changed = conn.execute(table.delete().where(scope)).rowcount
        else:
            changed = conn.execute(table.delete().where(scope)).rowcount
        if changed:
            counts[table.name] = changed
    conn.execute(contacts.delete().where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id))
    counts["contacts"] = 1
    conn.execute(
        erasures.insert().values(
            tenant_id=tenant_id, contact_id=contact_id, erased_at=now, erased_by=by, removed=counts
        )
    )
    return counts


def list_erasures(conn: Connection, tenant_id: int, limit: int = 50) -> list[Any]:
    return list(
        conn.execute(
            select(erasures).where(erasures.c.tenant_id == tenant_id).order_by(erasures.c.id.desc()).limit(limit)
        )
    )


@dataclass(frozen=True)
class TimelineItem:
    at: datetime
    kind: str  # event | message | consent
    title: str
    detail: str


def profile(conn: Connection, tenant_id: int, contact_id: int, now: datetime, limit: int = 200) -> dict[str, Any]:
    """The contact's profile: fields, segments, metrics (score, predictions), and a timeline newest first."""
    row = conn.execute(select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == contact_id)).first()
    if row is None:
        raise NotFoundError(f"no contact with id {contact_id} in this tenant")
    items: list[TimelineItem] = []
    for event in conn.execute(
        select(events.c.name, events.c.occurred_at, events.c.source, events.c.properties)
        .where(events.c.tenant_id == tenant_id, events.c.contact_id == contact_id)
        .order_by(events.c.occurred_at.desc())
        .limit(limit)
    ):
        props = event.properties or {}
        shown = ", ".join(f"{k}={v}" for k, v in list(props.items())[:4] if not isinstance(v, dict | list))
        items.append(TimelineItem(event.occurred_at, "event", event.name, f"{event.source} {shown}"[:200]))
    for message in conn.execute(
        select(outbox.c.flow, outbox.c.step, outbox.c.channel, outbox.c.status, outbox.c.subject, outbox.c.due_at, outbox.c.sent_at)
        .where(outbox.c.tenant_id == tenant_id, outbox.c.contact_id == contact_id)
        .order_by(outbox.c.due_at.desc())
        .limit(limit)
    ):  # fmt: skip
        title = f"{message.flow} #{message.step} ({message.channel}) {message.status}"
        items.append(TimelineItem(message.sent_at or message.due_at, "message", title, message.subject or ""))
    consent_rows = list(
        conn.execute(
            select(consents)
            .where(consents.c.tenant_id == tenant_id, consents.c.contact_id == contact_id)
            .order_by(consents.c.at.desc())
        )
    )
    for consent in consent_rows:
        title = f"{consent.channel} {'granted' if consent.granted else 'withdrawn'}"
        detail = f"{consent.source} {consent.detail or ''} {consent.message_id or ''}".strip()
        items.append(TimelineItem(consent.at, "consent", title, detail))
    items.sort(key=lambda item: item.at, reverse=True)
    from core.segments.store.metrics import export_fields  # the score at ``now`` and the predictions

    figures = export_fields(conn, tenant_id, [contact_id], now)[contact_id]
    order_count = conn.execute(
        select(func.count())
        .select_from(orders)
        .where(orders.c.tenant_id == tenant_id, orders.c.contact_id == contact_id)
    ).scalar_one()
    cart_count = conn.execute(
        select(func.count()).select_from(carts).where(carts.c.tenant_id == tenant_id, carts.c.contact_id == contact_id)
    ).scalar_one()
    return {
        "contact": dict(row._mapping),
        "timeline": items[:limit],
        "consents": consent_rows,
        "figures": figures,
        "orders": int(order_count),
        "carts": int(cart_count),
    }
