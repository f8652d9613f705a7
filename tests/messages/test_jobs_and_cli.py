"""The send jobs on a real Redis, and ``relance preview``."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner

from jobs import context, queues
from jobs import send as send_jobs
from relance.cli import cli
from relance.worker import RelanceWorker
from tests.conftest import NOW
from tests.messages.helpers import Clock, add_contact, message_row, outbox, runtime, shop


@pytest.fixture
def worker_runtime(engine, tmp_path, redis):
    rt = runtime(engine, tmp_path, Clock(), redis)
    with context.running(rt):
        yield rt


def work(rt):
    RelanceWorker([queues.queue(rt.redis)], connection=rt.redis, runtime=rt).work(burst=True)


def test_the_sweep_sends_messages_no_job_took(engine, worker_runtime, redis, tmp_path):
    tenant = shop(engine)
    contact = add_contact(engine, tenant)
    due = [outbox(engine, tenant, contact, flow="birthday"), outbox(engine, tenant, contact, flow="cross_sell")]
    later = outbox(engine, tenant, contact, flow="replenishment", due_at=NOW + timedelta(hours=2))
    stuck = outbox(engine, tenant, contact, flow="abandoned_cart", status="sending")
    worker_runtime.clock.now = NOW + timedelta(minutes=20)

    result = send_jobs.run_sweep()

    assert result == {"due": 2, "jobs": 1, "interrupted": 1}
    work(worker_runtime)
    assert [message_row(engine, i).status for i in due] == ["sent", "sent"]
    assert message_row(engine, later).status == "scheduled"
    assert message_row(engine, stuck).status == "failed"
    assert len(list((tmp_path / "outbox" / "shop").glob("*.eml"))) == 2
    # a second sweep finds nothing, and a duplicate job sends nothing twice
    assert send_jobs.run_sweep()["due"] == 0
    assert send_jobs.run_send(due) == {"sent": 0, "suppressed": 0, "failed": 0, "bounced": 0, "retry": 0}


def test_run_send_reschedules_a_temporary_failure_on_redis(engine, worker_runtime, redis):
    from tests.messages.helpers import free_port

    tenant = shop(engine, {"transport": {"type": "smtp", "host": "127.0.0.1", "port": free_port(), "security": "none"}})
    message_id = outbox(engine, tenant, add_contact(engine, tenant), flow="birthday")
    assert send_jobs.run_send([message_id])["retry"] == 1
    from rq.registry import ScheduledJobRegistry

    scheduled = ScheduledJobRegistry(queue=queues.queue(redis))
    assert len(scheduled.get_job_ids()) == 1
    assert message_row(engine, message_id).due_at == NOW + timedelta(seconds=5)


def test_preview_renders_html_text_and_eml(engine, cli_env):
    tenant = shop(engine)
    add_contact(engine, tenant)
    runner = CliRunner()
    html = runner.invoke(cli, ["preview", "--tenant", "shop", "--flow", "abandoned_cart"], catch_exceptions=False)
    assert html.exit_code == 0, html.output
    assert html.stdout.lower().startswith("<!doctype html>") and "Vous avez oublié quelque chose" in html.stdout
    text = runner.invoke(
        cli,
        [
            "preview",
            "--tenant",
            "shop",
            "--flow",
            "abandoned_cart",
            "--step",
            "3",
            "--format",
            "text",
            "--contact",
            "marie@example.com",
        ],
    )
    assert text.exit_code == 0 and "Bonjour Marie" in text.stdout and "MERCI10" in text.stdout
    eml = runner.invoke(cli, ["preview", "--tenant", "shop", "--flow", "birthday", "--format", "eml", "--lang", "en"])
    assert eml.exit_code == 0 and "List-Unsubscribe-Post: List-Unsubscribe=One-Click" in eml.stdout
    assert "Subject: Happy birthday, Marie!" in eml.stdout
    sms = runner.invoke(cli, ["preview", "--tenant", "shop", "--flow", "birthday", "--channel", "sms"])
    assert sms.exit_code == 0 and "STOP" in sms.stdout and "segment" in sms.stderr


def test_preview_errors_are_one_clear_line(engine, cli_env):
    shop(engine)
    runner = CliRunner()
    unknown = runner.invoke(cli, ["preview", "--tenant", "shop", "--flow", "no_such_flow"])
    assert unknown.exit_code == 2 and "add it under messages.templates.email" in unknown.stderr
    assert "Traceback" not in unknown.output
    nobody = runner.invoke(cli, ["preview", "--tenant", "shop", "--flow", "birthday", "--contact", "ghost@example.com"])
    assert nobody.exit_code == 2 and "no contact with the email" in nobody.stderr
