"""The demo prints the demo shop's segment counts."""

from __future__ import annotations

from core.segments.store.membership import member_counts
from relance.demo.segments import segments_section
from relance.settings import Settings
from relance.wiring import Runtime
from tests.conftest import NOW


def test_the_demo_section_prints_each_segment_count(engine, shop, tmp_path):
    lines: list[str] = []
    settings = Settings.from_env({"RELANCE_DATA_DIR": str(tmp_path), "RELANCE_SECRET_KEY": "k" * 32})
    segments_section(Runtime(settings=settings, engine=engine, clock=lambda: NOW), shop, lines.append)
    with engine.connect() as conn:
        counts = member_counts(conn, shop.id)
    segments_line = next(line for line in lines if line.strip().startswith("segments"))
    for name in ("cold_prospect", "warm_prospect", "occasional_customer", "loyal_customer", "big_buyers"):
        assert f"{name} {counts.get(name, 0)}" in segments_line
    assert any("orders every" in line for line in lines)
