"""Rate limits at the edge: fixed-window counters in Redis, shared by every process on every machine.

Each limit is a counter per window (``INCR`` of a key named by the limit,
its subject and the window's number, expiring with the window): one Redis
round trip for all the limits of a request. A request over any of its
limits is refused with 429 and ``Retry-After`` (the seconds left in the
window); it still counts, so a client that keeps hammering stays refused.

When Redis is unavailable the rule is: requests that only record browsing
fail open (accepted: they are stored in the database like any other, and
losing their count for a while costs nothing); requests that may send an
email to an address typed into a form (a newsletter signup, which sends a
double opt-in confirmation) fail closed with 503 and ``Retry-After``.

Client addresses are never written to Redis as they are: a counter is named
by an HMAC of the address with the install's secret key.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from redis import Redis
from redis.exceptions import RedisError

from core.tracker import Rate
from webhooks.errors import LimiterUnavailableError, RateLimitedError

log = logging.getLogger(__name__)

PREFIX = "relance:limit:"


@dataclass(frozen=True)
class Limit:
    """One counter: ``subject`` (a tenant, a hashed address) may make ``rate`` requests of kind ``name``.

    ``what`` and ``setting`` name it in the refusal (what is counted, which
    setting raises it).
    """

    name: str
    subject: str
    rate: Rate
    what: str
    setting: str


def address_key(address: str | None, secret_key: str) -> str:
    """A short keyed hash of a client address (the address itself is personal data)."""
    digest = hmac.new(secret_key.encode(), (address or "unknown").encode(), hashlib.sha256)
    return digest.hexdigest()[:20]


def check(redis: Redis | None, limits: Sequence[Limit], now: datetime, fail_closed: bool = False) -> None:
    """Count one request against every limit in ``limits``.

    Raises RateLimitedError (429) naming the first limit exceeded, with the
    seconds left in its window. With Redis unavailable (``redis`` None or
    failing) returns quietly, or raises LimiterUnavailableError (503) when
    ``fail_closed``.
    """
    if not limits:
        return
    stamp = now.timestamp()
    try:
        if redis is None:
            raise ConnectionError("Redis is marked unavailable")
        pipe = redis.pipeline(transaction=False)
        windows = []
        for limit in limits:
            window = int(stamp // limit.rate.seconds)
            key = f"{PREFIX}{limit.name}:{limit.subject}:{limit.rate.seconds}:{window}"
            pipe.incr(key)
            pipe.expire(key, limit.rate.seconds + 1)
            windows.append(window)
        counts = pipe.execute()[::2]
    except (RedisError, OSError) as exc:
        if fail_closed:
            log.warning("rate limits cannot be counted (%s): request refused", type(exc).__name__)
            raise LimiterUnavailableError(
                "this request cannot be accepted while the service's counters are unavailable; retry in a minute"
            ) from None
        log.debug("rate limits not counted (%s): request accepted", type(exc).__name__)
        return
    for limit, window, count in zip(limits, windows, counts, strict=True):
        if count > limit.rate.count:
            retry_after = max(1, int((window + 1) * limit.rate.seconds - stamp + 0.999))
            raise RateLimitedError(
                f"too many {limit.what} (limit {limit.rate}, {limit.setting}); retry in {retry_after} s",
                retry_after,
            )
