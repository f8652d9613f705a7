"""Console sessions: a random token in the browser's cookie, its SHA-256 here, a CSRF token per session."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, select

from core.console.accounts import User
from core.console.store.schema import sessions, users
from core.console.store.users import _user

#: A session ends after this long without a request, and after MAX_AGE in any case.
IDLE = timedelta(hours=8)
MAX_AGE = timedelta(days=7)


@dataclass(frozen=True)
class Session:
    token_hash: str
    user: User
    csrf_token: str
    expires_at: datetime


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_session(conn: Connection, user_id: int, now: datetime) -> tuple[str, str]:
    """Open a session; return the cookie's token (kept nowhere else) and the session's CSRF token."""
    token = secrets.token_urlsafe(32)
    csrf = secrets.token_urlsafe(32)
    conn.execute(
        sessions.insert().values(
            token_hash=_hash(token),
            user_id=user_id,
            csrf_token=csrf,
            created_at=now,
            last_seen_at=now,
            expires_at=now + IDLE,
        )
    )
    return token, csrf


def get_session(conn: Connection, token: str, now: datetime) -> Session | None:
    """The live session of this token (its idle expiry pushed back), or None."""
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        select(sessions, users)
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.token_hash == _hash(token))
    ).first()
    if row is None:
        return None
    if row.expires_at <= now or row.created_at + MAX_AGE <= now:
        conn.execute(sessions.delete().where(sessions.c.token_hash == row.token_hash))
        return None
    expires = min(now + IDLE, row.created_at + MAX_AGE)
    if now - row.last_seen_at > timedelta(minutes=1):  # one write a minute at most
        conn.execute(
            sessions.update()
            .where(sessions.c.token_hash == row.token_hash)
            .values(last_seen_at=now, expires_at=expires)
        )
    return Session(token_hash=row.token_hash, user=_user(row), csrf_token=row.csrf_token, expires_at=expires)


def end_session(conn: Connection, token: str) -> None:
    conn.execute(sessions.delete().where(sessions.c.token_hash == _hash(token)))


def purge_sessions(conn: Connection, now: datetime) -> int:
    """Delete expired sessions; return how many."""
    return conn.execute(sessions.delete().where(sessions.c.expires_at <= now)).rowcount
