"""Secrets at rest: the tenants table never holds a credential in clear; keys rotate; a wrong key is one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from core.errors import SecretKeyError
from core.secrets import PREFIX, Keyring, is_sealed, seal_config, unseal_config
from core.sections import validate_tenant
from core.store.db import alembic_config, make_engine, migrate
from core.store.schema import tenants
from core.store.tenants import get_tenant, list_tenants, tenant_names, upsert_tenant, use_keyring
from relance.cli import cli
from tests.conftest import NOW, TEST_SECRET_KEY

CLEAR = {
    "consumer_key": "ck_live_0123456789abcdef0123",
    "consumer_secret": "cs_live_fedcba9876543210fedc",
    "webhook_secret": "whsec-0123456789-clear",
    "smtp_password": "smtp-pass-0123456789",
    "auth_token": "twilio-token-0123456789abcdef",
}


def _raw_tenant(name: str = "shop") -> dict:
    return {
        "name": name,
        "platform": "woocommerce",
        "url": f"https://{name}.example.com",
        "credentials": {"consumer_key": CLEAR["consumer_key"], "consumer_secret": CLEAR["consumer_secret"]},
        "webhook_secret": CLEAR["webhook_secret"],
        "messages": {
            "transport": {
                "type": "smtp",
                "host": "smtp.example.com",
                "username": "relance",
                "password": CLEAR["smtp_password"],
            },
            "sms": {
                "provider": "twilio",
                "account_sid": "AC0123456789abcdef0123456789abcdef",
                "auth_token": CLEAR["auth_token"],
                "from": "+33612345678",
            },
        },
    }


def _stored_text(engine: sa.Engine) -> str:
    with engine.connect() as conn:
        return json.dumps([row.config for row in conn.execute(sa.select(tenants.c.config))])


def test_keyring_seals_opens_and_refuses_another_key():
    ring = Keyring("first-key-0123456789")
    sealed = ring.seal("cs_live_secret")
    assert is_sealed(sealed) and "cs_live_secret" not in sealed
    assert ring.seal("cs_live_secret") != sealed  # a fresh IV each time
    assert ring.unseal(sealed) == "cs_live_secret"
    with pytest.raises(SecretKeyError) as refused:
        Keyring("other-key-0123456789").unseal(sealed)
    message = str(refused.value)
    assert "\n" not in message and "RELANCE_SECRET_KEY" in message and "RELANCE_OLD_SECRET_KEYS" in message
    # Rotation: a ring with the new key first and the old one after opens both, seals with the new one.
    rotated = Keyring("second-key-0123456789", ["first-key-0123456789"])
    assert rotated.unseal(sealed) == "cs_live_secret"
    assert not rotated.is_current(sealed) and rotated.is_current(rotated.seal("x"))
    assert Keyring("second-key-0123456789").unseal(rotated.seal("x")) == "x"


def test_seal_config_touches_only_secrets():
    ring = Keyring(TEST_SECRET_KEY)
    data = validate_tenant(_raw_tenant()).to_dict()
    sealed = seal_config(data, ring)
    assert sealed["credentials"]["consumer_secret"].startswith(PREFIX)
    assert sealed["messages"]["transport"]["password"].startswith(PREFIX)
    assert sealed["messages"]["sms"]["auth_token"].startswith(PREFIX)
    assert sealed["messages"]["transport"]["username"] == "relance" and sealed["url"] == data["url"]
    assert unseal_config(sealed, ring) == data
    assert seal_config(sealed, ring) != sealed and unseal_config(seal_config(sealed, ring), ring) == data


def test_the_tenants_row_holds_no_clear_secret(engine):
    with engine.begin() as conn:
        upsert_tenant(conn, validate_tenant(_raw_tenant()), NOW)
    stored = _stored_text(engine)
    for value in CLEAR.values():
        assert value not in stored
    assert stored.count(PREFIX) == len(CLEAR)
    with engine.connect() as conn:
        config = get_tenant(conn, "shop").config
        assert [t.name for t in list_tenants(conn)] == ["shop"] and list(tenant_names(conn).values()) == ["shop"]
    assert config.credentials["consumer_secret"] == CLEAR["consumer_secret"]
    assert config.webhook_secret == CLEAR["webhook_secret"]
    assert config.messages["transport"]["password"] == CLEAR["smtp_password"]


def test_an_engine_without_the_key_cannot_read_secrets(engine, db_url):
    with engine.begin() as conn:
        upsert_tenant(conn, validate_tenant(_raw_tenant()), NOW)
    bare = make_engine(db_url)
    wrong = make_engine(db_url)
    use_keyring(wrong, Keyring("not-the-test-key-0123"))
    try:
        for other, fragment in ((bare, "no secret key was given"), (wrong, "RELANCE_OLD_SECRET_KEYS")):
            with other.connect() as conn, pytest.raises(SecretKeyError, match=fragment):
                get_tenant(conn, "shop")
    finally:
        bare.dispose()
        wrong.dispose()


def test_migration_0010_encrypts_the_rows_already_there(tmp_path: Path):
    from alembic import command

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        command.upgrade(alembic_config(engine), "0008_lifecycle")
        clear = validate_tenant(_raw_tenant("before")).to_dict()
        with engine.begin() as conn:
            conn.execute(
                tenants.insert().values(
                    name="before",
                    platform="woocommerce",
                    url=clear["url"],
                    config=clear,
                    created_at=NOW,
                    updated_at=NOW,
                )
            )
        assert CLEAR["consumer_secret"] in _stored_text(engine)
        use_keyring(engine, Keyring(TEST_SECRET_KEY))
        migrate(engine)
        stored = _stored_text(engine)
        assert all(value not in stored for value in CLEAR.values())
        with engine.connect() as conn:
            assert get_tenant(conn, "before").config.credentials["consumer_secret"] == CLEAR["consumer_secret"]
        command.downgrade(alembic_config(engine), "0008_lifecycle")
        assert CLEAR["consumer_secret"] in _stored_text(engine)
    finally:
        engine.dispose()


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args, env=None):
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_rotating_the_secret_key(run, engine, tmp_path: Path):
    with engine.begin() as conn:
        upsert_tenant(conn, validate_tenant(_raw_tenant()), NOW)
    new_key = "the-new-secret-key-0123456789"
    # With the new key alone, the old secrets do not open: one line, exit 2.
    refused = run("tenant", "show", "shop", env={"RELANCE_SECRET_KEY": new_key})
    assert refused.exit_code == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relance: error: ") and "RELANCE_OLD_SECRET_KEYS" in lines[0]
    both = {"RELANCE_SECRET_KEY": new_key, "RELANCE_OLD_SECRET_KEYS": f" short-but-not-{'x' * 3}, {TEST_SECRET_KEY}"}
    too_short = run("secrets", "status", env={**both, "RELANCE_OLD_SECRET_KEYS": "abc"})
    assert too_short.exit_code == 2 and "RELANCE_OLD_SECRET_KEYS: key 1 is too short" in too_short.stderr
    status = run("secrets", "status", env=both)
    assert status.exit_code == 0, status.output
    assert "current key: 0  former key: 5  in clear: 0" in status.stdout and "secrets rotate" in status.stdout
    rotated = run("secrets", "rotate", env=both)
    assert rotated.exit_code == 0, rotated.output
    assert "re-encrypted 5 secrets of 1 tenants" in rotated.stdout and "can be removed" in rotated.stdout
    assert "current key: 5  former key: 0" in run("secrets", "status", env={"RELANCE_SECRET_KEY": new_key}).stdout
    shown = run("tenant", "show", "shop", "--format", "json", env={"RELANCE_SECRET_KEY": new_key})
    assert shown.exit_code == 0 and "********" in shown.stdout and CLEAR["consumer_secret"] not in shown.stdout
    assert all(value not in _stored_text(engine) for value in CLEAR.values())
    again = run("secrets", "rotate", env={"RELANCE_SECRET_KEY": new_key})
    assert "re-encrypted 0 secrets of 0 tenants" in again.stdout


def test_rotate_encrypts_secrets_written_in_clear(run, engine, db_url):
    bare = make_engine(db_url)  # no keyring: writes in clear (a database from before 0010, Alembic by hand)
    try:
        with bare.begin() as conn:
            upsert_tenant(conn, validate_tenant(_raw_tenant()), NOW)
    finally:
        bare.dispose()
    assert CLEAR["consumer_secret"] in _stored_text(engine)
    assert "in clear: 5" in run("secrets", "status").stdout
    assert "(5 were in clear" in run("secrets", "rotate").stdout
    assert all(value not in _stored_text(engine) for value in CLEAR.values())
