"""Fixtures of the segment tests: the hand-built shop loaded through the real pipeline."""

from __future__ import annotations

import pytest

from core.pipeline import ingest
from tests.conftest import NOW, make_tenant
from tests.segments.oracle import RULES
from tests.segments.shop import build_people, shop_events


@pytest.fixture
def people():
    return build_people(seed=1, count=40)


@pytest.fixture
def shop(engine, people):
    """The tenant with the hand-built shop ingested through ``core.pipeline.ingest``."""
    tenant = make_tenant(engine, "segshop", segments={"rules": RULES})
    with engine.begin() as conn:
        for event in shop_events(people, seed=1):
            ingest(conn, tenant, event, NOW)
    return tenant
