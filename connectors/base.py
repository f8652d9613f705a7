"""The connector interface every platform implements.

A connector fetches what changed since a cursor, one page at a time, as
normalised Event API v1 events (``identify`` for customers, ``order_placed`` /
``order_updated`` for orders, ``cart_updated`` for carts, ``product_updated``
for products), each with ``source`` set to the platform and a ``message_id``
derived from the record's id and modification time, so that fetching the same
state twice is a duplicate. The sync stores each page and its cursor in one
transaction: a sync killed half-way resumes from the last stored page.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Protocol

from core.model import Event, Platform


class Resource(str, Enum):
    CUSTOMERS = "customers"
    ORDERS = "orders"
    CARTS = "carts"
    PRODUCTS = "products"


@dataclass(frozen=True)
class Skipped:
    """A record that could not be mapped: logged with its id, counted, never fatal."""

    resource: Resource
    record_id: str
    reason: str


@dataclass(frozen=True)
class Page:
    """One page of changes: the events to store and the cursor to save with them.

    ``cursor`` is opaque to the sync (each connector encodes its own position);
    None means "no progress to save" (e.g. a full re-read of open carts).
    ``fetched`` counts records read (each once); ``skipped`` the ones that
    could not be mapped. ``groups`` says how many consecutive ``events`` each
    mapped record gave (0 for a record with nothing to store, such as a
    variation), so that the summary counts records, not events: fetched =
    created + updated + unchanged + skipped. None: one event per record.
    """

    events: list[Event]
    cursor: str | None
    fetched: int
    skipped: list[Skipped] = field(default_factory=list)
    groups: list[int] | None = None


class Connector(Protocol):
    """What ``connectors.sync`` needs from a platform."""

    platform: Platform

    def resources(self) -> tuple[Resource, ...]:
        """The resources this platform can sync, in the order to sync them."""
        ...

    def cursor_since(self, resource: Resource, since: datetime) -> str:
        """The cursor that means "what changed after ``since``" (``relance sync --since``)."""
        ...

    def fetch(self, resource: Resource, cursor: str | None, now: datetime) -> Iterator[Page]:
        """Yield pages of what changed after ``cursor`` (everything when None), up to ``now``.

        ``now`` is frozen when the sync starts, so records changed during the
        sync are picked up by the next one. Raises ``ConnectorAuthError`` on
        401/403 and ``ConnectorError`` when the shop cannot be read.
        """
        ...
