"""The PrestaShop cursor: keyset paging on (date_upd, id) over an interval filter with offsets."""

from __future__ import annotations

import pytest

from connectors.errors import ConnectorError
from connectors.prestashop.paging import SLACK, START, Position


def rec(when: str, record_id: int) -> dict[str, object]:
    return {"id": record_id, "date_upd": f"2026-11-19 {when}"}


def test_cursor_round_trip_and_start() -> None:
    position = Position("2026-11-19 15:30:00", 42, 3)
    assert Position.decode(position.encode(), "shop", "orders") == position
    assert Position.decode(None, "shop", "orders") == Position(START, 0, 0)


@pytest.mark.parametrize("cursor", ["not json", '{"id": 3}', '{"date_upd": "2026-11-19T15:30:00Z"}', "[]"])
def test_a_foreign_cursor_says_to_run_a_full_sync(cursor: str) -> None:
    with pytest.raises(ConnectorError, match="--resource orders --full"):
        Position.decode(cursor, "shop", "orders")


def test_is_stored_compares_time_then_id() -> None:
    position = Position("2026-11-19 15:30:00", 5, 2)
    assert position.is_stored(rec("15:30:00", 5))
    assert position.is_stored(rec("15:30:00", 4))
    assert not position.is_stored(rec("15:30:00", 6))
    assert not position.is_stored(rec("15:30:01", 1))
    assert not position.is_stored({"id": 9})  # no date: never silently dropped


def test_advance_to_a_later_second_counts_the_records_of_that_second() -> None:
    position = Position("2026-11-19 10:00:00", 1, 1)
    after = position.advance([rec("12:00:00", 3), rec("15:30:00", 4), rec("15:30:00", 7)], offset=0)
    assert after == Position("2026-11-19 15:30:00", 7, 2)
    assert after.offset(100) == 0  # two seen, re-read a little early: from the start of that second


def test_a_page_all_within_one_second_moves_the_offset_forward() -> None:
    position = Position("2026-11-19 15:30:00", 7, 2)
    page = [rec("15:30:00", i) for i in range(8, 108)]
    after = position.advance(page, offset=position.offset(100))
    assert after == Position("2026-11-19 15:30:00", 107, 100)
    assert after.offset(100) == 100 - SLACK  # keeps moving: never the same page twice
    again = after.advance([rec("15:30:00", i) for i in range(98, 198)], offset=after.offset(100))
    assert again.seen > after.seen and again.last_id == 197


def test_slack_never_stalls_tiny_pages() -> None:
    position = Position("2026-11-19 15:30:00", 1, 1)
    assert position.offset(1) == 1  # page size 1: no slack
    assert Position("2026-11-19 15:30:00", 2, 2).offset(2) == 1


def test_a_page_of_only_stored_records_keeps_the_position_but_moves_the_offset() -> None:
    position = Position("2026-11-19 15:30:00", 9, 5)
    after = position.advance([rec("15:30:00", 8), rec("15:30:00", 9)], offset=3)
    assert (after.date_upd, after.last_id) == (position.date_upd, 9)
    assert after.seen == 5
