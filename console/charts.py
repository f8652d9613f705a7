"""Charts drawn on the server as SVG: no JavaScript, readable on a phone, printable.

Each function returns SVG markup (``markupsafe.Markup``); labels are escaped.
The SVG scales to its container (``viewBox``, width 100%); colours come from
the console's CSS (classes ``series-N``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 600, 200, 48, 22, 10


def _number(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 1000:
        return f"{value / 1000:.1f}k"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _frame(title: str, body: list[str], top: float, days: Sequence[date]) -> Markup:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}" '
        'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    for fraction in (0, 0.5, 1):
        y = PAD_TOP + plot_h * (1 - fraction)
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH}" y1="{y:.1f}" y2="{y:.1f}"/>')
        parts.append(
            f'<text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{_number(top * fraction)}</text>'
        )
    if days:
        for index in (0, len(days) // 2, len(days) - 1):
            x = PAD_LEFT + (WIDTH - PAD_LEFT) * (index + 0.5) / len(days)
            label = days[index].strftime("%d/%m")
            anchor = "start" if index == 0 else "end" if index == len(days) - 1 else "middle"
            parts.append(f'<text class="axis" x="{x:.1f}" y="{HEIGHT - 6}" text-anchor="{anchor}">{label}</text>')
    parts.extend(body)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every label above went through escape()


def bars(title: str, points: Sequence[tuple[date, float | int | Decimal]]) -> Markup:
    """A bar per day."""
    values = [float(v) for _, v in points]
    top = max(values, default=0) or 1.0
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    step = (WIDTH - PAD_LEFT) / max(len(points), 1)
    body = []
    for index, ((day, _), value) in enumerate(zip(points, values, strict=True)):
        h = plot_h * value / top
        x = PAD_LEFT + index * step + step * 0.15
        body.append(
            f'<rect class="bar series-0" x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}"><title>{day.isoformat()}: {_number(value)}</title></rect>'
        )
    return _frame(title, body, top, [day for day, _ in points])


def lines(title: str, days: Sequence[date], series: dict[str, Sequence[float | int | Decimal]]) -> Markup:
    """One line per named series over ``days``, with a legend."""
    top = max((float(v) for values in series.values() for v in values), default=0) or 1.0
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    count = max(len(days), 1)
    body = []
    for number, (name, values) in enumerate(series.items()):
        points = " ".join(
            f"{PAD_LEFT + (WIDTH - PAD_LEFT) * (i + 0.5) / count:.1f},{PAD_TOP + plot_h * (1 - float(v) / top):.1f}"
            for i, v in enumerate(values)
        )
        body.append(
            f'<polyline class="line series-{number % 6}" points="{points}"><title>{escape(name)}</title></polyline>'
        )
        body.append(
            f'<text class="legend series-{number % 6}" x="{PAD_LEFT + 8}" y="{PAD_TOP + 14 + 14 * number}">{escape(name)}</text>'
        )
    return _frame(title, body, top, days)
