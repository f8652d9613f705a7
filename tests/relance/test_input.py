"""Bad input at the command line: ``relance import`` skips every bad line by number and imports the rest; a tenant
file that is not UTF-8 or an alias bomb is refused in one line; click's usage errors are one line too."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, text

from relance.cli import cli
from tests.conftest import _engines
from tests.core.test_events import ORDER


@pytest.fixture
def run(cli_env):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False, prog_name="relance")

    return invoke


def one_line_error(result, *fragments: str) -> str:
    assert result.exit_code == 2, (result.exit_code, result.output)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("relance: error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    return lines[0]


def _line(message_id: str, **changes) -> bytes:
    event = {**ORDER, "message_id": message_id, **changes}
    return json.dumps(event).encode() + b"\n"


def test_import_reports_every_bad_line_by_number_and_imports_every_good_one(run, tmp_path):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    props = ORDER["properties"]
    lines = [
        _line("good-1"),
        b'{"type": "identify", "message_id": "latin-1", "contact": {"first_name": "Ren\xe9"}}\n',  # line 2
        _line("zero-date", timestamp="0000-00-00"),
        _line("empty-date", timestamp=""),
        _line("nul", contact={"email": "a@b.co", "first_name": "A\u0000B"}),
        _line("huge-total", properties={**props, "total": "1" + "0" * 30}),
        _line("huge-quantity", properties={**props, "items": [{"product_id": "7", "quantity": 10**12}]}),
        _line("long-email", contact={"email": "a" * 400 + "@example.com"}),
        b"[" * 3000 + b"]" * 3000 + b"\n",
        b"{not json\n",
        _line("good-2", timestamp="2026-11-24T10:00:00Z", properties={**props, "order_id": "1002"}),
    ]
    file = tmp_path / "events.jsonl"
    file.write_bytes(b"".join(lines))
    result = run("import", "--tenant", "t", str(file))
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "sqlalchemy" not in result.output.lower()
    errors = [line.split(": ", 2)[1:] for line in result.stderr.splitlines() if ": line " in line]
    assert errors == [
        ["line 2", "not UTF-8 (byte 0xe9 at column 77); save the file as UTF-8"],
        ["line 3", "timestamp: is required (an ISO 8601 time such as 2026-11-23T10:15:00Z; not a zero date)"],
        ["line 4", "timestamp: is required (an ISO 8601 time such as 2026-11-23T10:15:00Z; not a zero date)"],
        ["line 5", "contact.first_name: contains a NUL character (at position 2); remove it"],
        ["line 6", "properties.total: amount out of range (at most 11 digits before the decimal point)"],
        ["line 7", "properties.items[0].quantity: is out of range (at most 2147483647)"],
        ["line 8", "contact.email: is longer than 320 characters"],
        ["line 9", "invalid JSON (nested too deeply)"],
        ["line 10", "invalid JSON (Expecting property name enclosed in double quotes at column 2)"],
    ]
    assert "imported 2 events" in result.stderr and "9 bad lines skipped" in result.stderr
    orders = [json.loads(line) for line in run("export", "orders", "--tenant", "t").stdout.splitlines()]
    assert sorted(order["external_id"] for order in orders) == ["1001", "1002"]


def _refuse_message_id(engine: Engine, message_id: str) -> None:
    """Make the database itself refuse one event (a trigger): what the parser cannot foresee, say a bug."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(
                text(
                    "CREATE TRIGGER refuse_one BEFORE INSERT ON events "
                    f"WHEN NEW.message_id = '{message_id}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE FUNCTION refuse_one() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.message_id = '{message_id}' THEN RAISE EXCEPTION 'refused by the test'; END IF; "
                    "RETURN NEW; END $$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text("CREATE TRIGGER refuse_one BEFORE INSERT ON events FOR EACH ROW EXECUTE FUNCTION refuse_one()")
            )


def _drop_refusal(engine: Engine) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_one"))
        else:
            conn.execute(text("DROP TRIGGER IF EXISTS refuse_one ON events"))
            conn.execute(text("DROP FUNCTION IF EXISTS refuse_one()"))


def test_a_line_the_database_refuses_is_reported_by_number_without_a_traceback(run, cli_env, tmp_path):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    engine = _engines[cli_env["RELANCE_DATABASE_URL"]]
    props = ORDER["properties"]
    file = tmp_path / "events.jsonl"
    file.write_bytes(
        _line("first", properties={**props, "order_id": "1"})
        + _line("refused", contact={"email": "refused.person@example.fr"}, properties={**props, "order_id": "2"})
        + _line("third", properties={**props, "order_id": "3"})
    )
    _refuse_message_id(engine, "refused")
    try:
        result = run("import", "--tenant", "t", str(file))
    finally:
        _drop_refusal(engine)
    assert result.exit_code == 0, result.output
    refusals = [line for line in result.stderr.splitlines() if ": line " in line]
    assert len(refusals) == 1 and refusals[0].startswith(f"{file}: line 2: the database refused it ("), refusals
    assert "refused by the test" in refusals[0]
    assert "Traceback" not in result.output and "refused.person" not in result.output and "INSERT" not in result.output
    assert "imported 2 events into t (0 already known, 0 older than what we had, 1 bad lines skipped)" in result.stderr
    again = run("import", "--tenant", "t", str(file))
    assert "imported 1 events into t (2 already known" in again.stderr  # the refused line, now accepted


def test_a_tenant_file_that_is_not_utf8_is_one_line(run, tmp_path):
    file = tmp_path / "shop.yaml"
    data = b"name: shop\nplatform: woocommerce\nurl: https://caf\xe9.example\n"
    file.write_bytes(data)
    offset = data.index(b"\xe9")
    one_line_error(run("tenant", "apply", str(file)), f"{file}: not UTF-8 (byte 0xe9 at offset {offset})")
    assert "shop" not in run("tenant", "list").stdout


BOMB = "\n".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
        *(
            f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]"
            for prev, name in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ]
)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (BOMB, "refused: it expands to more than 100000 values"),
        ("name: shop\nx:\n" + "".join(f"- &a{i} {i}\n" for i in range(10)) + "y: [" + ", ".join(["*a1"] * 300) + "]\n",
         "refused: more than 200 aliases"),
        ("name: " + "[" * 100 + "]" * 100 + "\n", "refused: nested more than 40 levels deep"),
    ],
)  # fmt: skip
def test_yaml_bombs_are_refused_in_one_line(run, tmp_path, content, fragment):
    file = tmp_path / "bomb.yaml"
    file.write_text(content)
    one_line_error(run("tenant", "apply", str(file)), f"{file}: {fragment}")


def test_an_oversized_tenant_file_is_refused_before_it_is_read(run, tmp_path):
    file = tmp_path / "big.yaml"
    file.write_text("name: shop\n" + "#" * (3 * 1024 * 1024) + "\n")
    one_line_error(run("tenant", "apply", str(file)), "more than 2048 KB; split it into several files")


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (
            ["tenant", "add", "x", "--platform", "shopify", "--url", "https://x.example"],
            ["Invalid value for '--platform': 'shopify' is not one of", "(see 'relance tenant add --help')"],
        ),
        (
            ["export", "contacts", "--tenant", "x", "--format", "xml"],
            ["Invalid value for '--format': 'xml' is not one of 'jsonl', 'csv'", "(see 'relance export --help')"],
        ),
        (["frobnicate"], ["No such command 'frobnicate'"]),
        (["--frobnicate"], ["No such option '--frobnicate'"]),
        (["import", "--tenant", "x"], ["Missing argument 'FILE'"]),
    ],
)
def test_usage_errors_are_one_line(run, args, fragments):
    one_line_error(run(*args), *fragments)


def test_a_bare_group_still_shows_its_help(run):
    result = run("tenant")
    assert "Usage: " in result.output and "Commands:" in result.output


def test_simulate_reports_a_line_that_is_not_utf8_and_reads_the_others(run, tmp_path):
    run("tenant", "add", "t", "--platform", "woocommerce", "--url", "https://t.example")
    file = tmp_path / "events.jsonl"
    file.write_bytes(_line("good-1") + b'{"type": "identify", "message_id": "x", "contact": {"city": "N\xeemes"}}\n')
    result = run("simulate", "--tenant", "t", "--events", str(file))
    assert result.exit_code == 0, result.output
    assert f"{file}: line 2: not UTF-8 (byte 0xee at column" in result.stderr
    assert "Traceback" not in result.output
