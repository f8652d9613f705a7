"""Console accounts: roles, what a role may see and do, password hashing (argon2id).

An agency admin sees every tenant; an owner and a viewer see one tenant, and
a viewer changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from core.console.errors import AccountError

#: Shortest password accepted.
MIN_PASSWORD = 10
MAX_PASSWORD = 1024
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{1,99}$")

_hasher = PasswordHasher()  # argon2id with the library's current defaults


class Role(str, Enum):
    AGENCY_ADMIN = "agency-admin"
    OWNER = "owner"
    VIEWER = "viewer"


@dataclass(frozen=True)
class User:
    id: int
    name: str
    role: Role
    tenant_id: int | None
    created_at: datetime

    @property
    def is_admin(self) -> bool:
        return self.role is Role.AGENCY_ADMIN

    def can_see(self, tenant_id: int) -> bool:
        """Whether this user may see the tenant's pages."""
        return self.is_admin or self.tenant_id == tenant_id

    def can_change(self, tenant_id: int) -> bool:
        """Whether this user may change the tenant (flows, settings, erasures, replays)."""
        return self.can_see(tenant_id) and self.role is not Role.VIEWER


def check_username(name: str) -> str:
    """Return the user name, lower-cased; raise AccountError when it is not acceptable."""
    name = (name or "").strip().lower()
    if not USERNAME.match(name):
        raise AccountError(
            f"the user name {name!r} is not valid: use 2-100 characters among a-z, 0-9, '.', '_', '@' and '-'"
        )
    return name


def check_role(role: str, tenant_id: int | None) -> Role:
    """Return the role; an agency admin has no tenant, an owner or a viewer has exactly one."""
    try:
        parsed = Role(role)
    except ValueError:
        allowed = ", ".join(r.value for r in Role)
        raise AccountError(f"unknown role {role!r}: use one of {allowed}") from None
    if parsed is Role.AGENCY_ADMIN and tenant_id is not None:
        raise AccountError("an agency-admin sees every tenant: leave --tenant out")
    if parsed is not Role.AGENCY_ADMIN and tenant_id is None:
        raise AccountError(f"a {parsed.value} belongs to one tenant: say which with --tenant NAME")
    return parsed


def hash_password(password: str) -> str:
    """The argon2id hash of an acceptable password; raise AccountError for a too short or too long one."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: use at most {MAX_PASSWORD} characters")
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``stored_hash`` (constant time inside argon2)."""
    if len(password) > MAX_PASSWORD:
        return False
    try:
        return _hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with older parameters (rehash it at the next login)."""
    return _hasher.check_needs_rehash(stored_hash)


@cache
def dummy_hash() -> str:
    """A hash to verify against when the user does not exist, so that both cases take the same time."""
    return _hasher.hash("no-such-user-placeholder")
