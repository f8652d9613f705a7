"""The segments tables exist as declared and membership answers."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.segments.store import schema
from core.segments.store.membership import apply_changes, is_member, member_counts, segments_of
from core.store.registry import all_metadata
from core.store.schema import contacts
from tests.conftest import NOW


def test_migration_creates_the_segments_tables_as_declared(engine):
    ours = {
        t.name for t in (schema.segment_members, schema.segment_states, schema.contact_metrics, schema.segment_models)
    }
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), all_metadata())
        present = set(inspect(conn).get_table_names())
    assert ours <= present
    assert [d for d in diff if str(d).find("segment_") >= 0 or str(d).find("contact_metrics") >= 0] == []


def test_is_member_follows_applied_changes(engine, tenant):
    with engine.begin() as conn:
        cid = conn.execute(
            contacts.insert()
            .values(tenant_id=tenant.id, email="a@example.com", attributes={}, created_at=NOW, updated_at=NOW)
            .returning(contacts.c.id)
        ).scalar_one()
        assert not is_member(conn, tenant.id, cid, "vip")
        apply_changes(conn, tenant.id, [("vip", cid), ("other", cid)], [], NOW)
        assert is_member(conn, tenant.id, cid, "vip")
        assert not is_member(conn, tenant.id + 1, cid, "vip")
        apply_changes(conn, tenant.id, [], [("vip", cid)], NOW)
        assert not is_member(conn, tenant.id, cid, "vip")
        assert segments_of(conn, tenant.id, cid) == {"other"}
        assert member_counts(conn, tenant.id) == {"other": 1}
