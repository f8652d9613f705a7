"""``relance import`` and ``relance export``: events in, shared-model records out."""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any, TextIO

import click

from core.errors import ConfigError
from core.events import BadLine, read_events
from core.model import Event
from core.pipeline import BatchReport, ingest_batch
from core.store import export as exporter
from core.store.tenants import get_tenant
from relance.invocation import get_runtime

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


def _open_events(file: str) -> TextIO:
    if file == "-":
        return sys.stdin
    try:
        return open(Path(file), encoding="utf-8")  # noqa: SIM115 - closed by the caller
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read the events file ({exc.strerror})") from exc


def _batches(items: Iterator[Event], size: int) -> Iterator[list[Event]]:
    while batch := list(islice(items, size)):
        yield batch


@click.command("import")
@click.option("--tenant", "tenant_name", required=True, help="The tenant the events belong to.")
@click.argument("file")
@click.pass_context
def import_command(ctx: click.Context, tenant_name: str, file: str) -> None:
    """Load a JSON Lines file of Event API v1 events (FILE, or - for stdin).

    Importing the same file again changes nothing; bad lines are reported with
    their number and skipped.
    """
    runtime = get_runtime(ctx)
    with runtime.engine.connect() as conn:
        tenant = get_tenant(conn, tenant_name)
    handle = _open_events(file)
    bad: list[BadLine] = []

    def good_events() -> Iterator[Event]:
        for item in read_events(handle):
            if isinstance(item, BadLine):
                bad.append(item)
                click.echo(f"{file}: line {item.line}: {item.reason}", err=True)
            else:
                yield item

    total = BatchReport()
    try:
        for batch in _batches(good_events(), BATCH_SIZE):
            total.merge(ingest_batch(runtime.engine, tenant, batch, runtime.clock))
    finally:
        if handle is not sys.stdin:
            handle.close()
    click.echo(
        f"imported {total.stored} events into {tenant.name} "
        f"({total.duplicates} already known, {total.stale} older than what we had, {len(bad)} bad lines skipped)",
        err=True,
    )
    if bad and not total.stored and not total.duplicates:
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
