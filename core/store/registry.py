"""Which modules define tables: importing them registers their tables on ``metadata``.

Each area that adds tables lists its schema module here (and adds an Alembic
migration for them in ``core/migrations/versions``).
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

SCHEMA_MODULES = (
    "core.store.schema",
    "core.store.sync_state",
    "core.store.deliveries",
    "core.flows.store.schema",
    "core.segments.store.schema",
    "core.messages.store.schema",
    "core.coupons.store.schema",
    "core.attribution.store.schema",
    "core.console.store.schema",
    "core.campaigns.store.schema",
)


def all_metadata() -> MetaData:
    """Return the metadata with every area's tables loaded."""
    for module in SCHEMA_MODULES:
        importlib.import_module(module)
    from core.store.schema import metadata

    return metadata
