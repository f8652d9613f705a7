"""Tenants in the database: create, update, fetch, list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from core.errors import NotFoundError
from core.store.schema import tenants
from core.tenants import TenantConfig, config_from_stored


@dataclass(frozen=True)
class Tenant:
    id: int
    config: TenantConfig
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        return self.config.name


def _tenant(row: object) -> Tenant:
    return Tenant(
        id=row.id,  # type: ignore[attr-defined]
        config=config_from_stored(row.config),  # type: ignore[attr-defined]
        created_at=row.created_at,  # type: ignore[attr-defined]
        updated_at=row.updated_at,  # type: ignore[attr-defined]
    )


def upsert_tenant(conn: Connection, config: TenantConfig, now: datetime) -> tuple[Tenant, bool]:
    """Create the tenant or replace its settings; return it and whether it was created."""
    existing = conn.execute(select(tenants.c.id).where(tenants.c.name == config.name)).scalar()
    values = {"platform": config.platform.value, "url": config.url, "config": config.to_dict(), "updated_at": now}
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
    return _tenant(row)


def get_tenant_by_id(conn: Connection, tenant_id: int) -> Tenant:
    row = conn.execute(select(tenants).where(tenants.c.id == tenant_id)).first()
    if row is None:
        raise NotFoundError(f"no tenant with id {tenant_id}")
    return _tenant(row)


def list_tenants(conn: Connection) -> list[Tenant]:
    return [_tenant(row) for row in conn.execute(select(tenants).order_by(tenants.c.name))]
