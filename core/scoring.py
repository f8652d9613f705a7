"""Lead score: points per behaviour, halved every ``half_life_days``.

The tenant file's ``scoring`` section::

    scoring:
      half_life_days: 30          # default
      points:                     # merged over the defaults; 0 turns a behaviour off
        email_opened: 1
        email_clicked: 3

A contact's score at time ``now`` is the sum, over their events, of the
event's points times ``0.5 ** (age_in_days / half_life_days)``.

It is stored as ``score_log2 = log2(score(now)) + (now - EPOCH) / half_life``,
the score expressed at a fixed epoch: that number does not change as time
passes, only when an event adds points, so a periodic refresh never rewrites
it; ``score_at`` turns it back into the score at any time.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from core.errors import ConfigError

EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
DEFAULT_HALF_LIFE_DAYS = 30.0
DEFAULT_POINTS: Mapping[str, float] = {
    "email_opened": 1,
    "email_clicked": 3,
    "page_viewed": 0,
    "product_viewed": 1,
    "category_viewed": 1,
    "cart_updated": 5,
    "checkout_started": 5,
    "order_placed": 10,
    "form_submitted": 5,
    "newsletter_subscribed": 3,
    "account_created": 3,
    "survey_answered": 2,
}
#: Events older than this many half-lives weigh less than 1e-12 of their points: left out.
HORIZON_HALF_LIVES = 40
MAX_POINTS = 1000


@dataclass(frozen=True)
class ScoringSettings:
    half_life_days: float = DEFAULT_HALF_LIFE_DAYS
    points: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_POINTS))

    def points_of(self, event_name: str | None) -> float:
        return float(self.points.get(event_name or "", 0))

    @property
    def scored(self) -> tuple[str, ...]:
        return tuple(sorted(name for name, points in self.points.items() if points > 0))

    @property
    def fingerprint(self) -> str:
        """Changes when the settings change: stored scores must then be recomputed."""
        text = json.dumps({"h": self.half_life_days, "p": dict(sorted(self.points.items()))}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _parse(raw: Any, path: str) -> tuple[dict[str, Any], ScoringSettings]:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: must be a mapping with points and half_life_days")
    for key in raw:
        if key not in ("points", "half_life_days"):
            raise ConfigError(f"{path}.{key}: unknown key (allowed: half_life_days, points)")
    clean: dict[str, Any] = {}
    half_life = raw.get("half_life_days", DEFAULT_HALF_LIFE_DAYS)
    if isinstance(half_life, bool) or not isinstance(half_life, int | float) or not 1 <= half_life <= 3650:
        raise ConfigError(f"{path}.half_life_days: must be a number of days from 1 to 3650")
    if "half_life_days" in raw:
        clean["half_life_days"] = half_life
    points = dict(DEFAULT_POINTS)
    given = raw.get("points") or {}
    if not isinstance(given, Mapping):
        raise ConfigError(f"{path}.points: must be a mapping of event names to points, such as {{email_clicked: 3}}")
    for name, value in given.items():
        where = f"{path}.points.{name}"
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
            raise ConfigError(f"{where}: must be an event name such as email_clicked")
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_POINTS:
            raise ConfigError(f"{where}: must be a number of points from 0 to {MAX_POINTS}")
        points[name] = float(value)
    if given:
        clean["points"] = dict(given)
    return clean, ScoringSettings(half_life_days=float(half_life), points=points)


def validate(value: Any, path: str = "scoring") -> Mapping[str, Any]:
    """Validate the ``scoring`` section of a tenant file; return it as plain data."""
    return _parse(value, path)[0]


@lru_cache(maxsize=256)
def _cached(text: str) -> ScoringSettings:
    return _parse(json.loads(text), "scoring")[1]


def scoring_settings(section: Mapping[str, Any]) -> ScoringSettings:
    """The parsed settings of a (validated) ``scoring`` section."""
    return _cached(json.dumps(section, sort_keys=True, default=str))


def _epoch_offset(now: datetime, half_life_days: float) -> float:
    return (now - EPOCH) / timedelta(days=1) / half_life_days


def score_at(score_log2: float | None, now: datetime, half_life_days: float) -> float:
    """The score at ``now`` of a stored ``score_log2`` (0 for none)."""
    if score_log2 is None:
        return 0.0
    exponent = score_log2 - _epoch_offset(now, half_life_days)
    return 0.0 if exponent < -1000 else 2.0**exponent


def add_points(score_log2: float | None, points: float, when: datetime, half_life_days: float) -> float | None:
    """The stored score after an event worth ``points`` happened at ``when``."""
    if points <= 0:
        return score_log2
    added = math.log2(points) + _epoch_offset(when, half_life_days)
    if score_log2 is None:
        return added
    high, low = max(score_log2, added), min(score_log2, added)
    return high + math.log2(1.0 + 2.0 ** (low - high))


def score_params(now: datetime, settings: ScoringSettings) -> dict[str, Any]:
    """The values of the parameters of ``core.segments.store.scoring.score_query``."""
    return {
        "score_now": now,
        "score_since": now - timedelta(days=settings.half_life_days * HORIZON_HALF_LIVES),
        "score_offset": _epoch_offset(now, settings.half_life_days),
    }


def score_threshold_log2(value: float, now: datetime, half_life_days: float) -> float:
    """The ``score_log2`` a contact needs for a score of ``value`` at ``now`` (value > 0)."""
    return math.log2(value) + _epoch_offset(now, half_life_days)
