"""The MIME email of a composed message: multipart/alternative, text then HTML, UTF-8."""

from __future__ import annotations

from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from core.messages.compose import ComposedMessage
from core.messages.errors import PermanentSendError

#: SMTP line endings; headers are not folded below RFC 5322's 998 characters, so the
#: List-Unsubscribe URLs stay on one line (some receivers do not unfold them).
POLICY = SMTP.clone(max_line_length=998)


def _address(name: str | None, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def build_email(message: ComposedMessage, now: datetime) -> EmailMessage:
    """Return the email to send; raise PermanentSendError when it has no sender or recipient."""
    if not message.sender_email:
        raise PermanentSendError("the tenant has no sender; add sender: {name, email} to its tenant file")
    if not message.to:
        raise PermanentSendError("the contact has no email address")
    email = EmailMessage(policy=POLICY)
    email["From"] = _address(message.sender_name, message.sender_email)
    email["To"] = _address(None, message.to)
    if message.reply_to:
        email["Reply-To"] = _address(None, message.reply_to)
    email["Subject"] = message.subject or ""
    email["Date"] = format_datetime(now)
    for name, value in message.headers.items():
        email[name] = value
    email["MIME-Version"] = "1.0"
    email.set_content(message.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    if message.html:
        email.add_alternative(message.html, subtype="html", charset="utf-8", cte="quoted-printable")
    return email
