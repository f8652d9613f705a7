"""Contacts: identity resolution, merging, profile updates and consent.

One person is one contact. A contact is found by any of its identities
(``contact_identities``): an email, an external id per platform
(``ext:woocommerce``), an anonymous id from the tracker, or a phone. When an
event names identities that belong to different contacts, they are merged into
the oldest one, history included.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, select, text, update
from sqlalchemy.sql import Executable

from core.model import CONTACT_FIELDS, UNSET, Channel, ContactInfo
from core.store.registry import all_metadata
from core.store.schema import consents, contact_identities, contacts

EMAIL = "email"
PHONE = "phone"
ANONYMOUS = "anonymous"


def external_kind(platform: str) -> str:
    """Identity kind of a platform's customer id, e.g. ``ext:woocommerce``."""
    return f"ext:{platform}"


class Identity(NamedTuple):
    """One key of a contact. A named tuple, not a dataclass: a page of events hashes and compares hundreds of
    thousands of them (as dict keys), which a tuple does in C."""

    kind: str
    value: str


@dataclass(frozen=True)
class Resolution:
    contact_id: int
    created: bool
    merged: tuple[int, ...] = ()


def identities_of(info: ContactInfo, anonymous_id: str | None, platform: str | None) -> list[Identity]:
    """Return the identities an event names for its contact, strongest first."""
    found: list[Identity] = []
    if platform and isinstance(info.external_id, str) and info.external_id:
        found.append(Identity(external_kind(platform), info.external_id))
    if isinstance(info.email, str):
        found.append(Identity(EMAIL, info.email))
    if anonymous_id:
        found.append(Identity(ANONYMOUS, anonymous_id))
    if isinstance(info.phone, str):
        found.append(Identity(PHONE, info.phone))
    return found


# Statements of the hot path are built once and executed with parameters: building
# SQLAlchemy expressions per event cost more than running them.
@cache
def _statements() -> dict[str, Executable]:
    ident = contact_identities.c
    return {
        "lookup": select(ident.value, ident.contact_id).where(
            ident.tenant_id == bindparam("b_tenant"),
            ident.kind == bindparam("b_kind"),
            ident.value.in_(bindparam("b_values", expanding=True)),
        ),
        "kinds": select(ident.kind).where(
            ident.tenant_id == bindparam("b_tenant"), ident.contact_id == bindparam("b_contact")
        ),
        "new_contact": insert(contacts).returning(contacts.c.id),
        "new_identity": insert(contact_identities),
        "move_anonymous": update(contact_identities)
        .where(ident.tenant_id == bindparam("b_tenant"), ident.kind == ANONYMOUS, ident.value == bindparam("b_value"))
        .values(contact_id=bindparam("b_contact")),
        "contact": select(contacts).where(
            contacts.c.tenant_id == bindparam("b_tenant"), contacts.c.id == bindparam("b_contact")
        ),
        "update_contact": update(contacts).where(
            contacts.c.tenant_id == bindparam("b_tenant"), contacts.c.id == bindparam("b_contact")
        ),
        "new_consent": insert(consents),
    }


#: PostgreSQL: the identities of a whole page in one statement, two parallel arrays of kinds and values joined
#: on the primary key (tenant_id, kind, value); the text is the same whatever the number of identities.
_PG_LOOKUP = text(
    "SELECT i.kind, i.value, i.contact_id FROM contact_identities AS i "
    "JOIN unnest(CAST(:b_kinds AS varchar[]), CAST(:b_values AS varchar[])) AS wanted(kind, value) "
    "ON i.kind = wanted.kind AND i.value = wanted.value WHERE i.tenant_id = :b_tenant"
)


def lookup_identities(conn: Connection, tenant_id: int, found: Iterable[Identity]) -> dict[Identity, int]:
    """The contact owning each of these identities that is known: one query on PostgreSQL, one per kind of
    identity on SQLite."""
    unique = list(dict.fromkeys(found))
    if not unique:
        return {}
    if conn.dialect.name == "postgresql":
        params = {"b_tenant": tenant_id, "b_kinds": [i.kind for i in unique], "b_values": [i.value for i in unique]}
        return {Identity(kind, value): contact_id for kind, value, contact_id in conn.execute(_PG_LOOKUP, params)}
    # ``kind = :kind AND value IN (...)``: SQLite probes the primary key (tenant_id, kind, value) for each value.
    by_kind: dict[str, list[str]] = {}
    for identity in unique:
        by_kind.setdefault(identity.kind, []).append(identity.value)
    known: dict[Identity, int] = {}
    for kind, values in by_kind.items():
        rows = conn.execute(_statements()["lookup"], {"b_tenant": tenant_id, "b_kind": kind, "b_values": values})
        known.update({Identity(kind, value): contact_id for value, contact_id in rows})
    return known


_lookup = lookup_identities


def _is_anonymous(conn: Connection, tenant_id: int, contact_id: int) -> bool:
    """True when the contact is known only by anonymous ids (nobody identified yet)."""
    kinds = conn.execute(_statements()["kinds"], {"b_tenant": tenant_id, "b_contact": contact_id}).scalars()
    return all(kind == ANONYMOUS for kind in kinds)


def resolve_contact(conn: Connection, tenant_id: int, found: list[Identity], now: datetime) -> Resolution:
    """Find, create or merge the contact that owns these identities.

    External ids and emails are strong: every contact they point at is the same
    person and is merged into the oldest. An anonymous id joins the contact only
    while its own contact is still anonymous; otherwise (a shared computer) the
    anonymous id moves to the person who identified last. A phone finds a
    contact only when the event names nothing stronger.
    """
    known = _lookup(conn, tenant_id, found)
    strong = {known[i] for i in found if i in known and i.kind not in (ANONYMOUS, PHONE)}
    anonymous = next((known[i] for i in found if i.kind == ANONYMOUS and i in known), None)
    by_phone = next((known[i] for i in found if i.kind == PHONE and i in known), None)
    has_strong_key = any(i.kind not in (ANONYMOUS, PHONE) for i in found)

    merged: list[int] = []
    created = False
    if strong:
        target = min(strong)
        merged.extend(sorted(strong - {target}))
        if anonymous is not None and anonymous not in strong and _is_anonymous(conn, tenant_id, anonymous):
            merged.append(anonymous)
    elif anonymous is not None and (not has_strong_key or _is_anonymous(conn, tenant_id, anonymous)):
        target = anonymous
    elif by_phone is not None and not has_strong_key and anonymous is None:
        target = by_phone
    else:
        target = conn.execute(
            _statements()["new_contact"],
            {"tenant_id": tenant_id, "attributes": {}, "created_at": now, "updated_at": now},
        ).scalar_one()
        created = True
    for other in merged:
        merge_contacts(conn, tenant_id, into_id=target, from_id=other, now=now)
    _attach(conn, tenant_id, target, found, known, merged, now)
    return Resolution(contact_id=target, created=created, merged=tuple(merged))


def _attach(
    conn: Connection,
    tenant_id: int,
    target: int,
    found: list[Identity],
    known: Mapping[Identity, int],
    merged: list[int],
    now: datetime,
) -> None:
    for identity in found:
        owner = known.get(identity)
        if owner in merged:
            owner = target  # moved by the merge
        if owner == target:
            continue
        if owner is None:
            conn.execute(
                _statements()["new_identity"],
                {
                    "tenant_id": tenant_id,
                    "kind": identity.kind,
                    "value": identity.value,
                    "contact_id": target,
                    "created_at": now,
                },
            )
        elif identity.kind == ANONYMOUS:
            # The browser now belongs to whoever identified last.
            conn.execute(
                _statements()["move_anonymous"], {"b_tenant": tenant_id, "b_value": identity.value, "b_contact": target}
            )
        # A phone shared with another contact stays with its first owner.


def _contact_tables() -> list[Table]:
    return [
        table
        for table in all_metadata().sorted_tables
        if table is not contacts and "contact_id" in table.c and "tenant_id" in table.c
    ]


def merge_contacts(conn: Connection, tenant_id: int, into_id: int, from_id: int, now: datetime) -> None:
    """Merge contact ``from_id`` into ``into_id``: move its history, fill blanks, delete it.

    Every table with a ``contact_id`` follows its ``info["on_merge"]``: rows are
    moved ("move", the default) or dropped ("delete", derived data).
    """
    rows = {
        row.id: row
        for row in conn.execute(
            select(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id.in_([into_id, from_id]))
        )
    }
    into, other = rows[into_id], rows[from_id]
    for table in _contact_tables():
        scope = and_(table.c.tenant_id == tenant_id, table.c.contact_id == from_id)
        if table.info.get("on_merge") == "delete":
            conn.execute(delete(table).where(scope))
        else:
            conn.execute(update(table).where(scope).values(contact_id=into_id))
    values: dict[str, Any] = {}
    newer_profile = (other.profile_at or other.created_at) > (into.profile_at or into.created_at)
    for name in CONTACT_FIELDS:
        mine, theirs = getattr(into, name), getattr(other, name)
        if theirs is not None and (mine is None or (newer_profile and name != "email")):
            values[name] = theirs
    for channel in Channel:
        at_mine, at_theirs = getattr(into, f"{channel.value}_consent_at"), getattr(other, f"{channel.value}_consent_at")
        if at_theirs is not None and (at_mine is None or at_theirs > at_mine):
            values[f"{channel.value}_consent"] = getattr(other, f"{channel.value}_consent")
            values[f"{channel.value}_consent_at"] = at_theirs
    values["attributes"] = {**(other.attributes or {}), **(into.attributes or {})}
    values["created_at"] = min(into.created_at, other.created_at)
    values["updated_at"] = now
    conn.execute(delete(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == from_id))
    conn.execute(update(contacts).where(contacts.c.tenant_id == tenant_id, contacts.c.id == into_id).values(**values))


def apply_contact_info(
    conn: Connection,
    tenant_id: int,
    contact_id: int,
    info: ContactInfo,
    at: datetime,
    source: str,
    message_id: str | None,
    now: datetime,
    consent_detail: str | None = None,
) -> set[str]:
    """Apply what an event says about a contact; return the names of the fields that changed.

    An event older than the newest one that set the profile only fills blanks,
    so a late delivery never overwrites fresher data. Consent changes are
    recorded as proof (channel, choice, time, source) and applied when they are
    the newest choice for that channel.
    """
    row = conn.execute(_statements()["contact"], {"b_tenant": tenant_id, "b_contact": contact_id}).one()
    values, granted = profile_changes(row._mapping, info, at)
    for channel, choice in granted:
        conn.execute(
            _statements()["new_consent"],
            {
                "tenant_id": tenant_id,
                "contact_id": contact_id,
                "channel": channel.value,
                "granted": choice,
                "at": at,
                "source": source,
                "message_id": message_id,
                "detail": consent_detail,
            },
        )
    changed = changed_fields(values)
    if values:
        values["updated_at"] = now
        conn.execute(_statements()["update_contact"], {"b_tenant": tenant_id, "b_contact": contact_id, **values})
    return changed


def changed_fields(values: Mapping[str, Any]) -> set[str]:
    """The names of the contact's fields that ``profile_changes`` values change (not their times)."""
    return {key for key in values if key not in ("profile_at", "email_consent_at", "sms_consent_at")}


def profile_changes(
    row: Mapping[str, Any], info: ContactInfo, at: datetime
) -> tuple[dict[str, Any], list[tuple[Channel, bool]]]:
    """What an event says about a contact whose stored row is ``row``: the column values to write, and the
    consent choices to record as proof (each applied to the row when newest for its channel). Pure.
    """
    fresh = row["profile_at"] is None or at >= row["profile_at"]
    values: dict[str, Any] = {}
    for name, value in info.given().items():
        current = row[name]
        if value == current:
            continue
        if fresh or (current is None and value is not None):
            values[name] = value
    if info.attributes:
        merged = dict(row["attributes"] or {})
        for key, value in info.attributes.items():
            if not fresh and key in merged:
                continue
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != (row["attributes"] or {}):
            values["attributes"] = merged
    if values and fresh:
        values["profile_at"] = at
    granted = list(info.consent.items())
    for channel, choice in granted:
        current_at = row[f"{channel.value}_consent_at"]
        if current_at is None or at >= current_at:
            if row[f"{channel.value}_consent"] != choice:
                values[f"{channel.value}_consent"] = choice
            values[f"{channel.value}_consent_at"] = at
    return values, granted


def find_contact_id(conn: Connection, tenant_id: int, email: str) -> int | None:
    """Return the id of the contact with this email (any of their emails), or None."""
    return conn.execute(
        select(contact_identities.c.contact_id).where(
            contact_identities.c.tenant_id == tenant_id,
            contact_identities.c.kind == EMAIL,
            contact_identities.c.value == email.strip().lower(),
        )
    ).scalar()


__all__ = [
    "ANONYMOUS",
    "EMAIL",
    "PHONE",
    "UNSET",
    "Identity",
    "Resolution",
    "apply_contact_info",
    "changed_fields",
    "external_kind",
    "find_contact_id",
    "identities_of",
    "lookup_identities",
    "merge_contacts",
    "profile_changes",
    "resolve_contact",
]
