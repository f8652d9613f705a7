"""``relance user`` and ``relance contact``: the console's accounts and a contact's export and erasure from the CLI."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from core.console.accounts import verify_password
from core.console.store.schema import audit, erasures, users
from core.store.schema import contacts
from relance.cli import cli
from relance.settings import Settings
from relance.wiring import Runtime
from relance.wsgi import web_app
from tests.conftest import _engines, make_tenant
from tests.console.conftest import login_token, seed_contact

PASSWORD = "a long enough password"  # noqa: S105 - a test password


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


@pytest.fixture
def engine_of(cli_env):
    return _engines[cli_env["RELANCE_DATABASE_URL"]]


def _one_line_error(result, *fragments):
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("relance: error: "), result.output
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]


def test_users_are_added_listed_changed_and_removed(run, engine_of, cli_env):
    make_tenant(engine_of, "alpha")
    result = run("user", "add", "Agency", "--role", "agency-admin", "--password-stdin", input=PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "created user agency (agency-admin)" in result.output
    assert (
        run("user", "add", "shop", "--role", "owner", "--tenant", "alpha", "--password-stdin", input=PASSWORD).exit_code
        == 0
    )
    listing = run("user", "list").output
    assert "agency" in listing and "shop" in listing and "alpha" in listing
    with engine_of.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.name == "agency")).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert run("user", "passwd", "agency", "--password-stdin", input="another long password\n").exit_code == 0
    with engine_of.connect() as conn:
        stored = conn.execute(select(users.c.password_hash).where(users.c.name == "agency")).scalar_one()
    assert verify_password(stored, "another long password") and not verify_password(stored, PASSWORD)
    assert run("user", "remove", "shop").exit_code == 0
    assert "shop" not in run("user", "list").output
    with engine_of.connect() as conn:
        actions = conn.execute(select(audit.c.action).order_by(audit.c.id)).scalars().all()
    assert actions == ["user_added", "user_added", "password_changed", "user_removed"]


@pytest.mark.parametrize(
    ("args", "stdin", "fragments"),
    [
        (("user", "add", "x!", "--role", "viewer", "--password-stdin"), PASSWORD, ["user name"]),
        (("user", "add", "ann", "--role", "owner", "--password-stdin"), PASSWORD, ["--tenant"]),
        (
            ("user", "add", "ann", "--role", "agency-admin", "--tenant", "alpha", "--password-stdin"),
            PASSWORD,
            ["leave --tenant out"],
        ),
        (
            ("user", "add", "ann", "--role", "owner", "--tenant", "nosuch", "--password-stdin"),
            PASSWORD,
            ["no tenant named"],
        ),
        (("user", "add", "ann", "--role", "agency-admin", "--password-stdin"), "short", ["too short"]),
        (("user", "add", "ann", "--role", "agency-admin", "--password-stdin"), "", ["no password on stdin"]),
        (("user", "add", "ann", "--role", "agency-admin"), PASSWORD, ["--password-stdin"]),  # no terminal to prompt on
        (("user", "add", "ann", "--role", "boss", "--password-stdin"), PASSWORD, ["boss"]),
        (("user", "add", "ann", "--role", "agency-admin", "--password", "x"), "", ["--password"]),
        (("user", "passwd", "nobody", "--password-stdin"), PASSWORD, ["no user named"]),
        (("user", "remove", "nobody"), "", ["no user named"]),
    ],
)
def test_bad_user_commands_fail_with_one_line_and_change_nothing(run, engine_of, args, stdin, fragments):
    make_tenant(engine_of, "alpha")
    _one_line_error(run(*args, input=stdin), *fragments)
    with engine_of.connect() as conn:
        assert conn.execute(select(func.count()).select_from(users)).scalar_one() == 0


def test_a_duplicate_user_is_refused(run):
    assert run("user", "add", "ann", "--role", "agency-admin", "--password-stdin", input=PASSWORD).exit_code == 0
    _one_line_error(
        run("user", "add", "ann", "--role", "agency-admin", "--password-stdin", input=PASSWORD), "already exists"
    )


def test_a_user_added_on_the_cli_signs_in_to_the_console(run, engine_of, cli_env, tmp_path):
    run("user", "add", "ann", "--role", "agency-admin", "--password-stdin", input=PASSWORD)
    settings = Settings.from_env(cli_env)
    app = web_app(Runtime(settings=settings, engine=engine_of), TESTING=True)
    client = app.test_client()
    response = client.post(
        "/console/login", data={"username": "ann", "password": PASSWORD, "csrf_token": login_token(client)}
    )
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    run("user", "passwd", "ann", "--password-stdin", input="a different password")
    assert client.get("/console/").status_code == 302  # the session ended with the password change


def test_contact_export_and_erase(run, engine_of):
    tenant = make_tenant(engine_of, "alpha")
    contact_id = seed_contact(engine_of, tenant, "marie@example.fr")
    result = run("contact", "export", "Marie@Example.fr", "--tenant", "alpha")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["contact"]["id"] == contact_id and len(data["tables"]["events"]) == 3
    _one_line_error(run("contact", "erase", "marie@example.fr", "--tenant", "alpha", input="n\n"), "nothing erased")
    result = run("contact", "erase", "marie@example.fr", "--tenant", "alpha", "--yes")
    assert result.exit_code == 0, result.output
    assert f"erased contact {contact_id} of alpha" in result.output and "events 3" in result.output
    with engine_of.connect() as conn:
        assert conn.execute(select(func.count()).select_from(contacts)).scalar_one() == 0
        assert conn.execute(select(erasures.c.erased_by)).scalar_one() == "cli"
    _one_line_error(run("contact", "erase", "marie@example.fr", "--tenant", "alpha", "--yes"), "no contact")
    _one_line_error(run("contact", "export", "1", "--tenant", "nosuch"), "no tenant named")
