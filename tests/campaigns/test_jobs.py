"""The campaign job on a real Redis with an RQ worker: the messages reach the send job, each once."""

from __future__ import annotations

from rq import SimpleWorker

from jobs import campaigns as campaign_jobs
from jobs import context, queues
from relance.settings import Settings
from relance.wiring import Runtime
from tests.campaigns.helpers import PROMO_AT, add_contact, at, campaign_tenant, outbox, refresh, state
from tests.flows.test_jobs import SENT_KEY, Clock


def test_run_campaigns_hands_the_messages_to_the_send_job(engine, redis, tmp_path, monkeypatch):
    settings = Settings.from_env(
        {
            "RELANCE_DATABASE_URL": engine.url.render_as_string(hide_password=False),
            "RELANCE_DATA_DIR": str(tmp_path),
            "RELANCE_SECRET_KEY": "test-secret-key-0123456789",
        }
    )
    clock = Clock(at())
    monkeypatch.setattr(context, "_installed", Runtime(settings=settings, engine=engine, clock=clock, _redis=redis))
    monkeypatch.setattr("jobs.flows.SEND_JOB", "tests.flows.test_jobs.record_send")
    monkeypatch.setattr("core.campaigns.sending.BATCH_SIZE", 2)
    tenant = campaign_tenant(engine, {"promo": PROMO_AT})
    for n in range(5):
        add_contact(engine, tenant, f"c{n}@example.fr")
    refresh(engine, tenant, at(minutes=-5))

    done = campaign_jobs.run_campaigns()
    assert done["messages"] == 5 and done["scheduled"] == 5
    SimpleWorker([queues.queue(redis)], connection=redis).work(burst=True)
    handed = sorted(int(i) for i in redis.lrange(SENT_KEY, 0, -1))
    assert handed == sorted(m.id for m in outbox(engine, tenant, "campaign:promo"))
    assert state(engine, tenant, "promo") == "done"
    clock.now = at(hours=1)
    assert campaign_jobs.run_campaigns() == {"messages": 0}  # nothing twice
