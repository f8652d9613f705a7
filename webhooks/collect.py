"""The storefront tracker: ``GET /t/<tenant>.js`` serves it, ``POST /collect/<tenant>`` receives its batches.

``/collect`` is called cross-origin from the shop's pages. A request is
accepted only from an origin listed in the tenant's ``tracker.allowed_origins``
(403 otherwise; browsers always send ``Origin`` on these POSTs) and with the
tenant's public key (401). Responses carry CORS headers for allowed origins
only. A visitor whose browser sends Do Not Track or Global Privacy Control is
acknowledged (204) and nothing is stored, unless the shop set
``respect_dnt: false``.

An accepted batch is counted against the tenant's ``tracker.limits`` (per
client address and per tenant; those carrying a newsletter signup also
against the signup limits) and refused with 429 over any of them
(``webhooks.limits``: browsing fails open when Redis is down, signups fail
closed). Bodies over ``MAX_COLLECT_BYTES`` get 413.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, g, request

from core.errors import SignatureError
from core.tracker import TrackerConfig, normalize_origin, tracker_config
from inbound.tracker import SOURCE, check_batch
from webhooks import limits
from webhooks.context import app_redis, runtime
from webhooks.errors import ForbiddenOriginError, UnknownTenantError
from webhooks.intake import Recipient, Verdict, cached_tenant, parse_json, read_body_at_most, receive

bp = Blueprint("collect", __name__)

TOPIC = "collect"
SCRIPT_MAX_AGE = 300
KEPT_HEADERS = ("Origin", "User-Agent", "Content-Type")
#: Largest tracker batch accepted (50 events with full carts fit well under it); larger ones get 413.
MAX_COLLECT_BYTES = 256 * 1024
SIGNUP_EVENT = "newsletter_subscribed"


@lru_cache(maxsize=1)
def _script_template() -> str:
    """The tracker source without its leading comment and indentation (served smaller)."""
    source = resources.files("webhooks").joinpath("tracker.js").read_text(encoding="utf-8")
    source = re.sub(r"\A/\*.*?\*/\s*", "", source, flags=re.S)
    return "\n".join(line.strip() for line in source.splitlines() if line.strip())


def tracker_script(tenant: Recipient, config: TrackerConfig, base_url: str) -> str:
    """The tracker JavaScript for ``tenant``, its settings filled in."""
    settings = {
        "endpoint": f"{base_url}/collect/{tenant.name}",
        "key": config.public_key,
        "respectDnt": config.respect_dnt,
        "requireConsent": config.require_consent,
        "cookieDays": config.cookie_days,
        "platform": tenant.platform,
    }
    header = f"/* Relance tracker for {tenant.name} */\n"
    # json.dumps output is valid JavaScript; "</" is escaped in case the script is inlined in HTML.
    return header + _script_template().replace("/*RELANCE_CONFIG*/ {}", json.dumps(settings).replace("</", "<\\/"))


def _allowed_origin(config: TrackerConfig) -> str | None:
    origin = request.headers.get("Origin")
    clean = normalize_origin(origin) if origin else None
    return clean if clean and clean in config.allowed_origins else None


def _config(tenant: Recipient) -> TrackerConfig:
    config = tracker_config(tenant.tracker, runtime().settings.tracker_limits)
    if config is None:
        raise UnknownTenantError(
            f"the tracker is not set up for {tenant.name!r}; add a tracker section to its tenant file"
        )
    return config


def _do_not_track() -> bool:
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"


def _no_content(_delivery_id: int | None) -> tuple[str, int]:
    return "", 204


def _inspect(tenant: Recipient, body: bytes) -> Verdict:
    config = _config(tenant)
    origin = _allowed_origin(config)
    if origin is None:
        raise ForbiddenOriginError("this origin is not in the tenant's tracker.allowed_origins")
    g.relance_cors_origin = origin
    if config.respect_dnt and _do_not_track():
        return Verdict(outcome="ignored", respond=_no_content)
    body = read_body_at_most(MAX_COLLECT_BYTES)
    key, _anonymous_id, batch = check_batch(parse_json(body))
    if not hmac.compare_digest(key.encode("utf-8", "replace"), config.public_key.encode()):
        raise SignatureError("the tracker key is not this tenant's public key; paste the script again")
    signups = any(isinstance(item, dict) and item.get("event") == SIGNUP_EVENT for item in batch)
    rt = runtime()
    limits.check(app_redis(), _limits(tenant, config, signups, origin), rt.clock(), fail_closed=signups)
    headers = {name: request.headers[name][:500] for name in KEPT_HEADERS if name in request.headers}
    return Verdict(outcome="accepted", respond=_no_content, topic=TOPIC, headers=headers)


def _limits(tenant: Recipient, config: TrackerConfig, signups: bool, origin: str) -> Sequence[limits.Limit]:
    """The counters a batch from this request counts against."""
    settings = runtime().settings
    client = limits.client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), settings.trusted_proxies
    )
    address = limits.address_key(client, settings.secret_key)
    rates = config.limits
    out = [
        limits.Limit(
            "batches",
            f"{tenant.id}:{address}",
            rates.batches_per_address,
            "tracker batches from this address",
            "tracker.limits.batches_per_address",
        ),
        limits.Limit(
            "batches",
            str(tenant.id),
            rates.batches_per_tenant,
            f"tracker batches for {tenant.name}",
            "tracker.limits.batches_per_tenant",
        ),
    ]
    if signups:
        out += [
            limits.Limit(
                "signups",
                f"{tenant.id}:{address}",
                rates.signups_per_address,
                "newsletter signups from this address",
                "tracker.limits.signups_per_address",
            ),
            limits.Limit(
                "signups",
                str(tenant.id),
                rates.signups_per_tenant,
                f"newsletter signups for {tenant.name}",
                "tracker.limits.signups_per_tenant",
            ),
            limits.Limit(
                "signups-origin",
                f"{tenant.id}:{limits.address_key(origin, settings.secret_key)}",
                rates.signups_per_origin,
                f"newsletter signups from {origin}",
                "tracker.limits.signups_per_origin",
            ),
        ]
    return out


@bp.after_request
def _cors(response: Response) -> Response:
    origin = g.get("relance_cors_origin")
    if origin:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "86400"
    response.vary.add("Origin")
    return response


@bp.route("/collect/<tenant_name>", methods=["POST", "OPTIONS"], provide_automatic_options=False)
def collect(tenant_name: str) -> Any:
    """Receive one batch of tracker events (POST), or answer a CORS preflight (OPTIONS)."""
    if request.method == "OPTIONS":
        return _preflight(tenant_name)
    return receive(SOURCE, tenant_name, _inspect)


def _preflight(tenant_name: str) -> Any:
    tenant = cached_tenant(tenant_name)
    origin = _allowed_origin(_config(tenant))
    if origin is None:
        raise ForbiddenOriginError("this origin is not in the tenant's tracker.allowed_origins")
    g.relance_cors_origin = origin
    return "", 204


@bp.get("/t/<tenant_name>.js")
def script(tenant_name: str) -> Any:
    """Serve the tracker script of a tenant (public; cached by browsers for a few minutes)."""
    tenant = cached_tenant(tenant_name)
    config = _config(tenant)
    response = Response(tracker_script(tenant, config, runtime().settings.base_url), mimetype="text/javascript")
    response.headers["Cache-Control"] = f"public, max-age={SCRIPT_MAX_AGE}"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
