"""Schedule for ``rq cron jobs/cron_config.py`` (production without ``relance worker``)."""

from __future__ import annotations

from rq import cron

from jobs.periodic import PERIODIC, resolve

for _entry in PERIODIC:
    cron.register(resolve(_entry.func), _entry.queue, args=_entry.args, interval=_entry.interval_seconds)
