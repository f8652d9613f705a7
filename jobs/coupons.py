"""The coupon job: create the unique codes the flows asked for, in the shop, then let the messages go.

The flows' engine writes a ``pending`` request (``core.coupons``) and holds
its message (reason ``coupon``) for the step's ``wait``. This job claims the
pending requests, asks the shop through its connector's client
(``connectors.coupons``) and records the code, then wakes the run so the
message goes at once with it. A tenant without write access
(``flows.coupons.create`` off) is never written to: its requests are
``skipped``. A refusal of the key (401/403) fails the request for good; other
errors are retried twice, a minute apart. A message whose code is not there
in time goes with the step's fixed code (or none).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from connectors.coupons import CouponSpec, create_coupon
from connectors.errors import ConnectorAuthError, ConnectorError
from connectors.registry import connector_for
from core.coupons.store.coupons import CREATED, FAILED, PENDING, SKIPPED, claim_pending, settle_coupon
from core.flows.settings import tenant_flows
from core.flows.store.lifecycle import wake
from core.store.tenants import Tenant, get_tenant_by_id
from jobs import context

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY = timedelta(minutes=1)
#: tenant -> the client of its shop's API (``connector.client``); tests hand one built on a fake session.
ClientFor = Callable[[Tenant], Any]


def _client(tenant: Tenant) -> Any:
    return connector_for(tenant.config).client


def make_coupons(engine: Engine, now: datetime, client_for: ClientFor = _client, limit: int = 50) -> dict[str, int]:
    """Create the pending coupons (every tenant's); return how many were created, skipped, retried, failed."""
    counts = {CREATED: 0, SKIPPED: 0, "retried": 0, FAILED: 0}
    with engine.begin() as conn:
        claimed = claim_pending(conn, now, limit)
    tenants: dict[int, Tenant] = {}
    for row in claimed:
        if row.tenant_id not in tenants:
            with engine.connect() as conn:
                tenants[row.tenant_id] = get_tenant_by_id(conn, row.tenant_id)
        tenant = tenants[row.tenant_id]
        status, code, ref, error, next_at = SKIPPED, None, None, None, None
        if tenant_flows(tenant.config.flows).settings.create_coupons:
            spec = CouponSpec(
                percent=row.percent,
                amount=row.amount,
                expires_at=row.expires_at,
                starts_at=now,
                email=row.email,
                label=f"Relance {row.flow} #{row.id}",
            )
            try:
                created = create_coupon(tenant.config.platform, client_for(tenant), spec)
                status, code, ref = CREATED, created.code, created.shop_ref
            except ConnectorAuthError as exc:
                status, error = FAILED, f"{exc} (creating coupons needs an API key with write access)"
            except ConnectorError as exc:
                status, error = (PENDING, str(exc)) if row.attempts < MAX_ATTEMPTS else (FAILED, str(exc))
                next_at = now + RETRY if status == PENDING else None
        else:
            error = "no write access: flows.coupons.create is off, the step's fixed code goes instead"
        if status == FAILED:
            log.warning("tenant %s: coupon %s could not be created: %s", tenant.name, row.id, error)
        with engine.begin() as conn:
            settle_coupon(conn, row.id, status, now, code, ref, error, next_at)
            if status != PENDING and row.run_id is not None:
                wake(conn, row.tenant_id, [row.run_id], now)  # the message goes now, with its code or without
        counts["retried" if status == PENDING else status] += 1
    return counts


def run_coupons() -> dict[str, int]:
    """Job: create the pending coupons; the flows' sweep then sends the messages that waited for them."""
    runtime = context.current()
    return make_coupons(runtime.engine, runtime.clock())
