"""Twilio Programmable Messaging: send SMS, and verify the callbacks Twilio signs.

Sending is a form POST to ``/2010-04-01/Accounts/{AccountSid}/Messages.json``
with HTTP basic auth (Account SID, Auth Token): ``To`` (E.164), ``Body``,
``From`` or ``MessagingServiceSid``, and ``StatusCallback``. Twilio answers
201 with the message's ``sid``; errors carry a numeric ``code``.

Callbacks (status and inbound messages) are form POSTs signed in the
``X-Twilio-Signature`` header: base64 of HMAC-SHA1, keyed with the Auth Token,
of the full URL Twilio called followed by every POST parameter's name and
value, sorted by name. ``sign_callback`` produces exactly what
``verify_callback`` accepts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import requests

from core.errors import SignatureError
from core.messages.compose import ComposedMessage
from core.messages.errors import (
    BouncedError,
    PermanentSendError,
    TemporarySendError,
    UnknownOutcomeError,
)
from core.messages.sending import SendResult
from core.messages.settings import SmsSettings

API_BASE = "https://api.twilio.com/2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
#: Error codes that say the number itself cannot receive our SMS (suppress it).
#: 21211 invalid 'To' number, 21614 not a mobile number, 21612 / 21408 unreachable
#: from this sender or region, 30003 unreachable handset, 30005 unknown number, 30006 landline.
BAD_NUMBER_CODES = frozenset({"21211", "21614", "21612", "30005", "30006"})
UNREACHABLE_CODES = frozenset({"30003"})
#: 21610: the recipient replied STOP to this sender: Twilio refuses until they reply START.
OPTED_OUT_CODE = "21610"
#: Delivery statuses Twilio reports in status callbacks, final ones last.
FINAL_FAILURES = frozenset({"failed", "undelivered"})


class OptedOutAtProviderError(BouncedError):
    """The provider refuses to send because the recipient opted out there (Twilio 21610)."""


def sign_callback(url: str, params: Iterable[tuple[str, str]], auth_token: str) -> str:
    """The ``X-Twilio-Signature`` Twilio sends for a POST of ``params`` to ``url``."""
    data = url + "".join(f"{key}{value}" for key, value in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def verify_callback(url: str, params: Iterable[tuple[str, str]], signature: str | None, auth_token: str | None) -> None:
    """Raise SignatureError unless ``signature`` is Twilio's for this URL and these parameters."""
    if not auth_token:
        raise SignatureError("this tenant has no Twilio auth_token; set messages.sms in its tenant file")
    if not signature:
        raise SignatureError(f"the {SIGNATURE_HEADER} header is missing")
    expected = sign_callback(url, list(params), auth_token)
    if not hmac.compare_digest(expected.encode("ascii"), signature.strip().encode("utf-8", "replace")):
        raise SignatureError(f"the {SIGNATURE_HEADER} does not match; check the auth_token and RELANCE_BASE_URL")


def _error(response: requests.Response) -> tuple[str | None, str]:
    try:
        body: Any = response.json()
    except ValueError:
        return None, response.text[:200]
    if not isinstance(body, dict):
        return None, str(body)[:200]
    code = body.get("code")
    return (str(code) if code is not None else None), str(body.get("message") or "")[:200]


class TwilioTransport:
    def __init__(self, settings: SmsSettings, session: requests.Session | None = None, timeout: float = 15.0) -> None:
        self.settings = settings
        self.session = session or requests.Session()
        self.timeout = timeout

    @property
    def url(self) -> str:
        return f"{API_BASE}/Accounts/{self.settings.account_sid}/Messages.json"

    def send_sms(
        self, message: ComposedMessage, message_id: int, now: datetime, status_callback: str | None
    ) -> SendResult:
        if not message.to or not message.to.startswith("+"):
            raise BouncedError("the contact has no phone number in E.164 form", code="no_number")
        data = {"To": message.to, "Body": message.text}
        if self.settings.messaging_service_sid:
            data["MessagingServiceSid"] = self.settings.messaging_service_sid
        if self.settings.from_number:
            data["From"] = self.settings.from_number
        if status_callback:
            data["StatusCallback"] = status_callback
        auth = (self.settings.account_sid or "", self.settings.auth_token or "")
        try:
            response = self.session.post(self.url, data=data, auth=auth, timeout=self.timeout)
        except requests.ConnectionError as exc:
            # ConnectTimeout is a ConnectionError: nothing reached Twilio, so a retry is safe.
            raise TemporarySendError(f"cannot reach Twilio ({type(exc).__name__})") from exc
        except requests.Timeout as exc:
            raise UnknownOutcomeError(
                "Twilio did not answer in time after the SMS was posted; it may have been sent, so it is not sent again"
            ) from exc
        if response.status_code in (200, 201):
            try:
                sid = response.json()["sid"]
            except (ValueError, KeyError, TypeError) as exc:
                raise UnknownOutcomeError("Twilio accepted the SMS but its answer has no sid") from exc
            return SendResult(provider_id=str(sid))
        code, text = _error(response)
        where = f"Twilio answered {response.status_code}" + (f" (error {code})" if code else "")
        if response.status_code == 429 or response.status_code >= 500:
            raise TemporarySendError(f"{where}: {text}", code=code)
        if response.status_code in (401, 403):
            raise PermanentSendError(
                f"{where}: the account_sid or auth_token is refused; fix messages.sms in the tenant file", code=code
            )
        if code == OPTED_OUT_CODE:
            raise OptedOutAtProviderError(f"{where}: the recipient replied STOP to this sender", code=code)
        if code in BAD_NUMBER_CODES or code in UNREACHABLE_CODES:
            raise BouncedError(f"{where}: {text}", code=code)
        raise PermanentSendError(f"{where}: {text}", code=code)
