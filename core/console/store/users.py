"""Console users: add, fetch, list, remove, change a password."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from core.console.accounts import Role, User
from core.console.errors import AccountError
from core.console.store.schema import sessions, users
from core.errors import NotFoundError


def _user(row: Any) -> User:
    return User(id=row.id, name=row.name, role=Role(row.role), tenant_id=row.tenant_id, created_at=row.created_at)


def add_user(conn: Connection, name: str, role: Role, tenant_id: int | None, password_hash: str, now: datetime) -> User:
    """Create a user; raise AccountError when the name is taken."""
    if conn.execute(select(users.c.id).where(users.c.name == name)).first() is not None:
        raise AccountError(f"a user named {name!r} already exists; change its password with 'relance user passwd'")
    user_id = conn.execute(
        users.insert()
        .values(
            name=name, role=role.value, tenant_id=tenant_id, password_hash=password_hash, created_at=now, updated_at=now
        )
        .returning(users.c.id)
    ).scalar_one()
    return get_user(conn, user_id)


def get_user(conn: Connection, user_id: int) -> User:
    row = conn.execute(select(users).where(users.c.id == user_id)).first()
    if row is None:
        raise NotFoundError(f"no user with id {user_id}")
    return _user(row)


def get_user_by_name(conn: Connection, name: str) -> User:
    row = conn.execute(select(users).where(users.c.name == name)).first()
    if row is None:
        raise NotFoundError(f"no user named {name!r}; see 'relance user list'")
    return _user(row)


def get_credentials(conn: Connection, name: str) -> tuple[User, str] | None:
    """The user called ``name`` and their password hash, or None."""
    row = conn.execute(select(users).where(users.c.name == name)).first()
    return (_user(row), row.password_hash) if row is not None else None


def list_users(conn: Connection) -> list[User]:
    return [_user(row) for row in conn.execute(select(users).order_by(users.c.name))]


def remove_user(conn: Connection, name: str) -> User:
    """Remove the user (their sessions end with them); return who was removed."""
    user = get_user_by_name(conn, name)
    conn.execute(sessions.delete().where(sessions.c.user_id == user.id))
    conn.execute(users.delete().where(users.c.id == user.id))
    return user


def set_password(conn: Connection, name: str, password_hash: str, now: datetime) -> User:
    """Replace the user's password hash and end every session of theirs."""
    user = get_user_by_name(conn, name)
    conn.execute(users.update().where(users.c.id == user.id).values(password_hash=password_hash, updated_at=now))
    conn.execute(sessions.delete().where(sessions.c.user_id == user.id))
    return user


def update_hash(conn: Connection, user_id: int, password_hash: str, now: datetime) -> None:
    """Store a rehashed password (same password, current parameters); sessions stay."""
    conn.execute(users.update().where(users.c.id == user_id).values(password_hash=password_hash, updated_at=now))
