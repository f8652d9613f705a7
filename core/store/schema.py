"""Tables of the foundation: tenants, contacts and their identities, consents,
events, orders, carts, products and connector cursors.

Every table but ``tenants`` has a ``tenant_id``. Other areas define their own
tables in their own modules on the same ``metadata``. A table's
``info["on_merge"]`` tells what a contact merge does to its rows that point at
the merged contact: "move" (the default) or "delete" (derived data that is
recomputed). Alembic migrations in ``core/migrations`` mirror these tables;
a test checks they agree.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from core.store.types import BigId, Json, Money, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING)


def _tenant_fk() -> Column:
    return Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False)


def _parents_tenant() -> Column:
    """The tenant of a row that belongs to a parent row of the same tenant and goes with it (its foreign key
    to the parent deletes it with the parent): no foreign key of its own to ``tenants``, which the parent's
    holds. One check fewer for every row written, and these are the rows a sync, an import and a refresh
    write most of (items, identities, consents, metrics, memberships); a row that outlives its parent
    (``SET NULL``: orders, carts, events) keeps its own."""
    return Column("tenant_id", Integer, nullable=False)


tenants = Table(
    "tenants",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("platform", String(20), nullable=False),
    Column("url", String(500), nullable=False),
    Column("config", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("email", String(320)),
    Column("phone", String(20)),
    Column("first_name", String(200)),
    Column("last_name", String(200)),
    Column("birthday", Date),
    Column("country", String(2)),
    Column("city", String(200)),
    Column("locale", String(20)),
    Column("timezone", String(64)),
    Column("attributes", Json, nullable=False, default=dict),
    Column("email_consent", Boolean),
    Column("email_consent_at", UTCDateTime),
    Column("sms_consent", Boolean),
    Column("sms_consent_at", UTCDateTime),
    # Time of the newest event that set profile fields: an older event arriving
    # late only fills blanks.
    Column("profile_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("ix_contacts_tenant_email", "tenant_id", "email"),
    Index("ix_contacts_tenant_phone", "tenant_id", "phone"),
)

contact_identities = Table(
    "contact_identities",
    metadata,
    _parents_tenant(),
    # email | phone | anonymous | ext:<platform>
    Column("kind", String(40), nullable=False),
    Column("value", String(320), nullable=False),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    # tenant_id leads the key: the same email in two tenants is two people.
    PrimaryKeyConstraint("tenant_id", "kind", "value"),
    Index("ix_contact_identities_contact", "contact_id"),
)

consents = Table(
    "consents",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _parents_tenant(),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("channel", String(10), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    Column("source", String(40), nullable=False),
    Column("message_id", String(200)),
    Column("detail", String(500)),
    Index("ix_consents_contact", "tenant_id", "contact_id", "channel", "at"),
)

events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("message_id", String(200), nullable=False),
    Column("type", String(10), nullable=False),
    Column("name", String(100), nullable=False),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE")),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("source", String(40), nullable=False),
    Column("properties", Json, nullable=False),
    UniqueConstraint("tenant_id", "message_id", name="uq_events_tenant_message"),
    Index("ix_events_contact_name_time", "tenant_id", "contact_id", "name", "occurred_at"),
    Index("ix_events_name_time", "tenant_id", "name", "occurred_at"),
)

orders = Table(
    "orders",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("source", String(20), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("number", String(200)),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("status", String(20), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("total", Money, nullable=False),
    Column("cart_id", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("paid_at", UTCDateTime),
    Column("ingested_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "source", "external_id", name="uq_orders_tenant_source_external"),
    Index("ix_orders_contact_created", "tenant_id", "contact_id", "created_at"),
    Index("ix_orders_tenant_created", "tenant_id", "created_at"),
)

order_items = Table(
    "order_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _parents_tenant(),
    Column("order_id", BigId, ForeignKey("orders.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("product_id", String(200)),
    Column("variant_id", String(200)),
    Column("sku", String(200)),
    Column("name", String(500)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("brand", String(200)),
    Column("categories", Json, nullable=False),
    Column("url", Text),
    Column("image_url", Text),
    Index("ix_order_items_order", "order_id"),
    Index("ix_order_items_product", "tenant_id", "product_id"),
)

carts = Table(
    "carts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("source", String(20), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="SET NULL")),
    Column("currency", String(3)),
    Column("total", Money, nullable=False),
    Column("item_count", Integer, nullable=False),
    Column("recovery_url", Text),
    Column("checkout_started_at", UTCDateTime),
    Column("converted_order_id", BigId, ForeignKey("orders.id", ondelete="SET NULL")),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "source", "external_id", name="uq_carts_tenant_source_external"),
    Index("ix_carts_contact_updated", "tenant_id", "contact_id", "updated_at"),
)

cart_items = Table(
    "cart_items",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _parents_tenant(),
    Column("cart_id", BigId, ForeignKey("carts.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),
    Column("product_id", String(200)),
    Column("variant_id", String(200)),
    Column("sku", String(200)),
    Column("name", String(500)),
    Column("quantity", Integer, nullable=False),
    Column("unit_price", Money, nullable=False),
    Column("brand", String(200)),
    Column("categories", Json, nullable=False),
    Column("url", Text),
    Column("image_url", Text),
    Index("ix_cart_items_cart", "cart_id"),
)

products = Table(
    "products",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("source", String(20), nullable=False),
    Column("external_id", String(200), nullable=False),
    Column("sku", String(200)),
    Column("name", String(500)),
    Column("brand", String(200)),
    Column("categories", Json, nullable=False),
    Column("price", Money),
    Column("currency", String(3)),
    Column("in_stock", Boolean),
    Column("url", Text),
    Column("image_url", Text),
    Column("cross_sell_ids", Json, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "source", "external_id", name="uq_products_tenant_source_external"),
)

sync_cursors = Table(
    "sync_cursors",
    metadata,
    _tenant_fk(),
    Column("resource", String(40), nullable=False),
    Column("cursor", Text, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    PrimaryKeyConstraint("tenant_id", "resource"),
)

#: Every message Relance decides to send, holds back or fails to send: the outbox
#: the flows write and the delivery jobs work through. ``dedupe_key`` (unique per
#: tenant, e.g. "run:42:step:2") is what makes a step retried after a crash, or run
#: by two workers, send once.
messages = Table(
    "messages",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    _tenant_fk(),
    Column("contact_id", BigId, ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False),
    Column("flow", String(60), nullable=False),
    Column("run_id", BigId),
    Column("step", Integer, nullable=False),
    # the campaign and the A/B variant a message belongs to, if any (reports group by them)
    Column("campaign", String(60)),
    Column("variant", String(40)),
    Column("channel", String(10), nullable=False),
    Column("marketing", Boolean, nullable=False),
    Column("template", String(100), nullable=False),
    Column("context", Json, nullable=False),
    Column("dedupe_key", String(200), nullable=False),
    # scheduled | held | sending | sent | failed | bounced | suppressed | dropped | holdout
    # (holdout: the contact is in the flow's or campaign's holdout group; recorded, never sent)
    Column("status", String(20), nullable=False),
    Column("reason", String(200)),
    Column("due_at", UTCDateTime, nullable=False),
    Column("sent_at", UTCDateTime),
    Column("to_address", String(320)),
    Column("subject", String(500)),
    Column("provider_id", String(200)),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    UniqueConstraint("tenant_id", "dedupe_key", name="uq_messages_tenant_dedupe"),
    Index("ix_messages_contact_sent", "tenant_id", "contact_id", "sent_at"),
    Index("ix_messages_status_due", "status", "due_at"),
)
