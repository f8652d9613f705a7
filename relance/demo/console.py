"""The demo's console section: an agency admin for the console, its address and credentials printed.

Each run of the demo gives the ``admin`` user a new random password (printed
once, never stored in clear) so that the credentials shown always work.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from core.console.accounts import Role, hash_password
from core.console.store.audit import record
from core.console.store.users import add_user, get_credentials, set_password
from core.store.tenants import Tenant
from relance.wiring import Runtime

Echo = Callable[[str], None]
ADMIN = "admin"


def console_section(runtime: Runtime, tenant: Tenant, echo: Echo) -> None:
    """Create (or reset) the demo's agency admin and say how to open the console."""
    password = secrets.token_urlsafe(12)
    now = runtime.clock()
    with runtime.engine.begin() as conn:
        if get_credentials(conn, ADMIN) is None:
            add_user(conn, ADMIN, Role.AGENCY_ADMIN, None, hash_password(password), now)
            record(conn, now, "demo", "user_added", None, user=ADMIN, role=Role.AGENCY_ADMIN.value)
        else:
            set_password(conn, ADMIN, hash_password(password), now)
            record(conn, now, "demo", "password_changed", None, user=ADMIN)
    echo(
        f"  console    run 'relance serve', then open {runtime.settings.base_url}/console/ "
        f"and sign in as {ADMIN} with the password {password}"
    )
