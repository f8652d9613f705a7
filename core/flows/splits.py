"""A/B splits: which variant a run follows, what it changes in a send, and when a test has a winner."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from core.flows.model import Send, Split, Variant
from core.holdouts import bucket
from core.reports.stats import newcombe


def pick_variant(split: Split, tenant_id: int, flow: str, contact_id: int) -> Variant:
    """The contact's variant: a hash of (tenant, flow, contact) placed on the variants' weights.

    Deterministic (the same contact gets the same variant on every worker) and
    independent of the flow's holdout, which hashes another key.
    """
    point = bucket(tenant_id, f"{flow}:split", contact_id) / 100 * sum(v.weight for v in split.variants)
    for variant in split.variants:
        point -= variant.weight
        if point < 0:
            return variant
    return split.variants[-1]


def variant_send(step: Send, variant: Variant) -> Send:
    """The send as the variant changes it (template, ``{step}`` replaced by the send's number; channel).

    The subject goes in the message's context instead.
    """
    changes: dict[str, object] = {}
    if variant.template:
        changes["template"] = variant.template.replace("{step}", str(step.number))
    if variant.channel is not None:
        changes["channel"] = variant.channel
    return dataclasses.replace(step, **changes) if changes else step


def winner(split: Split, results: Mapping[str, tuple[int, int, int]]) -> str | None:
    """The variant better than every other on the split's metric with 95 % confidence, or None.

    ``results``: variant -> (messages sent, messages clicked, orders credited). Every variant
    must have been sent ``min_sample`` messages first; the difference of rates must have a
    Newcombe interval entirely above 0 against each other variant.
    """
    if split.winner is None:
        return None
    index = 1 if split.winner == "clicked" else 2
    counts = {v.name: results.get(v.name, (0, 0, 0)) for v in split.variants}
    if any(found[0] < split.min_sample for found in counts.values()):
        return None
    best = max(counts, key=lambda name: (counts[name][index] / counts[name][0], name))
    n1, k1 = counts[best][0], counts[best][index]
    for name, found in counts.items():
        if name == best:
            continue
        interval = newcombe(k1, n1, found[index], found[0])
        if interval is None or interval.low <= 0:
            return None
    return best
