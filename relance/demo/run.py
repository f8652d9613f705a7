"""``relance demo``: load the sample shop through the real pipeline and show what Relance sees.

The sample shop's events go through RQ jobs on the (embedded) Redis, processed
by a worker, into the (SQLite) store, exactly as in production. Each area of
the product adds a section to the summary in ``SECTIONS``.
"""

from __future__ import annotations

import importlib
import json
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from babel.numbers import format_currency
from sqlalchemy import func, select

from core.model import REVENUE_STATUSES
from core.sections import validate_tenant
from core.store.schema import carts, contacts, events, orders, products
from core.store.tenants import Tenant, upsert_tenant
from jobs import queues
from relance.demo import sampleshop
from relance.wiring import Runtime
from relance.worker import RelanceWorker

DEMO_TENANT = {
    "name": "demo",
    "platform": "woocommerce",
    "url": sampleshop.SHOP_URL,
    "webhook_secret": "demo-webhook-secret-change-me",
    "timezone": "Europe/Paris",
    "locale": "fr_FR",
    "currency": "EUR",
    "sender": {"name": "Maison Lumière", "email": "bonjour@maison-lumiere.example"},
    # the lifecycle flows are off by default; the demo shows them
    "flows": {
        "browse_abandonment": {"enabled": True},
        "win_back": {"enabled": True, "coupon": "RETOUR15"},
        "post_purchase_survey": {"enabled": True, "review_url": sampleshop.SHOP_URL + "/avis"},
        "back_in_stock": {"enabled": True},
        "sunset": {"enabled": True},
    },
}
BATCH = 250


def demo_campaigns(today: date) -> dict[str, Any]:
    """The demo's campaign: an offer to the loyal customers in three days, at 10:00 in each one's zone."""
    day = today + timedelta(days=3)
    return {
        "fideles-noel": {
            "segment": "loyal_customer",
            "exclude": ["at_risk"],
            "subject": "Nos cafés de Noël, en avant-première pour vous",
            "title": "Merci pour votre fidélité",
            "text": "Nos cafés de Noël arrivent : découvrez-les avant tout le monde, avec 15 % offerts.",
            "coupon": "FIDELE15",
            "at": f"{day.isoformat()}T10:00",
            "local_time": True,
            "per_hour": 50,
        }
    }


Echo = Callable[[str], None]
#: Later parts of the demo, each ``section(runtime, tenant, echo)``, in order.
SECTIONS: tuple[str, ...] = (
    "relance.demo.sync.sync_section",
    "relance.demo.segments.segments_section",
    "relance.demo.flows.flows_section",
    "relance.demo.webhooks.webhooks_section",
    "relance.demo.messages.messages_section",
    "relance.demo.results.results_section",
    "relance.demo.console.console_section",
)


def run(runtime: Runtime, echo: Echo) -> Tenant:
    """Load the sample shop into the demo tenant and print the summary."""
    redis = runtime.redis
    where = "embedded Redis" if runtime.settings.embedded_redis else "Redis"
    with runtime.engine.begin() as conn:
        raw = {**DEMO_TENANT, "campaigns": demo_campaigns(runtime.clock().date())}
        tenant, _ = upsert_tenant(conn, validate_tenant(raw), runtime.clock())
    today = runtime.clock().date()
    raw_events = sampleshop.generate(today)
    sample = runtime.settings.data_dir / "demo" / "sample-shop.jsonl"
    sample.parent.mkdir(parents=True, exist_ok=True)
    sample.write_text("".join(json.dumps(raw, ensure_ascii=False) + "\n" for raw in raw_events), encoding="utf-8")

    echo(f"Relance demo: Maison Lumière, a coffee and tea shop on WooCommerce (tenant {tenant.name!r})")
    echo(f"  store      {_safe(runtime)}; {where}")
    echo(f"  sample     {len(raw_events)} events over the year to {today.isoformat()}, written to {sample}")

    started = time.perf_counter()
    queue = queues.queue(redis, queues.BULK)
    jobs = [
        queue.enqueue("jobs.ingest.run_ingest_events", tenant.id, raw_events[i : i + BATCH], "import")
        for i in range(0, len(raw_events), BATCH)
    ]
    RelanceWorker([queue], connection=redis, runtime=runtime).work(burst=True, logging_level="WARNING")
    results = [job.latest_result() for job in jobs]
    failed = [r for r in results if r is None or not r.type.name == "SUCCESSFUL"]
    totals: dict[str, int] = {"stored": 0, "duplicates": 0, "invalid": 0}
    for result in results:
        if result is not None and result.return_value:
            for key in totals:
                totals[key] += result.return_value.get(key, 0)
    elapsed = time.perf_counter() - started
    echo(
        f"  pipeline   {len(jobs)} RQ jobs, 1 worker, {elapsed:.1f} s: {totals['stored']} events stored, "
        f"{totals['duplicates']} already there, {totals['invalid']} rejected"
        + (f", {len(failed)} jobs FAILED" if failed else "")
    )
    _summary(runtime, tenant, echo)
    for dotted in SECTIONS:
        module, _, name = dotted.rpartition(".")
        getattr(importlib.import_module(module), name)(runtime, tenant, echo)
    echo("")
    echo("Next: relance export contacts --tenant demo | head -3")
    return tenant


def _safe(runtime: Runtime) -> str:
    from core.store.db import safe_url

    return safe_url(runtime.settings.database_url)


def _money(amount: Any, locale: str) -> str:
    return format_currency(amount or 0, "EUR", locale=locale)


def _summary(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    tid = tenant.id
    locale = tenant.config.locale
    now = runtime.clock()
    with runtime.engine.connect() as conn:
        known = (contacts.c.tenant_id == tid) & contacts.c.email.is_not(None)
        n_contacts = conn.execute(select(func.count()).where(known)).scalar_one()
        n_email = conn.execute(select(func.count()).where(known, contacts.c.email_consent.is_(True))).scalar_one()
        n_sms = conn.execute(select(func.count()).where(known, contacts.c.sms_consent.is_(True))).scalar_one()
        n_anonymous = conn.execute(
            select(func.count()).where(contacts.c.tenant_id == tid, contacts.c.email.is_(None))
        ).scalar_one()
        revenue = orders.c.status.in_(REVENUE_STATUSES)
        buyers = conn.execute(
            select(func.count(func.distinct(orders.c.contact_id))).where(orders.c.tenant_id == tid, revenue)
        ).scalar_one()
        by_status = dict(
            conn.execute(
                select(orders.c.status, func.count()).where(orders.c.tenant_id == tid).group_by(orders.c.status)
            ).all()
        )
        total = conn.execute(select(func.sum(orders.c.total)).where(orders.c.tenant_id == tid, revenue)).scalar()
        recent = now - timedelta(days=3)
        open_carts = conn.execute(
            select(func.count()).where(
                carts.c.tenant_id == tid,
                carts.c.updated_at >= recent,
                carts.c.converted_order_id.is_(None),
                carts.c.item_count > 0,
            )
        ).scalar_one()
        n_products = conn.execute(select(func.count()).where(products.c.tenant_id == tid)).scalar_one()
        n_brands = conn.execute(
            select(func.count(func.distinct(products.c.brand))).where(products.c.tenant_id == tid)
        ).scalar_one()
        by_event = conn.execute(
            select(events.c.name, func.count())
            .where(events.c.tenant_id == tid)
            .group_by(events.c.name)
            .order_by(func.count().desc())
        ).all()
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(by_status.items(), key=lambda kv: -kv[1]))
    echo(
        f"  contacts   {n_contacts} known ({buyers} customers, {n_contacts - buyers} prospects), "
        f"{n_email} opted in to email, {n_sms} to SMS; {n_anonymous} anonymous visitors"
    )
    echo(f"  orders     {sum(by_status.values())} ({statuses}); revenue {_money(total, locale)}")
    echo(f"  carts      {open_carts} open carts updated in the last 3 days")
    echo(f"  catalogue  {n_products} products from {n_brands} brands")
    echo("  events     " + ", ".join(f"{name} {count}" for name, count in by_event))
