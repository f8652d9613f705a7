"""Tenants in the database: create, update, fetch, list.

A tenant's secrets are stored encrypted (``core.secrets``) with the keyring
of the engine the connection comes from: the composition root puts it on the
engine once (``use_keyring``), and every reader and writer of tenants finds
it there (``keyring_of``), whatever the command, job or request. An engine
without a keyring (a scratch database, a test) writes secrets in clear and
cannot read encrypted ones (SecretKeyError, one line).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, select

from core.errors import NotFoundError
from core.secrets import Keyring, seal_config, sealed_states, unseal_config
from core.store.schema import tenants
from core.tenants import TenantConfig, config_from_stored

#: The engine execution option that carries the keyring down to every connection.
KEYRING_OPTION = "relance_keyring"


def use_keyring(engine: Engine, keyring: Keyring) -> None:
    """Make ``keyring`` encrypt and decrypt the tenants' secrets on every connection of ``engine``."""
    engine.update_execution_options(**{KEYRING_OPTION: keyring})


def keyring_of(conn: Connection) -> Keyring | None:
    """The keyring of the engine ``conn`` comes from (None when it has none)."""
    return conn.get_execution_options().get(KEYRING_OPTION)


def stored_config(conn: Connection, config: TenantConfig) -> dict[str, Any]:
    """The tenant mapping as written to the database: secrets encrypted when the engine has a keyring."""
    keyring = keyring_of(conn)
    data = config.to_dict()
    return data if keyring is None else seal_config(data, keyring)


def open_config(conn: Connection, stored: Mapping[str, Any]) -> dict[str, Any]:
    """A stored tenant mapping with its secrets decrypted; raise SecretKeyError when one cannot be."""
    return unseal_config(stored, keyring_of(conn))


@dataclass(frozen=True)
class Tenant:
    id: int
    config: TenantConfig
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.config.name


def _tenant(conn: Connection, row: object) -> Tenant:
    return Tenant(
        id=row.id,  # type: ignore[attr-defined]
        config=config_from_stored(open_config(conn, row.config)),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        updated_at=row.updated_at,  # type: ignore[attr-defined]
    )


def upsert_tenant(conn: Connection, config: TenantConfig, now: datetime) -> tuple[Tenant, bool]:
    """Create the tenant or replace its settings; return it and whether it was created."""
    existing = conn.execute(select(tenants.c.id).where(tenants.c.name == config.name)).scalar()
    values = {
        "platform": config.platform.value,
        "url": config.url,
        "config": stored_config(conn, config),
        "updated_at": now,
    }
    if existing is None:
        tenant_id = conn.execute(
            tenants.insert().values(name=config.name, created_at=now, **values).returning(tenants.c.id)
        ).scalar_one()
        created = True
    else:
        conn.execute(tenants.update().where(tenants.c.id == existing).values(**values))
        tenant_id, created = existing, False
    return get_tenant_by_id(conn, tenant_id), created


def get_tenant(conn: Connection, name: str) -> Tenant:
    """Return the tenant called ``name``; raise NotFoundError telling how to create it."""
    row = conn.execute(select(tenants).where(tenants.c.name == name)).first()
    if row is None:
        raise NotFoundError(
            f"no tenant named {name!r}; create it with 'relance tenant add' or 'relance tenant apply FILE.yaml'"
        )
    return _tenant(conn, row)


def get_tenant_by_id(conn: Connection, tenant_id: int) -> Tenant:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFoundError(f"no tenant with id {tenant_id}")
    return _tenant(conn, row)


def list_tenants(conn: Connection) -> list[Tenant]:
    return [_tenant(conn, row) for row in conn.execute(select(tenants).order_by(tenants.c.name))]


#: Built once: the web intake reads a tenant's stored settings on every cache miss.
_STORED_BY_NAME = select(tenants.c.id, tenants.c.config).where(tenants.c.name == bindparam("name"))


def stored_settings(conn: Connection, name: str) -> tuple[int, Mapping[str, Any]] | None:
    """(id, stored settings as saved: validated, secrets sealed) of the tenant called ``name``, or None.

    For the hot path of the web intake, which reads the few keys it needs
    (and unseals the one secret it uses) instead of loading a whole tenant.
    """
    row = conn.execute(_STORED_BY_NAME, {"name": name}).first()
    return None if row is None else (row.id, row.config or {})


def tenant_names(conn: Connection) -> dict[int, str]:
    """Every tenant's name by id, without reading (or decrypting) their settings."""
    return {row.id: row.name for row in conn.execute(select(tenants.c.id, tenants.c.name).order_by(tenants.c.name))}


def reseal_tenants(conn: Connection, keyring: Keyring) -> dict[str, int]:
    """Encrypt every tenant's secrets with the keyring's current key (clear ones and those of a former key).

    Returns how many secrets were ``clear``, under a ``former`` key or already
    ``current`` before, and the ``tenants`` rewritten. Raises SecretKeyError,
    writing nothing, when a secret opens with no key of the ring.
    """
    totals = {"tenants": 0, "clear": 0, "former": 0, "current": 0}
    rows = conn.execute(select(tenants.c.id, tenants.c.config).order_by(tenants.c.id)).all()
    updates = []
    for row in rows:
        states = sealed_states(row.config, keyring)
        for state, count in states.items():
            totals[state] += count
        if states["clear"] or states["former"]:
            updates.append((row.id, seal_config(row.config, keyring)))
    for tenant_id, config in updates:
        conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(config=config))
    totals["tenants"] = len(updates)
    return totals


def secret_states(conn: Connection, keyring: Keyring) -> dict[str, dict[str, int]]:
    """Per tenant name, how many of its secrets are ``clear``, under the ``current`` key or a ``former`` one."""
    rows = conn.execute(select(tenants.c.name, tenants.c.config).order_by(tenants.c.name))
    return {row.name: sealed_states(row.config, keyring) for row in rows}
