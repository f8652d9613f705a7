"""Holdout groups: contacts of a flow or campaign who deliberately receive nothing, to measure what it earns.

Membership is deterministic: a hash of (tenant, flow or campaign, contact)
falls under the holdout percentage or not, the same every time, on every
worker, with no state to keep. A held-out contact's messages are recorded with
status ``holdout`` (never sent), so that the report compares the conversion of
recipients and holdout (docs/reports.md).
"""

from __future__ import annotations

import hashlib

#: The most a flow or campaign may hold out: beyond it, the flow mostly measures instead of working.
MAX_PERCENT = 50.0
HOLDOUT = "holdout"


def bucket(tenant_id: int, key: str, contact_id: int) -> float:
    """A number in [0, 100) fixed by (tenant, key, contact), uniformly spread."""
    digest = hashlib.sha256(f"{tenant_id}:{key}:{contact_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def held_out(tenant_id: int, key: str, contact_id: int, percent: float) -> bool:
    """True when the contact is in the holdout of ``key`` (a flow name, or ``campaign:NAME``) at ``percent`` %."""
    return percent > 0 and bucket(tenant_id, key, contact_id) < percent
