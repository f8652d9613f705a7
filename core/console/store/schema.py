"""Tables of the console: users, their sessions, the audit log, and the record of contact erasures.

The audit log keeps the actor's name and the tenant's id as plain values (no
foreign key): it outlives removed users and tenants.
"""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, Index, Integer, String, Table

from core.store.schema import metadata
from core.store.types import BigId, Json, UTCDateTime

users = Table(
    "console_users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    # agency-admin | owner | viewer
    Column("role", String(20), nullable=False),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE")),
    Column("password_hash", String(200), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

#: Signed-in browsers: the SHA-256 of the cookie's random token, never the token itself.
sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("console_users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_seen_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_console_sessions_user", "user_id"),
)

#: Who did what, when: every change made through the console or ``relance user``, and failed logins.
audit = Table(
    "console_audit",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("tenant_id", Integer),
    Column("action", String(60), nullable=False),
    Column("detail", Json, nullable=False),
    Index("ix_console_audit_action_actor_at", "action", "actor", "at"),
    Index("ix_console_audit_tenant_at", "tenant_id", "at"),
)

#: Contacts erased on request (GDPR art. 17): which id, when, by whom, how many rows went; no personal data.
erasures = Table(
    "contact_erasures",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("tenant_id", Integer, ForeignKey("tenants.id", ondelete="CASCADE"), nullable=False),
    Column("contact_id", BigId, nullable=False),
    Column("erased_at", UTCDateTime, nullable=False),
    Column("erased_by", String(100), nullable=False),
    Column("removed", Json, nullable=False),
    Index("ix_contact_erasures_tenant", "tenant_id", "erased_at"),
)
