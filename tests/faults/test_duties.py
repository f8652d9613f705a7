"""The workers' duties: periodic jobs leased once per install, never queued twice, a thread that cannot stay dead."""

from __future__ import annotations

import logging
import threading

import pytest

from jobs import queues
from jobs.duties import HEARTBEAT_KEY, PERIODIC_KEY, Duties, Outage, job_id_of, status
from jobs.periodic import Periodic
from tests.faults.conftest import wait_until

SWEEP = Periodic("jobs.inbound.run_sweep", 60)
REFRESH = Periodic("jobs.segments.run_refresh_all", 3600, queues.BULK)


def test_two_workers_enqueue_each_periodic_job_once(redis):
    first = Duties(redis, "w1", schedule=[SWEEP, REFRESH], clock=lambda: 1000.0)
    second = Duties(redis, "w2", schedule=[SWEEP, REFRESH], clock=lambda: 1000.5)
    assert first.run_once() == ["jobs.inbound.run_sweep", "jobs.segments.run_refresh_all"]
    assert second.run_once() == []
    assert queues.queue(redis).job_ids == [job_id_of("jobs.inbound.run_sweep")]
    assert queues.queue(redis, queues.BULK).job_ids == [job_id_of("jobs.segments.run_refresh_all")]
    assert float(redis.hget(PERIODIC_KEY, "jobs.inbound.run_sweep")) == 1000.0
    assert set(redis.zrange(HEARTBEAT_KEY, 0, -1)) == {b"w1", b"w2"}


def test_an_entry_still_queued_is_not_queued_again(redis):
    duties = Duties(redis, "w1", schedule=[SWEEP], clock=lambda: 1000.0)
    assert duties.run_once() == ["jobs.inbound.run_sweep"]
    redis.delete("relance:periodic:lease:jobs.inbound.run_sweep")  # the lease expired, the job still waits
    duties._due[0].next_try = 0
    assert duties.run_once() == []
    assert queues.queue(redis).count == 1


def test_a_flushed_redis_gets_the_schedule_again_within_the_recheck(redis):
    now = [1000.0]
    duties = Duties(redis, "w1", schedule=[SWEEP], clock=lambda: now[0])
    assert duties.run_once() == ["jobs.inbound.run_sweep"]
    now[0] += 5
    assert duties.run_once() == []
    redis.flushdb()  # Redis lost everything: the lease, the job
    now[0] += 10
    assert duties.run_once() == ["jobs.inbound.run_sweep"]


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_the_thread_is_started_again_when_it_died(redis, monkeypatch):
    duties = Duties(redis, "w1", schedule=[SWEEP], tick=0.05)
    died = threading.Event()

    def fatal() -> list[str]:
        died.set()
        raise SystemExit  # not an Exception: the loop cannot catch it, the thread ends

    monkeypatch.setattr(duties, "run_once", fatal)
    duties.start()
    wait_until(lambda: died.is_set() and not duties.alive(), 10, what="the thread to die")
    monkeypatch.undo()
    assert duties.ensure_running() is True
    wait_until(lambda: redis.hget(PERIODIC_KEY, "jobs.inbound.run_sweep"), 10, what="the schedule to run again")
    assert duties.ensure_running() is False
    duties.stop()
    assert not duties.alive()


def test_status_counts_live_workers_and_ages(redis):
    redis.zadd(HEARTBEAT_KEY, {"alive": 995.0, "gone": 900.0})
    redis.hset(PERIODIC_KEY, mapping={"jobs.inbound.run_sweep": 970.0, "jobs.flows.run_sweep": 990.0})
    assert status(redis, 1000.0) == {
        "workers": 1,
        "last_worker_heartbeat_age": 5.0,
        "last_periodic_age": 10.0,
        "periodic": {"jobs.flows.run_sweep": 10.0, "jobs.inbound.run_sweep": 30.0},
    }


def test_an_outage_is_logged_once_and_its_end_once(caplog):
    outage = Outage("Redis (test)", logger=logging.getLogger("test.outage"))
    with caplog.at_level(logging.WARNING, logger="test.outage"):
        waits = [outage.failed(ConnectionError("refused")) for _ in range(8)]
        outage.ok()
        outage.ok()
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == ["Redis", "Redis"]
    assert "unavailable" in caplog.records[0].getMessage()
    assert "is back after" in caplog.records[1].getMessage()
    assert waits[0] < waits[3] < waits[-1] <= 30 * 1.2  # exponential backoff, capped
