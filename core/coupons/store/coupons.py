"""Coupon requests: written by the flows' engine, claimed and settled by the job that asks the shop."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.coupons.store.schema import coupons
from core.flows.model import UniqueCoupon
from core.store.schema import contacts
from core.store.work import claim_due_ids

PENDING = "pending"
CREATED = "created"
FAILED = "failed"
SKIPPED = "skipped"
#: A claimed request not settled by then (a worker died mid-call) is tried again.
CLAIM = timedelta(minutes=5)


def request_coupon(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    flow: str,
    run_id: int | None,
    dedupe_key: str,
    spec: UniqueCoupon,
    currency: str,
    now: datetime,
) -> None:
    """Ask for a code for the message ``dedupe_key`` (once: asking again changes nothing)."""
    dml = postgresql if conn.dialect.name == "postgresql" else sqlite
    conn.execute(
        dml.insert(coupons)
        .values(
            tenant_id=tenant_id,
            contact_id=contact_id,
            flow=flow,
            run_id=run_id,
            dedupe_key=dedupe_key[:200],
            percent=spec.percent,
            amount=spec.amount,
            currency=currency,
            expires_at=now + timedelta(days=spec.days),
            status=PENDING,
            attempts=0,
            next_at=now,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
    )


def coupon_for(conn: Connection, tenant_id: int, dedupe_key: str) -> Any:
    """The request of a message (status, code, expiry, creation), or None."""
    return conn.execute(
        select(coupons.c.status, coupons.c.code, coupons.c.expires_at, coupons.c.created_at).where(
            coupons.c.tenant_id == tenant_id, coupons.c.dedupe_key == dedupe_key
        )
    ).first()


def claim_pending(conn: Connection, now: datetime, limit: int) -> list[Any]:
    """Claim up to ``limit`` pending requests (every tenant's), with the contact's email."""
    ids = claim_due_ids(conn, coupons, PENDING, now, limit, CLAIM)
    if not ids:
        return []
    return list(
        conn.execute(
            select(coupons, contacts.c.email)
            .join(contacts, contacts.c.id == coupons.c.contact_id)
            .where(coupons.c.id.in_(ids))
            .order_by(coupons.c.id)
        ).all()
    )


def settle_coupon(
    conn: Connection,
    coupon_id: int,
    status: str,
    now: datetime,
    code: str | None = None,
    shop_ref: str | None = None,
    error: str | None = None,
    next_at: datetime | None = None,
) -> None:
    """Record what asking the shop gave: the code, or why there is none (a retry when ``next_at``)."""
    conn.execute(
        update(coupons)
        .where(coupons.c.id == coupon_id)
        .values(
            status=status,
            code=code,
            shop_ref=shop_ref,
            last_error=(error or "")[:500] or None,
            next_at=next_at,
            updated_at=now,
        )
    )


def coupons_of(conn: Connection, tenant_id: int) -> list[Any]:
    """Every coupon request of a tenant, oldest first."""
    return list(conn.execute(select(coupons).where(coupons.c.tenant_id == tenant_id).order_by(coupons.c.id)))
