"""The report as a table (for people) or as CSV rows (for spreadsheets); JSON is the report itself."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from core.reports.report import COUNTS

CSV_COLUMNS = ("tenant", "level", "flow", "step", "campaign", "variant", "date", *COUNTS, "revenue",
               "revenue_per_recipient")  # fmt: skip
TABLE_COLUMNS = ("sent", "delivered", "opened", "clicked", "unsubscribed", "orders", "revenue", "revenue_per_recipient")
_HEAD = {"revenue_per_recipient": "rev/recipient", "unsubscribed": "unsub", "delivered": "deliv."}


def _rows(report: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    tenant = report["tenant"]
    for flow, data in report["flows"].items():
        yield {"tenant": tenant, "level": "flow", "flow": flow, **data}
        for step, found in data["steps"].items():
            yield {"tenant": tenant, "level": "step", "flow": flow, "step": step, **found}
            for variant, counts in found["variants"].items():
                yield {"tenant": tenant, "level": "variant", "flow": flow, "step": step, "variant": variant, **counts}
    for name, data in report["campaigns"].items():
        yield {"tenant": tenant, "level": "campaign", "campaign": name, **data}
        for variant, counts in data["variants"].items():
            yield {"tenant": tenant, "level": "variant", "campaign": name, "variant": variant, **counts}
    yield {"tenant": tenant, "level": "total", **report["totals"]}
    for day in report["days"]:
        yield {"tenant": tenant, "level": "day", **day}


def to_csv(reports: Sequence[Mapping[str, Any]]) -> str:
    """Every group of every report as one CSV row (level: flow, step, variant, campaign, total, day)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for report in reports:
        writer.writerows(_rows(report))
    return out.getvalue()


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    cells = [list(map(str, header))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for n, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        lines.append("  ".join([first, *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True))]))
        if n == 0:
            lines.append("  ".join("-" * width for width in widths))
    return lines


def to_table(report: Mapping[str, Any], steps: bool = True) -> str:
    """A short table: one line per flow (and its steps and variants), campaign and the total; then the holdouts."""
    rows: list[list[Any]] = []
    for flow, data in report["flows"].items():
        rows.append([flow, *(data[key] for key in TABLE_COLUMNS)])
        if steps and len(data["steps"]) > 1:
            rows += [[f"  step {s}", *(d[key] for key in TABLE_COLUMNS)] for s, d in data["steps"].items()]
        rows += [[f"  variant {v}", *(d[key] for key in TABLE_COLUMNS)] for v, d in data["variants"].items()]
    for name, data in report["campaigns"].items():
        rows.append([f"campaign {name}", *(data[key] for key in TABLE_COLUMNS)])
        rows += [[f"  variant {v}", *(d[key] for key in TABLE_COLUMNS)] for v, d in data["variants"].items()]
    rows.append(["total", *(report["totals"][key] for key in TABLE_COLUMNS)])
    header = [f"{report['tenant']} ({report['currency']})", *(_HEAD.get(key, key) for key in TABLE_COLUMNS)]
    lines = _table(header, rows)
    held = [(f, d["holdout"]) for f, d in report["flows"].items() if d.get("holdout")]
    held += [(f"campaign {c}", d["holdout"]) for c, d in report["campaigns"].items() if d.get("holdout")]
    if held:
        lines += ["", "holdout comparison (conversion within the click window after the first message):"]
        out = []
        for name, h in held:
            diff = h["conversion_difference"]
            spread = "" if diff is None else f"{diff['value']:+.2%} [{diff['low']:+.2%}, {diff['high']:+.2%}]"
            rev = h["revenue_per_contact_difference"]
            gain = "" if rev is None else f"{rev['value']:+.2f} [{rev['low']:+.2f}, {rev['high']:+.2f}]"
            out.append([
                name,
                f"{h['recipients']['conversion_rate']:.2%} of {h['recipients']['contacts']}",
                f"{h['holdout']['conversion_rate']:.2%} of {h['holdout']['contacts']}",
                spread,
                gain,
            ])  # fmt: skip
        lines += _table(["flow", "recipients", "holdout", "difference (95% CI)", "rev/contact diff (95% CI)"], out)
    other = report["totals"].get("other_currencies") or {}
    if other:
        lines.append("")
        lines += [f"also credited in {code}: {v['orders']} orders, {v['revenue']} {code}" for code, v in other.items()]
    return "\n".join(lines)
