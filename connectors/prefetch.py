"""Produce the next pages of a sync in a thread (``Prefetch``) or a forked child process
(``ForkedPrefetch``, the default on Linux: ``connectors.sync.PRODUCER``) while the current one is stored.

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
``SWITCH_INTERVAL`` is used instead while a prefetch runs, and for good in a forked producer (where
the connector's own request thread asks for the next page while a page is mapped).
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import pickle
import queue
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Generic, TypeVar

from connectors.errors import ConnectorError

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Where a sync's pages can be produced: in a forked child process (``ForkedPrefetch``) or a thread.
PRODUCERS = ("process", "thread")
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


class _Handover(Generic[T]):
    """What a producer hands over, in order: items, then the end or what it raised (``_receive``)."""

    _finished = False

    def _receive(self) -> tuple[str, object]:
        raise NotImplementedError

    def _items(self) -> Iterator[T]:
        while True:
            kind, value = self._receive()
            if kind == _PAGE:
                yield value  # type: ignore[misc]
                continue
            self._finished = True
            if kind == _ERROR:
                raise value  # type: ignore[misc]
            return


class Prefetch(_Handover[T]):
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

    def _receive(self) -> tuple[str, object]:
        return self._slots.get()

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


class ForkedPrefetch(_Handover[T]):
    """``Prefetch`` with the producer in a forked child process, so that the download and the mapping run
    on another core than the store (a thread shares one interpreter, one core at a time, with it).

    Items, and what the producer raises, are pickled through a one-way pipe: the child is at most the
    item it is sending ahead (it waits for the consumer to read it), so memory stays bounded. The child
    touches nothing of the parent's but the connector it inherited: it first drops the HTTP connections it
    inherited (``connectors.http.forget_connections``: their sockets are the parent's too) and leaves
    Ctrl-C (SIGINT) to the parent, which stops it; it ends with ``os._exit`` (multiprocessing's), so that
    nothing of the parent's (database connections, Redis, atexit) is closed or flushed twice. A child that dies before its last
    item (killed, out of memory) ends the pipe: the consumer raises ``ProducerDied`` after the items it
    had received, and what was stored before stays stored.
    """

    def __init__(self, produce: Callable[[], Iterable[T]], name: str = "relance-prefetch"):
        context = multiprocessing.get_context("fork")
        self._produce = produce
        self._reader, self._writer = context.Pipe(duplex=False)
        self._process = context.Process(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Iterator[T]:
        self._process.start()
        self._writer.close()  # the child's copy is the only writer left: its end is the pipe's end
        return self._items()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if not self._finished and self._process.is_alive():
            self._process.terminate()  # the consumer stopped early: nothing more is wanted from the shop
        self._process.join(STOP_WAIT)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(STOP_WAIT)
        self._reader.close()

    def _receive(self) -> tuple[str, object]:
        try:
            return self._reader.recv()
        except EOFError:
            self._finished = True
            self._process.join(STOP_WAIT)
            code = self._process.exitcode
            how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
            raise ProducerDied(
                f"the process reading the shop for this sync ended before its last page ({how}); the pages "
                "stored before are kept and the next sync resumes after them; check the machine's memory "
                "and logs, or set RELANCE_SYNC_PRODUCER=thread to read the shop in a thread"
            ) from None

    def _run(self) -> None:
        """In the child: produce, send each item, then the end or what was raised."""
        from connectors.http import forget_connections

        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops this child
        signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not a worker's warm-shutdown handler
        # The connector's request thread (the next page, asked for while this one is mapped) gets the GIL
        # to send it within 0.5 ms rather than 5: this process is the child's alone.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._reader.close()
        forget_connections()
        try:
            for item in self._produce():
                self._writer.send((_PAGE, item))
            self._writer.send((_END, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            with contextlib.suppress(OSError):  # the consumer has gone: nobody to tell
                self._writer.send((_ERROR, _picklable(exc)))
        finally:
            self._writer.close()


class ProducerDied(ConnectorError):
    """The child process producing a sync's pages ended before its last page (killed, out of memory)."""


def _picklable(exc: BaseException) -> BaseException:
    """``exc`` if it comes back from pickling as itself, else a ConnectorError that names it."""
    try:
        copy = pickle.loads(pickle.dumps(exc))  # noqa: S301 - our own object, pickled just now
    except Exception:  # noqa: BLE001 - an exception whose arguments do not pickle
        return ConnectorError(f"{type(exc).__name__}: {exc}")
    return copy if type(copy) is type(exc) and str(copy) == str(exc) else ConnectorError(f"{type(exc).__name__}: {exc}")
