"""RQ job functions. Thin: load what they need, call core, save, schedule what comes next.

Job arguments are ids and plain data, never live objects. A job that fails
logs and re-raises so that RQ retries it. A job reaches its runtime (database,
clock, Redis, settings) with ``jobs.context.current()``: the worker that runs
it hands it over (``relance.worker.RelanceWorker``).
"""
