"""Event API v1 batches from shop modules: the check made before one is stored, and its events.

The body is one event object or a JSON array of up to ``MAX_BATCH`` events.
``check_events`` validates every event before anything is stored, so that one
bad event refuses the whole request naming it (``events[3].contact.email:
not an email address``); ``events_of`` turns a stored batch into events.
"""

from __future__ import annotations

import json
from typing import Any

from core.errors import EventError
from core.events import parse_event
from core.model import Event
from inbound.errors import BadPayloadError

SOURCE = "events"
MAX_BATCH = 100


def check_events(payload: Any) -> int:
    """Validate an Event API body (an event or a list of them); return how many; raise BadPayloadError."""
    batch = payload if isinstance(payload, list) else [payload]
    if isinstance(payload, list) and not 1 <= len(payload) <= MAX_BATCH:
        raise BadPayloadError(f"a batch must hold 1 to {MAX_BATCH} events (got {len(payload)}); split it")
    for index, raw in enumerate(batch):
        try:
            parse_event(raw, default_source="api")
        except EventError as exc:
            where = f"events[{index}]" if isinstance(payload, list) else "event"
            raise BadPayloadError(
                f"{where}.{exc}" if not str(exc).startswith("event:") else f"{where}: {exc}"
            ) from None
    return len(batch)


def events_of(body: bytes) -> tuple[list[Event], list[str]]:
    """The events of a stored Event API delivery (one object or a list)."""
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise BadPayloadError(f"the body is not JSON ({exc})") from exc
    batch = payload if isinstance(payload, list) else [payload]
    return [parse_event(raw, default_source="api") for raw in batch], []
