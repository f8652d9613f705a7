"""``relance import`` and ``relance export``: events in, shared-model records out."""

from __future__ import annotations

import csv
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime
from itertools import islice
from pathlib import Path
from typing import Any, BinaryIO

import click
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from core.errors import ConfigError, DatabaseUnavailableError
from core.events import ORDER_EVENTS, BadLine, read_numbered_events
from core.model import Event
from core.operations import finish_backfill
from core.pipeline import BatchReport, ingest_page
from core.store import export as exporter
from core.store.tenants import Tenant, get_tenant
from relance.invocation import get_runtime

log = logging.getLogger(__name__)

BATCH_SIZE = 500
EXPORTS = {
    "contacts": (exporter.iter_contacts, exporter.CONTACT_FIELDS),
    "orders": (exporter.iter_orders, exporter.ORDER_FIELDS),
    "carts": (exporter.iter_carts, exporter.CART_FIELDS),
    "products": (exporter.iter_products, exporter.PRODUCT_FIELDS),
}


def register(cli: click.Group) -> None:
    cli.add_command(import_command)
    cli.add_command(export)


def _open_events(file: str) -> BinaryIO:
    """The events file (or stdin) as bytes: each line is decoded on its own, so a bad one is only a bad line."""
    if file == "-":
        return sys.stdin.buffer
    try:
        return open(Path(file), "rb")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the events file ({exc.strerror})") from exc


def _pages(items: Iterator[tuple[int, Event]], size: int) -> Iterator[list[tuple[int, Event]]]:
    while page := list(islice(items, size)):
        yield page


def _refusal(exc: Exception) -> str:
    """What the database said, on one line and without the row's values (an error's DETAIL quotes them)."""
    cause = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0] if lines else ''}"[:300]


def _unavailable(exc: Exception) -> bool:
    return isinstance(exc, OperationalError | InterfaceError) or bool(getattr(exc, "connection_invalidated", False))


class _Importer:
    """Stores pages of events, each in one transaction; a page the database refuses is stored line by line.

    Every event the parser accepts fits the store (``core.limits``), so a
    refusal means something else went wrong with that event: it is reported by
    line number, the others are kept, and the import goes on. A database that
    stops answering ends the import (exit 3): re-running it changes nothing
    already stored.
    """

    def __init__(self, engine: Engine, tenant: Tenant, clock: Callable[[], datetime], file: str) -> None:
        self.engine = engine
        self.tenant = tenant
        self.clock = clock
        self.file = file
        self.total = BatchReport()
        self.refused = 0

    def _store(self, page: list[tuple[int, Event]]) -> None:
        with self.engine.begin() as conn:
            now = self.clock()
            # an import is past data: history starts no flow run (``ingest_page``'s backfill)
            results = ingest_page(conn, self.tenant, [event for _line, event in page], now, backfill=True)
        for result in results:
            self.total.add(result)

    def add(self, page: list[tuple[int, Event]]) -> None:
        try:
            self._store(page)
            return
        except Exception as exc:  # noqa: BLE001 - the page is rolled back and stored line by line below
            self._stop_if_unavailable(exc, page[0][0])
        for line, event in page:
            try:
                self._store([(line, event)])
            except Exception as exc:  # noqa: BLE001 - reported as a bad line; the traceback only in debug logs
                self._stop_if_unavailable(exc, line)
                log.debug("line %d could not be stored", line, exc_info=True)
                self.refused += 1
                click.echo(f"{self.file}: line {line}: the database refused it ({_refusal(exc)})", err=True)

    def _stop_if_unavailable(self, exc: Exception, line: int) -> None:
        if _unavailable(exc):
            raise DatabaseUnavailableError(
                f"the database stopped answering at line {line} ({_refusal(exc)}); the lines before it are "
                "imported: run the same import again to finish (what is stored is not imported twice)"
            ) from None


@click.command("import")
@click.option("--tenant", "tenant_name", required=True, help="The tenant the events belong to.")
@click.argument("file")
@click.pass_context
def import_command(ctx: click.Context, tenant_name: str, file: str) -> None:
    """Load a JSON Lines file of Event API v1 events (FILE, or - for stdin).

    Importing the same file again changes nothing; bad lines (not UTF-8, not
    JSON, not a valid event, refused by the database) are reported with their
    number and skipped, and every good line is imported.
    """
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
    handle = _open_events(file)
    bad: list[BadLine] = []
    currencies: Counter[str] = Counter()  # orders in another currency than the tenant's

    def good_events() -> Iterator[tuple[int, Event]]:
        for line, item in read_numbered_events(handle):
            if isinstance(item, BadLine):
                bad.append(item)
                click.echo(f"{file}: line {item.line}: {item.reason}", err=True)
            else:
                currency = item.properties.get("currency") if item.name in ORDER_EVENTS else None
                if currency and currency != tenant.config.currency:
                    currencies[str(currency)] += 1
                yield line, item

    importer = _Importer(runtime.engine, tenant, runtime.clock, file)
    try:
        for page in _pages(good_events(), BATCH_SIZE):
            importer.add(page)
    finally:
        if handle is not sys.stdin.buffer:
            handle.close()
    total = importer.total
    if total.stored:
        with runtime.engine.begin() as conn:  # segments, scores and predictions of everyone, once
            finish_backfill(conn, tenant, runtime.clock())
    skipped = len(bad) + importer.refused
    click.echo(
        f"imported {total.stored} events into {tenant.name} "
        f"({total.duplicates} already known, {total.stale} older than what we had, {skipped} bad lines skipped)",
        err=True,
    )
    for currency, count in currencies.most_common():
        click.echo(
            f"warning: {count} orders are in {currency}, not in the tenant's currency {tenant.config.currency}: "
            f"they do not count in totals spent; if the shop sells in {currency}, set currency: {currency} "
            f"in the tenant file of {tenant.name} and apply it",
            err=True,
        )
    if skipped and not total.stored and not total.duplicates:
        sys.exit(1)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if value is None:
        return ""
    return value


@click.command()
@click.argument("kind", type=click.Choice(sorted(EXPORTS)))
@click.option("--tenant", "tenant_name", required=True, help="The tenant to export.")
@click.option("--format", "fmt", type=click.Choice(["jsonl", "csv"]), default="jsonl", show_default=True)
@click.pass_context
def export(ctx: click.Context, kind: str, tenant_name: str, fmt: str) -> None:
    """Write a tenant's contacts, orders, carts or products to standard output."""
    runtime = get_runtime(ctx)
    rows, fields = EXPORTS[kind]
    out = sys.stdout
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
        kwargs = {"currency": tenant.config.currency} if kind == "contacts" else {}
        records = rows(conn, tenant.id, **kwargs)
        if fmt == "jsonl":
            for record in records:
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
            return
        writer: Any = None
        for record in records:
            if writer is None:
                columns = list(fields) + [k for k in record if k not in fields]
                writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
                writer.writeheader()
            writer.writerow({k: _csv_cell(v) for k, v in record.items()})
        if writer is None:
            csv.writer(out).writerow(fields)
