"""Links in messages: UTM parameters, signed click / open / unsubscribe / confirm links.

Every token is signed with the install's secret key through itsdangerous, with
one salt per purpose, so a token made for one purpose is refused by another.
A click token carries the exact destination: the redirect goes there and
nowhere else (no open redirect). Tokens carry ids only, never an email or a
phone, because URLs end up in logs.
"""

from __future__ import annotations

import base64
import hmac
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode, want_bytes

from core.messages.errors import LinkError

PREFIX = "/m"
CLICK = "relance.click"
OPEN = "relance.open"
UNSUBSCRIBE = "relance.unsubscribe"
CONFIRM = "relance.confirm"
#: A double opt-in confirmation link works this long.
CONFIRM_MAX_AGE_SECONDS = 30 * 24 * 3600

_HREF = re.compile(r'href="([^"]*)"', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://[^\s<>\"')]+[^\s<>\"').,;:!?]")


def add_utm(url: str, medium: str, campaign: str, content: str) -> str:
    """Return ``url`` with utm_source=relance, utm_medium, utm_campaign and utm_content added.

    UTM parameters the link already carries are kept: an agency's choice wins.
    """
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    present = {key for key, _ in query}
    wanted = [("utm_source", "relance"), ("utm_medium", medium), ("utm_campaign", campaign), ("utm_content", content)]
    query.extend((key, value) for key, value in wanted if key not in present)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment))


@lru_cache(maxsize=64)
def _keyed_mac(key: bytes, digest: Any) -> Any:
    """An HMAC already keyed (its pads computed): each signature copies it and hashes only the value."""
    return hmac.new(key, digestmod=digest)


class _KeyedSigner(Signer):
    """itsdangerous' default signer (HMAC-SHA1, the key derived from the secret and the salt), its key derived
    once per process rather than at every signature: the same tokens, one HMAC each."""

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self.secret_keys[-1] if secret_key is None else want_bytes(secret_key)
        return _derived_key(key, self.salt, self.key_derivation, self.digest_method)

    def get_signature(self, value: str | bytes) -> bytes:
        mac = _keyed_mac(self.derive_key(), self.digest_method).copy()
        mac.update(want_bytes(value))
        return base64_encode(mac.digest())


@lru_cache(maxsize=64)
def _derived_key(secret_key: bytes, salt: bytes, derivation: str, digest: Any) -> bytes:
    return Signer(secret_key, salt=salt, key_derivation=derivation, digest_method=digest).derive_key()


class _Serializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer without zlib: compressing a 100-byte payload costs more than
    signing it, and a link in an email can be a little longer. Compressed tokens (links already sent)
    still load."""

    def dump_payload(self, obj: Any) -> bytes:
        return base64_encode(self.serializer.dumps(obj, **self.serializer_kwargs).encode("utf-8"))


@lru_cache(maxsize=64)
def _serializer(secret_key: str, salt: str) -> URLSafeSerializer:
    """The serializer of one purpose, made once per process (it holds nothing but the key and the salt)."""
    return _Serializer(secret_key, salt=salt, signer=_KeyedSigner)


def _load(secret_key: str, salt: str, token: str) -> Any:
    try:
        return _serializer(secret_key, salt).loads(token)
    except BadSignature as exc:
        raise LinkError("this link is not valid (it was changed or cut); use the link from the message") from exc


@dataclass(frozen=True)
class Click:
    tenant_id: int
    message_id: int
    url: str


@dataclass(frozen=True)
class Recipient:
    """Whom an unsubscribe, open or confirm link is about."""

    tenant_id: int
    contact_id: int
    message_id: int


def click_url(base_url: str, secret_key: str, tenant_id: int, message_id: int, url: str) -> str:
    token = _serializer(secret_key, CLICK).dumps([tenant_id, message_id, url])
    return f"{base_url}{PREFIX}/c/{token}"


def read_click(secret_key: str, token: str) -> Click:
    """Return what a click token names; raise LinkError when the signature does not verify."""
    data = _load(secret_key, CLICK, token)
    try:
        tenant_id, message_id, url = data
    except (TypeError, ValueError) as exc:
        raise LinkError("this link is not valid; use the link from the message") from exc
    if urlsplit(url).scheme not in ("http", "https"):
        raise LinkError("this link is not valid; use the link from the message")
    return Click(int(tenant_id), int(message_id), str(url))


def open_url(base_url: str, secret_key: str, tenant_id: int, message_id: int) -> str:
    token = _serializer(secret_key, OPEN).dumps([tenant_id, message_id])
    return f"{base_url}{PREFIX}/o/{token}.gif"


def read_open(secret_key: str, token: str) -> tuple[int, int]:
    """Return (tenant id, message id) of an open-pixel token."""
    data = _load(secret_key, OPEN, token)
    try:
        tenant_id, message_id = data
        return int(tenant_id), int(message_id)
    except (TypeError, ValueError) as exc:
        raise LinkError("this link is not valid") from exc


def unsubscribe_token(secret_key: str, tenant_id: int, contact_id: int, message_id: int) -> str:
    return _serializer(secret_key, UNSUBSCRIBE).dumps([tenant_id, contact_id, message_id])


def unsubscribe_url(base_url: str, secret_key: str, tenant_id: int, contact_id: int, message_id: int) -> str:
    """The unsubscribe and preferences page (GET) and the RFC 8058 one-click endpoint (POST)."""
    return f"{base_url}{PREFIX}/u/{unsubscribe_token(secret_key, tenant_id, contact_id, message_id)}"


def read_unsubscribe(secret_key: str, token: str) -> Recipient:
    data = _load(secret_key, UNSUBSCRIBE, token)
    try:
        tenant_id, contact_id, message_id = data
        return Recipient(int(tenant_id), int(contact_id), int(message_id))
    except (TypeError, ValueError) as exc:
        raise LinkError("this unsubscribe link is not valid; use the link from the email") from exc


def confirm_url(base_url: str, secret_key: str, tenant_id: int, contact_id: int, message_id: int, now: datetime) -> str:
    """The double opt-in confirmation link; it expires CONFIRM_MAX_AGE_SECONDS after ``now``."""
    token = _serializer(secret_key, CONFIRM).dumps([tenant_id, contact_id, message_id, int(now.timestamp())])
    return f"{base_url}{PREFIX}/confirm/{token}"


def read_confirm(secret_key: str, token: str, now: datetime) -> Recipient:
    """Return whom a confirmation link is for; raise LinkError when it is forged or expired."""
    data = _load(secret_key, CONFIRM, token)
    try:
        tenant_id, contact_id, message_id, issued = data
        recipient = Recipient(int(tenant_id), int(contact_id), int(message_id))
        age = now.timestamp() - int(issued)
    except (TypeError, ValueError) as exc:
        raise LinkError("this confirmation link is not valid; use the link from the email") from exc
    if age > CONFIRM_MAX_AGE_SECONDS:
        raise LinkError("this confirmation link has expired; subscribe again on the shop to get a new one")
    return recipient


Rewrite = Callable[[str], str | None]


def rewrite_html_links(source: str, rewrite: Rewrite) -> str:
    """Apply ``rewrite`` to every http(s) ``href`` of an HTML document (None keeps the link)."""

    def replace(match: re.Match[str]) -> str:
        url = html.unescape(match.group(1))
        if not url.lower().startswith(("http://", "https://")):
            return match.group(0)
        new = rewrite(url)
        return match.group(0) if new is None else f'href="{html.escape(new, quote=True)}"'

    return _HREF.sub(replace, source)


def rewrite_text_links(text: str, rewrite: Rewrite) -> str:
    """Apply ``rewrite`` to every http(s) URL in plain text (None keeps the link)."""

    def replace(match: re.Match[str]) -> str:
        new = rewrite(match.group(0))
        return match.group(0) if new is None else new

    return _TEXT_URL.sub(replace, text)


_SMS_SALT = b"relance.sms-link"
_SMS_TOKEN = re.compile(r"^(\d{1,10})-(\d{1,15})-(\d{1,2})-([A-Za-z0-9_-]{12})$")


def _sms_signature(secret_key: str, tenant_id: int, message_id: int, position: int) -> str:
    digest = hmac.new(secret_key.encode() + _SMS_SALT, f"{tenant_id}:{message_id}:{position}".encode(), "sha256")
    return base64.urlsafe_b64encode(digest.digest()[:9]).decode("ascii")


def sms_link_url(base_url: str, secret_key: str, tenant_id: int, message_id: int, position: int) -> str:
    """A short signed link for an SMS (every character costs): the destination is kept in the store.

    ``/m/s/<tenant>-<message>-<position>-<signature>``; the signature is 72 bits
    of HMAC-SHA256, which is enough to make guessing a valid link hopeless.
    """
    signature = _sms_signature(secret_key, tenant_id, message_id, position)
    return f"{base_url}{PREFIX}/s/{tenant_id}-{message_id}-{position}-{signature}"


def read_sms_link(secret_key: str, token: str) -> tuple[int, int, int]:
    """Return (tenant id, message id, position) of a short SMS link; raise LinkError if forged."""
    match = _SMS_TOKEN.match(token)
    if match is None:
        raise LinkError("this link is not valid; use the link from the message")
    tenant_id, message_id, position = int(match[1]), int(match[2]), int(match[3])
    expected = _sms_signature(secret_key, tenant_id, message_id, position)
    if not hmac.compare_digest(expected.encode(), match[4].encode()):
        raise LinkError("this link is not valid; use the link from the message")
    return tenant_id, message_id, position
