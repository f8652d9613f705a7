"""Produce the next pages of a sync in a thread while the current one is stored.

A sync alternates between waiting for the shop (download, then mapping in
Python) and waiting for the database (another process). ``Prefetch`` runs the
connector's page generator in one producer thread, a few pages ahead of the
store, through a bounded queue: pages come out in order, memory stays bounded
(``depth`` pages in the queue plus the one being produced), and the connector
is only ever touched by that thread while it runs.

What the producer raises comes out of the iteration after the pages it
produced before, exactly where a plain ``for page in connector.fetch(...)``
would have raised it. When the consumer stops early (its store failed, the
lease was lost, KeyboardInterrupt), leaving the ``with`` block stops the
producer: it puts nothing more, closes the connector's generator and ends.
A producer inside an HTTP request ends when that request returns (bounded by
the client's timeout); the thread is a daemon, so it never holds the process.

psycopg and sqlite3 release the GIL while the database works and ``requests``
while it waits for the shop, so the two threads overlap. A thread that gets an
answer waits for the GIL up to ``sys.getswitchinterval()`` while the other one
maps records in Python (5 ms by default, for each of a page's ~15 statements):
``SWITCH_INTERVAL`` is used instead while a prefetch runs.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Pages waiting in the queue at most (the producer then waits for the store).
DEPTH = 2
#: The GIL switch interval while a prefetch runs (seconds; Python's default is 0.005).
SWITCH_INTERVAL = 0.0005
#: How long leaving the block early waits for the producer to end (it may be inside an HTTP request).
STOP_WAIT = 2.0

_PAGE, _ERROR, _END = "page", "error", "end"

_switch_lock = threading.Lock()
_switch_users = 0
_switch_saved = 0.0


def _shorter_switch_interval() -> None:
    global _switch_users, _switch_saved
    with _switch_lock:
        if _switch_users == 0:
            _switch_saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_switch_saved, SWITCH_INTERVAL))
        _switch_users += 1


def _restore_switch_interval() -> None:
    global _switch_users
    with _switch_lock:
        _switch_users -= 1
        if _switch_users == 0:
            sys.setswitchinterval(_switch_saved)


class Prefetch(Generic[T]):
    """Iterate over ``produce()`` run in a producer thread, up to ``depth`` items ahead.

    Use as a context manager: ``with Prefetch(lambda: connector.fetch(...)) as pages: for page in pages``.
    Iterating raises what ``produce`` raised, after the items it yielded before.
    """

    def __init__(self, produce: Callable[[], Iterable[T]], depth: int = DEPTH, name: str = "relance-prefetch"):
        if depth < 1:
            raise ValueError(f"prefetch depth must be at least 1, not {depth}")
        self._produce = produce
        self._slots: queue.Queue[tuple[str, object]] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._finished = False

    def __enter__(self) -> Iterator[T]:
        _shorter_switch_interval()
        try:
            self._thread.start()
        except BaseException:
            _restore_switch_interval()
            raise
        return self._items()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        try:
            self._stop.set()
            self._drain()  # unblocks a producer waiting for room in the queue
            self._thread.join(None if self._finished else STOP_WAIT)
            if self._thread.is_alive():
                log.warning("a sync's page producer is still waiting for the shop; it stops when the shop answers")
        finally:
            _restore_switch_interval()

    def _items(self) -> Iterator[T]:
        while True:
            kind, value = self._slots.get()
            if kind == _PAGE:
                yield value  # type: ignore[misc]
                continue
            self._finished = True
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            return

    def _drain(self) -> None:
        while True:
            try:
                self._slots.get_nowait()
            except queue.Empty:
                return

    def _put(self, kind: str, value: object) -> bool:
        """Queue one item; False when the consumer has stopped (nothing more to produce)."""
        if self._stop.is_set():
            return False
        self._slots.put((kind, value))
        return not self._stop.is_set()

    def _run(self) -> None:
        items: Iterator[T] | None = None
        try:
            items = iter(self._produce())
            for item in items:
                if not self._put(_PAGE, item):
                    return
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(_ERROR, exc)
            return
        finally:
            close = getattr(items, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - the consumer has stopped; nothing to hand it to
                    log.exception("closing a sync's page producer failed")
        self._put(_END, None)
