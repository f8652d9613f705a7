"""The demo's messages section: one email per built-in template, in French and English, as files.

The emails go through the real send path (``core.messages.sending``) with a
file transport writing ``.eml`` files, and an ``.html`` beside each to open
in a browser, under ``<data dir>/demo/emails``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, select

from core.messages.previews import DOUBLE_OPT_IN, flow_context
from core.messages.sending import SendConfig, send_messages
from core.model import Channel
from core.store.db import upsert
from core.store.schema import carts, contacts, messages
from core.store.tenants import Tenant
from relance.wiring import Runtime
from transports.files import FileTransport

Echo = Callable[[str], None]

DEMO_TEMPLATES = (
    ("abandoned_cart", 1),
    ("abandoned_cart", 2),
    ("abandoned_cart", 3),
    ("birthday", 1),
    ("cross_sell", 1),
    ("replenishment", 1),
    (DOUBLE_OPT_IN, 1),
)


def _demo_contact(conn: Connection, tenant: Tenant, lang: str) -> int | None:
    """An opted-in contact speaking ``lang`` with an open cart (or at least an opt-in)."""
    base = select(contacts.c.id).where(
        contacts.c.tenant_id == tenant.id, contacts.c.email_consent.is_(True), contacts.c.locale.like(f"{lang}%")
    )
    with_cart = base.where(
        contacts.c.id.in_(select(carts.c.contact_id).where(carts.c.tenant_id == tenant.id, carts.c.item_count > 0)),
        contacts.c.first_name.is_not(None),
    )
    return (
        conn.execute(with_cart.order_by(contacts.c.id)).scalar() or conn.execute(base.order_by(contacts.c.id)).scalar()
    )


def messages_section(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    """Write one email per built-in template, in French and English, through the real send path."""
    now = runtime.clock()
    folder: Path = runtime.settings.data_dir / "demo" / "emails"
    ids: list[int] = []
    with runtime.engine.begin() as conn:
        for lang in ("fr", "en"):
            contact_id = _demo_contact(conn, tenant, lang)
            if contact_id is None:
                continue
            for flow, step in DEMO_TEMPLATES:
                context = flow_context(conn, tenant, contact_id, flow)
                if flow == "abandoned_cart" and step == 3:
                    context["coupon"] = "MERCI10"
                if flow == "birthday":
                    context["coupon"] = "ANNIV15"
                key = f"demo:{flow}/{step}:{lang}"
                upsert(
                    conn,
                    messages,
                    {
                        "tenant_id": tenant.id,
                        "contact_id": contact_id,
                        "flow": flow,
                        "run_id": None,
                        "step": step,
                        "channel": Channel.EMAIL.value,
                        "marketing": flow != DOUBLE_OPT_IN,
                        "template": f"{flow}/{step}",
                        "context": context,
                        "dedupe_key": key,
                        "status": "scheduled",
                        "due_at": now,
                        "attempts": 0,
                        "created_at": now,
                        "updated_at": now,
                    },
                    keys=["tenant_id", "dedupe_key"],
                )
                ids.append(
                    conn.execute(
                        select(messages.c.id).where(messages.c.tenant_id == tenant.id, messages.c.dedupe_key == key)
                    ).scalar_one()
                )
    if not ids:
        echo("  messages   no opted-in contact to write demo emails for")
        return
    config = SendConfig(runtime.settings.base_url, runtime.settings.secret_key)
    transport = FileTransport(folder)
    report = send_messages(runtime.engine, ids, runtime.clock, config, lambda _tenant, _channel: transport)
    emails = sorted(folder.glob("*.eml"))
    first = next((p for p in sorted(folder.glob("*-abandoned_cart-1-fr.html"))), None) or next(
        iter(sorted(folder.glob("*.html"))), None
    )
    echo(
        f"  messages   {len(emails)} demo emails ({len(DEMO_TEMPLATES)} templates, fr and en) written as .eml files, "
        f"an .html beside each, in {folder}" + (f" ({len(report.sent)} new)" if report.sent else "")
    )
    if first is not None:
        echo(f"             open one in a browser: {first}")
