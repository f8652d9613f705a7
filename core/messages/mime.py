"""The MIME email of a composed message: multipart/alternative, text then HTML, UTF-8, quoted-printable.

Built with the ``email`` package's compat32 API and bodies encoded by
``binascii``: the modern API (``EmailMessage`` with an ``EmailPolicy``) parses
every header it is given and encodes bodies in pure Python, which took longer
than composing the message. Headers carrying non-ASCII text become RFC 2047
encoded words (``email.header``); a line break in any header value is refused
(no header injection). Addresses that are not ASCII (SMTPUTF8) keep the modern
API's handling.
"""

from __future__ import annotations

import binascii
import uuid
from datetime import datetime
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage, Message
from email.policy import SMTP, compat32
from email.utils import format_datetime, formataddr

from core.messages.compose import ComposedMessage
from core.messages.errors import PermanentSendError

#: SMTP line endings; headers are not folded below RFC 5322's 998 characters, so the
#: List-Unsubscribe URLs stay on one line (some receivers do not unfold them).
POLICY = SMTP.clone(max_line_length=998)
#: The same for the compat32 API.
COMPAT_POLICY = compat32.clone(linesep="\r\n", max_line_length=998)


def _address(name: str | None, email: str) -> Address:
    local, _, domain = email.rpartition("@")
    return Address(display_name=name or "", username=local, domain=domain)


def _checked(message: ComposedMessage) -> None:
    if not message.sender_email:
        raise PermanentSendError("the tenant has no sender; add sender: {name, email} to its tenant file")
    if not message.to:
        raise PermanentSendError("the contact has no email address")


class WireEmail:
    """An email as it goes on the wire (CRLF line endings): what the transports send or write."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def as_bytes(self) -> bytes:
        return self.data

    def as_string(self) -> str:
        return self.data.decode("utf-8", "replace")


def build_email(message: ComposedMessage, now: datetime) -> WireEmail | EmailMessage:
    """Return the email to send; raise PermanentSendError when it has no sender or recipient."""
    _checked(message)
    addresses = (message.sender_email or "", message.to or "", message.reply_to or "")
    if not all(address.isascii() for address in addresses):
        return _modern(message, now)
    head = Message(policy=COMPAT_POLICY)
    head["From"] = formataddr((_clean(message.sender_name or ""), _clean(message.sender_email or "")), "utf-8")
    head["To"] = _clean(message.to or "")
    if message.reply_to:
        head["Reply-To"] = _clean(message.reply_to)
    head["Subject"] = _text_header(message.subject or "")
    head["Date"] = format_datetime(now)
    for name, value in message.headers.items():
        head[_clean(name)] = _text_header(value)
    head["MIME-Version"] = "1.0"
    if not message.html:
        head["Content-Type"] = 'text/plain; charset="utf-8"'
        head["Content-Transfer-Encoding"] = "quoted-printable"
        return WireEmail(_headers(head) + _CRLF + _quoted_printable(message.text))
    boundary = f"=_relance_{uuid.uuid4().hex}"
    head["Content-Type"] = f'multipart/alternative; boundary="{boundary}"'
    mark = f"--{boundary}".encode("ascii")
    parts = [_headers(head), _CRLF]  # the headers, then the blank line that ends them
    for subtype, text in (("plain", message.text), ("html", message.html)):
        parts += [mark, _CRLF, _PART_HEAD.format(subtype).encode("ascii"), _quoted_printable(text), _CRLF]
    parts += [mark, b"--", _CRLF]
    return WireEmail(b"".join(parts))


_CRLF = b"\r\n"
_PART_HEAD = 'Content-Type: text/{}; charset="utf-8"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n'


def _headers(head: Message) -> bytes:
    """The header lines, folded and encoded by the policy (each ends with CRLF)."""
    lines = []
    for name, value in head.items():
        if isinstance(value, Header):  # encoded words of at most 75 characters, folded (RFC 2047)
            lines.append(f"{name}: ".encode("ascii") + value.encode(linesep="\r\n").encode("ascii") + _CRLF)
        else:
            lines.append(COMPAT_POLICY.fold_binary(name, value))
    return b"".join(lines)


def _quoted_printable(text: str) -> bytes:
    """Quoted-printable in C (``binascii``), lines ending in CRLF."""
    encoded = binascii.b2a_qp(text.replace("\r\n", "\n").encode("utf-8"), istext=True)
    return encoded.replace(b"\n", _CRLF)


def _clean(value: str) -> str:
    if "\r" in value or "\n" in value:
        raise PermanentSendError("a header of the message holds a line break; fix the sender or the template")
    return value


def _text_header(value: str) -> str | Header:
    """ASCII as it is; anything else as RFC 2047 encoded words."""
    value = _clean(value)
    return value if value.isascii() else Header(value, "utf-8")


def _modern(message: ComposedMessage, now: datetime) -> EmailMessage:
    """Internationalised addresses: the modern API, as every email was built before."""
    email = EmailMessage(policy=POLICY)
    email["From"] = _address(message.sender_name, message.sender_email or "")
    email["To"] = _address(None, message.to or "")
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
