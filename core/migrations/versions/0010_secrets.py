"""tenants: secrets encrypted at rest (credentials, webhook secret, SMTP and Twilio passwords and tokens)

No schema change: every secret of ``tenants.config`` stored in clear is
rewritten as ``enc:v1:<Fernet token>`` with the keyring the engine carries
(``core.store.tenants.use_keyring``, put there by ``relance.wiring`` from
``RELANCE_SECRET_KEY``). An engine without a keyring (Alembic run by hand)
leaves the rows as they are and says so: ``relance secrets rotate`` encrypts
them later. Downgrading decrypts them again.

Revision ID: 0010_secrets
Revises: 0008_lifecycle
Create Date: 2026-12-03
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op

from core.secrets import unseal_config
from core.store.tenants import keyring_of, reseal_tenants
from core.store.types import Json

revision = "0010_secrets"
down_revision = "0008_lifecycle"
branch_labels = None
depends_on = None

log = logging.getLogger(__name__)

_tenants = sa.table("tenants", sa.column("id", sa.Integer), sa.column("config", Json))


def upgrade() -> None:
    conn = op.get_bind()
    keyring = keyring_of(conn)
    if keyring is None:
        has_tenants = conn.execute(sa.select(sa.func.count()).select_from(_tenants)).scalar_one()
        if has_tenants:
            log.warning(
                "0010_secrets: no secret key given, the tenants' secrets stay in clear; "
                "run 'relance secrets rotate' to encrypt them"
            )
        return
    reseal_tenants(conn, keyring)


def downgrade() -> None:
    conn = op.get_bind()
    keyring = keyring_of(conn)
    for row in conn.execute(sa.select(_tenants.c.id, _tenants.c.config)).all():
        clear = unseal_config(row.config, keyring)  # raises SecretKeyError (nothing written) without the key
        if clear != row.config:
            conn.execute(_tenants.update().where(_tenants.c.id == row.id).values(config=clear))

