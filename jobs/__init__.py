"""RQ job functions. Thin: load what they need, call core, save, schedule what comes next.

Job arguments are ids and plain data, never live objects. A job that fails
logs and re-raises so that RQ retries it.
"""
