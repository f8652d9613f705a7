"""A gunicorn config file for ``bench/webhooks_gunicorn.py --profile``: where each worker's CPU time goes.

py-spy needs ptrace, which containers often refuse; this samples from inside
instead. Each worker, once its app is loaded (``post_worker_init``), takes
a stack sample every ``SAMPLE_SECONDS`` of its own CPU time (``ITIMER_PROF``:
waiting on the database, Redis or the next connection is not sampled) and
writes the counted stacks to ``$RELANCE_BENCH_PROFILE_DIR/<pid>.json`` when
it exits. The kernel fires the timer at most once per clock tick and Python
runs the handler between bytecodes, so the counts are shares of the time
(time in system calls under-counted), not an absolute measure: the bench
reads each worker's CPU time from ``/proc`` for that.
Use it as ``gunicorn -c bench/webhooks_sampler.py ...``; nothing in it runs
in production.
"""

from __future__ import annotations

import json
import os
import signal
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

SAMPLE_SECONDS = 0.0005
_stacks: Counter[str] = Counter()


def _frame_name(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    for marker in ("site-packages/", "/lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    else:
        path = os.path.relpath(path)
    return f"{code.co_name} ({path}:{code.co_firstlineno})"


def _sample(_signum: int, frame: FrameType | None) -> None:
    names = []
    while frame is not None:
        names.append(_frame_name(frame))
        frame = frame.f_back
    _stacks[";".join(reversed(names))] += 1


def post_worker_init(worker: Any) -> None:
    signal.signal(signal.SIGPROF, _sample)
    signal.setitimer(signal.ITIMER_PROF, SAMPLE_SECONDS, SAMPLE_SECONDS)


def worker_exit(server: Any, worker: Any) -> None:
    signal.setitimer(signal.ITIMER_PROF, 0, 0)
    folder = Path(os.environ["RELANCE_BENCH_PROFILE_DIR"])
    (folder / f"{os.getpid()}.json").write_text(json.dumps(dict(_stacks)))
