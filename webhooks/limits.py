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
by an HMAC of the address with the install's secret key. The client address
is the TCP peer's, or, when the peer is one of the install's trusted reverse
proxies (``RELANCE_TRUSTED_PROXIES``), the nearest address of
``X-Forwarded-For`` that is not a trusted proxy (``client_address``): a
header a client writes itself is never believed.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
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

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class _Outage:
    """Whether the counters' unavailability was already logged (once per outage, per process)."""

    logged = False


def _ip(text: str | None) -> IPAddress | None:
    try:
        return ipaddress.ip_address((text or "").strip())
    except ValueError:
        return None


def _trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address.version == network.version and address in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[IPNetwork]) -> str | None:
    """The client's address: the peer's, or behind trusted ``proxies`` the nearest untrusted X-Forwarded-For hop.

    ``X-Forwarded-For`` is read from the right (each proxy appends the
    address it received the request from); hops that are trusted proxies are
    passed, the first other one is the client. A hop that is not an address
    stops the walk at the last address a trusted proxy vouched for.
    """
    current = _ip(peer)
    if current is None or not proxies or not forwarded_for or not _trusted(current, proxies):
        return peer
    for hop in reversed(forwarded_for.split(",")):
        address = _ip(hop)
        if address is None:
            break
        current = address
        if not _trusted(address, proxies):
            break
    return str(current)


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
        if not _Outage.logged:
            _Outage.logged = True
            log.warning(
                "rate limits cannot be counted while Redis is unavailable (%s): browsing is accepted, "
                "newsletter signups refused with 503 until it is back",
                type(exc).__name__,
            )
        if fail_closed:
            raise LimiterUnavailableError(
                "this request cannot be accepted while the service's counters are unavailable; retry in a minute"
            ) from None
        return
    if _Outage.logged:
        _Outage.logged = False
        log.warning("rate limits are counted again (Redis is back)")
    for limit, window, count in zip(limits, windows, counts, strict=True):
        if count > limit.rate.count:
            retry_after = max(1, int((window + 1) * limit.rate.seconds - stamp + 0.999))
            raise RateLimitedError(
                f"too many {limit.what} (limit {limit.rate}, {limit.setting}); retry in {retry_after} s",
                retry_after,
            )
