"""Reading what ``relance sync`` prints, for the live tests."""

from __future__ import annotations

COLUMNS = ("fetched", "created", "updated", "unchanged", "skipped")


def summary(stdout: str) -> dict[str, dict[str, int]]:
    """``relance sync``'s table: resource -> counts (``stopped`` 1 when the row says STOPPED)."""
    table: dict[str, dict[str, int]] = {}
    for line in stdout.splitlines():
        words = line.split()
        if len(words) >= 6 and words[0] != "resource" and all(w.isdigit() for w in words[1:6]):
            row = dict(zip(COLUMNS, (int(w) for w in words[1:6]), strict=True))
            row["stopped"] = int(words[-1] == "STOPPED")
            table[words[0]] = row
    return table


def adds_up(table: dict[str, dict[str, int]]) -> bool:
    """fetched = created + updated + unchanged + skipped on every row (issue 11)."""
    return all(r["fetched"] == r["created"] + r["updated"] + r["unchanged"] + r["skipped"] for r in table.values())
