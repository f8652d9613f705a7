"""The ``file`` transport: each email as an ``.eml`` file (plus an ``.html`` to open in a browser).

For the demo, previews and installs without an SMTP server yet. SMS are
written as ``.sms.txt`` files. Names come from the message id, so writing the
same message again replaces its file rather than adding a second one.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

from core.messages.compose import ComposedMessage
from core.messages.errors import PermanentSendError
from core.messages.mime import build_email
from core.messages.sending import SendResult


def _slug(message: ComposedMessage) -> str:
    return message.template.split("/", 1)[-1].rsplit(".", 1)[0].replace("/", "-").replace(".sms", "")


class FileTransport:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def _write(self, name: str, data: bytes) -> Path:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / name
            temporary = path.with_suffix(path.suffix + ".tmp")
            temporary.write_bytes(data)
            os.replace(temporary, path)
        except OSError as exc:
            raise PermanentSendError(f"cannot write to {self.directory} ({exc.strerror})") from exc
        return path

    def send_email(self, message: ComposedMessage, message_id: int, now: datetime) -> SendResult:
        email = build_email(message, now)
        stem = f"{message_id:06d}-{_slug(message)}-{message.lang}"
        if message.html:
            self._write(f"{stem}.html", message.html.encode("utf-8"))
        path = self._write(f"{stem}.eml", email.as_bytes())
        return SendResult(provider_id=f"file:{path.name}", detail=str(path))

    def send_sms(
        self, message: ComposedMessage, message_id: int, now: datetime, status_callback: str | None
    ) -> SendResult:
        if not message.to:
            raise PermanentSendError("the contact has no phone number")
        body = (
            f"To: {message.to}\nDate: {now.isoformat()}\nSegments: {message.sms_segments} ({message.sms_encoding})\n\n"
        )
        path = self._write(f"{message_id:06d}-{_slug(message)}-{message.lang}.sms.txt", (body + message.text).encode())
        return SendResult(provider_id=f"file:{path.name}", detail=str(path))
