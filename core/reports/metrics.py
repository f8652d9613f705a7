"""The messages' series of ``/metrics`` (Prometheus text exposition), from the outbox (the database is the truth)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def render_messages(counts: Mapping[tuple[str, str, str, str], int], tenant_labels: bool) -> str:
    """``relance_messages`` by flow, channel and status (and tenant when ``tenant_labels``).

    ``counts``: (tenant, flow, channel, status) -> messages. Without tenant
    labels the tenants' counts are added up, so no tenant name leaves.
    """
    summed: Counter[tuple[str, ...]] = Counter()
    for (tenant, flow, channel, status), count in counts.items():
        summed[(tenant, flow, channel, status) if tenant_labels else (flow, channel, status)] += count
    names = ("tenant", "flow", "channel", "status") if tenant_labels else ("flow", "channel", "status")
    lines = [
        "# HELP relance_messages Messages in the outbox by flow (campaign:NAME for a campaign), channel and status.",
        "# TYPE relance_messages gauge",
    ]
    for key in sorted(summed):
        labels = ",".join(f'{name}="{_escape(value)}"' for name, value in zip(names, key, strict=True))
        lines.append(f"relance_messages{{{labels}}} {summed[key]}")
    return "\n".join(lines) + "\n"
