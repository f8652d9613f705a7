"""The ``messages`` section of a tenant file: transport, SMS provider, brand, templates.

``validate(value, path)`` refuses unknown keys and bad values naming the key;
``core.messages.checks.validate`` (what ``core.sections`` registers) adds the
rendering of every template override with sample data, so a template that
fails is reported when the settings are applied, never when a message is due.
``message_settings(config)`` gives the typed view the rest of the area uses.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from core import normalize
from core.messages.environment import template_name
from core.messages.errors import MessagesConfigError

if TYPE_CHECKING:
    from core.tenants import TenantConfig

TRANSPORTS = ("smtp", "file")
SECURITY = ("starttls", "tls", "none")
SMS_PROVIDERS = ("twilio", "file")
TEMPLATE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,59}/[1-9][0-9]?$")
LANG = re.compile(r"^[a-z]{2}$")
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
DEFAULT_COLOR = "#8a5a44"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password: str | None = None
    timeout_seconds: float = 30.0


@dataclass(frozen=True)
class SmsSettings:
    provider: str = "file"
    account_sid: str | None = None
    auth_token: str | None = None
    from_number: str | None = None
    messaging_service_sid: str | None = None
    directory: str | None = None
    max_segments: int = 3
    stop_text: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class MessageSettings:
    """A tenant's messages settings; ``transport`` "file" with no directory means the install's data dir."""

    transport: str = "file"
    smtp: SmtpSettings | None = None
    directory: str | None = None
    sms: SmsSettings = field(default_factory=SmsSettings)
    brand_color: str = DEFAULT_COLOR
    logo_url: str | None = None
    footer_address: str | None = None
    unsubscribe_email: str | None = None
    #: loader name ("fr/abandoned_cart/1.mjml", "fr/layout.mjml", "en/birthday/1.sms.txt") -> source
    overrides: Mapping[str, str] = field(default_factory=dict)


def _fail(path: str, reason: str) -> MessagesConfigError:
    return MessagesConfigError(f"{path}: {reason}")


def _mapping(value: Any, path: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(path, "must be a mapping of keys to values")
    return value


def _only(value: Mapping[str, Any], allowed: tuple[str, ...], path: str) -> None:
    for key in value:
        if key not in allowed:
            raise _fail(f"{path}.{key}", f"unknown key (allowed: {', '.join(allowed)})")


def _text(value: Any, path: str, required: bool = False, max_length: int = 500) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise _fail(path, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _fail(path, "must be a string")
    text = str(value).strip()
    if len(text) > max_length:
        raise _fail(path, f"is longer than {max_length} characters")
    return text


def _int(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"must be a whole number from {low} to {high}")
    return value


def _https(value: Any, path: str) -> str | None:
    text = _text(value, path, max_length=2000)
    if text is not None and (urlsplit(text).scheme not in ("http", "https") or not urlsplit(text).netloc):
        raise _fail(path, f"{text!r} is not a web address (use https://...)")
    return text


def _transport(raw: Any, path: str) -> dict[str, Any]:
    given = _mapping(raw, path)
    kind = given.get("type", "file")
    if kind not in TRANSPORTS:
        raise _fail(f"{path}.type", f"unknown transport {kind!r} (allowed: {', '.join(TRANSPORTS)})")
    if kind == "file":
        _only(given, ("type", "directory"), path)
        return {"type": "file", "directory": _text(given.get("directory"), f"{path}.directory")}
    _only(given, ("type", "host", "port", "security", "username", "password", "timeout_seconds"), path)
    security = given.get("security", "starttls")
    if security not in SECURITY:
        raise _fail(f"{path}.security", f"unknown value {security!r} (allowed: {', '.join(SECURITY)})")
    default_port = {"starttls": 587, "tls": 465, "none": 25}[security]
    timeout = given.get("timeout_seconds", 30)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 300:
        raise _fail(f"{path}.timeout_seconds", "must be a number of seconds from 1 to 300")
    username = _text(given.get("username"), f"{path}.username")
    password = _text(given.get("password"), f"{path}.password")
    if (username is None) != (password is None):
        raise _fail(path, "give both username and password, or neither")
    return {
        "type": "smtp",
        "host": _text(given.get("host"), f"{path}.host", required=True),
        "port": _int(given.get("port", default_port), f"{path}.port", 1, 65535),
        "security": security,
        "username": username,
        "password": password,
        "timeout_seconds": float(timeout),
    }


def _sms(raw: Any, path: str) -> dict[str, Any]:
    given = _mapping(raw, path)
    provider = given.get("provider", "file")
    if provider not in SMS_PROVIDERS:
        raise _fail(f"{path}.provider", f"unknown provider {provider!r} (allowed: {', '.join(SMS_PROVIDERS)})")
    common = ("provider", "max_segments", "stop_text")
    out: dict[str, Any] = {"provider": provider}
    out["max_segments"] = _int(given.get("max_segments", 3), f"{path}.max_segments", 1, 10)
    stop_text = _mapping(given.get("stop_text"), f"{path}.stop_text")
    for lang, text in stop_text.items():
        if not LANG.match(str(lang)):
            raise _fail(f"{path}.stop_text.{lang}", "must be a two-letter language code such as fr")
        if "STOP" not in str(text):
            raise _fail(f"{path}.stop_text.{lang}", "must contain the word STOP")
    out["stop_text"] = {str(k): str(v) for k, v in stop_text.items()}
    if provider == "file":
        _only(given, (*common, "directory"), path)
        out["directory"] = _text(given.get("directory"), f"{path}.directory")
        return out
    _only(given, (*common, "account_sid", "auth_token", "from", "messaging_service_sid"), path)
    sid = _text(given.get("account_sid"), f"{path}.account_sid", required=True)
    assert sid is not None
    if not re.fullmatch(r"AC[0-9a-fA-F]{32}", sid):
        raise _fail(f"{path}.account_sid", "must be the Account SID from the Twilio console (AC followed by 32 hex)")
    out["account_sid"] = sid
    out["auth_token"] = _text(given.get("auth_token"), f"{path}.auth_token", required=True)
    sender = given.get("from")
    service = _text(given.get("messaging_service_sid"), f"{path}.messaging_service_sid")
    if sender is None and service is None:
        raise _fail(path, "give 'from' (an E.164 number or an alphanumeric sender id) or messaging_service_sid")
    if sender is not None:
        text = _text(sender, f"{path}.from", required=True, max_length=20)
        assert text is not None
        if text.startswith("+"):
            try:
                text = normalize.phone(text)
            except ValueError as exc:
                raise _fail(f"{path}.from", f"{exc} (use E.164 such as +33612345678)") from exc
        elif not re.fullmatch(r"[A-Za-z0-9 ]{1,11}", text) or text.isdigit():
            raise _fail(f"{path}.from", "must be an E.164 number or a sender id of up to 11 letters and digits")
        out["from"] = text
    if service is not None:
        out["messaging_service_sid"] = service
    return out


def _templates(raw: Any, path: str) -> dict[str, dict[str, dict[str, str]]]:
    given = _mapping(raw, path)
    _only(given, ("email", "sms"), path)
    out: dict[str, dict[str, dict[str, str]]] = {}
    for channel, names in given.items():
        where = f"{path}.{channel}"
        out[channel] = {}
        for name, by_lang in _mapping(names, where).items():
            name = str(name)
            if not (TEMPLATE_NAME.match(name) or (channel == "email" and name == "layout")):
                allowed = "flow/step such as abandoned_cart/1" + (", or layout" if channel == "email" else "")
                raise _fail(f"{where}.{name}", f"unknown template name (use {allowed})")
            out[channel][name] = {}
            for lang, source in _mapping(by_lang, f"{where}.{name}").items():
                if not LANG.match(str(lang)):
                    raise _fail(f"{where}.{name}.{lang}", "must be a two-letter language code such as fr or en")
                if not isinstance(source, str) or not source.strip():
                    raise _fail(f"{where}.{name}.{lang}", "must be the template's text")
                if len(source) > 100_000:
                    raise _fail(f"{where}.{name}.{lang}", "is longer than 100,000 characters")
                out[channel][name][str(lang)] = source
    return out


def overrides_of(templates: Mapping[str, Mapping[str, Mapping[str, str]]]) -> dict[str, str]:
    """Loader names and sources of a validated ``templates`` mapping."""
    found: dict[str, str] = {}
    for channel, names in templates.items():
        for name, by_lang in names.items():
            for lang, source in by_lang.items():
                found[template_name(lang, name, channel)] = source
    return found


def validate(value: Any, path: str = "messages") -> Mapping[str, Any]:
    """The tenant file's ``messages`` section, validated and normalised.

    Raises MessagesConfigError naming the key; every template override is
    rendered with sample data and refused if it fails.
    """
    given = _mapping(value, path)
    allowed = ("transport", "sms", "brand", "footer_address", "unsubscribe_email", "templates")
    _only(given, allowed, path)
    out: dict[str, Any] = {}
    if "transport" in given:
        out["transport"] = _transport(given["transport"], f"{path}.transport")
    if "sms" in given:
        out["sms"] = _sms(given["sms"], f"{path}.sms")
    if "brand" in given:
        brand = _mapping(given["brand"], f"{path}.brand")
        _only(brand, ("color", "logo_url"), f"{path}.brand")
        color = _text(brand.get("color"), f"{path}.brand.color")
        if color is not None and not COLOR.match(color):
            raise _fail(f"{path}.brand.color", f"{color!r} is not a colour such as #8a5a44")
        out["brand"] = {"color": color, "logo_url": _https(brand.get("logo_url"), f"{path}.brand.logo_url")}
    if "footer_address" in given:
        out["footer_address"] = _text(given["footer_address"], f"{path}.footer_address")
    if "unsubscribe_email" in given:
        try:
            out["unsubscribe_email"] = normalize.email(given["unsubscribe_email"])
        except ValueError as exc:
            raise _fail(f"{path}.unsubscribe_email", f"{exc} (use unsubscribe@example.com)") from exc
    if "templates" in given:
        out["templates"] = _templates(given["templates"], f"{path}.templates")
    return out


def typed_settings(section: Mapping[str, Any]) -> MessageSettings:
    transport = section.get("transport") or {"type": "file"}
    sms = dict(section.get("sms") or {})
    brand = section.get("brand") or {}
    smtp = None
    if transport.get("type") == "smtp":
        smtp = SmtpSettings(**{k: v for k, v in transport.items() if k != "type"})
    return MessageSettings(
        transport=transport.get("type", "file"),
        smtp=smtp,
        directory=transport.get("directory"),
        sms=SmsSettings(
            provider=sms.get("provider", "file"),
            account_sid=sms.get("account_sid"),
            auth_token=sms.get("auth_token"),
            from_number=sms.get("from"),
            messaging_service_sid=sms.get("messaging_service_sid"),
            directory=sms.get("directory"),
            max_segments=sms.get("max_segments", 3),
            stop_text=sms.get("stop_text") or {},
        ),
        brand_color=brand.get("color") or DEFAULT_COLOR,
        logo_url=brand.get("logo_url"),
        footer_address=section.get("footer_address"),
        unsubscribe_email=section.get("unsubscribe_email"),
        overrides=overrides_of(section.get("templates") or {}),
    )


def message_settings(config: TenantConfig) -> MessageSettings:
    """The typed messages settings of a tenant (its section is already validated)."""
    return typed_settings(config.messages or {})
