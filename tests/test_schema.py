"""The Alembic migrations create exactly the tables the code declares."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core.store.registry import all_metadata


def test_migrations_match_the_declared_tables(engine):
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), all_metadata())
    assert diff == []


#: Tables of the install, not of a tenant: the tenants, and the console's sessions (a user's, whatever the tenant).
INSTALL_TABLES = {"tenants", "console_sessions"}


def test_every_table_but_tenants_is_scoped_by_tenant():
    unscoped = [t.name for t in all_metadata().sorted_tables if t.name not in INSTALL_TABLES and "tenant_id" not in t.c]
    assert unscoped == []
