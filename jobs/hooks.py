"""The webhook job: post the flows' webhook calls that are due (``core.flows.hooks``), signed, with retries."""

from __future__ import annotations

from collections.abc import Mapping

import requests

from core.flows.hooks import Answer, Sender, deliver_due
from jobs import context

TIMEOUT_SECONDS = 10


def http_sender(session: requests.Session) -> Sender:
    """The sender ``deliver_due`` is handed: a POST that never raises (a network error is status 0)."""

    def send(url: str, body: bytes, headers: Mapping[str, str]) -> Answer:
        try:
            response = session.post(url, data=body, headers=dict(headers), timeout=TIMEOUT_SECONDS,
                                    allow_redirects=False)  # fmt: skip
        except requests.RequestException as exc:
            return Answer(0, type(exc).__name__)
        return Answer(response.status_code)

    return send


def run_hooks() -> dict[str, int]:
    """Job: deliver the due webhook calls of every tenant."""
    runtime = context.current()
    with requests.Session() as session:
        return deliver_due(runtime.engine, http_sender(session), runtime.clock())
