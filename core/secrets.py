"""Secrets at rest: a tenant's credentials kept encrypted in the database.

A tenant's settings hold credentials (shop API keys and secrets, the webhook
secret, SMTP and Twilio passwords and tokens: every key ``core.tenants.is_secret``
names). They are stored as ``enc:v1:<Fernet token>``: AES-128-CBC and
HMAC-SHA256 (``cryptography``'s Fernet), under a key derived with HKDF-SHA256
from the install's secret key (``RELANCE_SECRET_KEY``), so that a copy of the
database, a backup or a replica does not give the shops' keys away.

A ``Keyring`` holds the current key and any former ones (``MultiFernet``):
values are encrypted with the current key and decrypted with whichever key
made them, so the key can be rotated without downtime (docs/security.md).
The keyring is built by the composition root from the settings and handed
down; this module reads no environment.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from core.errors import SecretKeyError
from core.tenants import is_secret

#: What a stored encrypted value starts with (the version names the scheme: Fernet under an HKDF-derived key).
PREFIX = "enc:v1:"
#: HKDF's context: a key derived for secrets at rest is never the key that signs links.
_INFO = b"relance/secrets-at-rest/v1"
_SALT = b"relance"


def _fernet(secret_key: str) -> Fernet:
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret_key.encode("utf-8"))
    return Fernet(base64.urlsafe_b64encode(derived))


def is_sealed(value: Any) -> bool:
    """Whether ``value`` is an encrypted value as stored (``enc:v1:...``)."""
    return isinstance(value, str) and value.startswith(PREFIX)


class Keyring:
    """The current secret key and the former ones: encrypts with the first, decrypts with any."""

    def __init__(self, current: str, former: Sequence[str] = ()) -> None:
        self._current = _fernet(current)
        self._all = MultiFernet([self._current, *(_fernet(key) for key in former if key != current)])

    def seal(self, clear: str) -> str:
        """``clear`` encrypted with the current key, as stored (``enc:v1:...``)."""
        return PREFIX + self._all.encrypt(clear.encode("utf-8")).decode("ascii")

    def unseal(self, sealed: str) -> str:
        """The clear text of a stored value; raise SecretKeyError when no key of the ring opens it."""
        try:
            return self._all.decrypt(sealed[len(PREFIX) :].encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError, ValueError):
            raise SecretKeyError(
                "a stored secret cannot be decrypted with RELANCE_SECRET_KEY: set it to the key the secrets "
                "were encrypted with, or add that key to RELANCE_OLD_SECRET_KEYS (comma-separated)"
            ) from None

    def is_current(self, sealed: str) -> bool:
        """Whether a stored value was encrypted with the current key (else a former key must stay in the ring)."""
        try:
            self._current.decrypt(sealed[len(PREFIX) :].encode("ascii"))
        except (InvalidToken, ValueError):
            return False
        return True


def unseal_value(value: Any, keyring: Keyring | None) -> Any:
    """A stored value in clear: decrypted when sealed, else as it is.

    Raises SecretKeyError when it is sealed and there is no keyring.
    """
    if not is_sealed(value):
        return value
    if keyring is None:
        raise SecretKeyError(
            "the tenants' secrets are encrypted and no secret key was given: set RELANCE_SECRET_KEY "
            "to the key they were encrypted with"
        )
    return keyring.unseal(value)


def _walk(data: Any, change: Callable[[str], str], key: str | None = None) -> Any:
    """A copy of ``data`` with ``change`` applied to every text value under a secret key."""
    if isinstance(data, Mapping):
        return {k: _walk(v, change, k) for k, v in data.items()}
    if isinstance(data, list):
        return [_walk(v, change, key) for v in data]
    if isinstance(data, str) and data and is_secret(key):
        return change(data)
    return data


def seal_config(data: Mapping[str, Any], keyring: Keyring) -> dict[str, Any]:
    """A tenant mapping as stored: every secret encrypted with the current key (already encrypted ones again)."""
    return _walk(data, lambda value: keyring.seal(unseal_value(value, keyring)))


def unseal_config(data: Mapping[str, Any], keyring: Keyring | None) -> dict[str, Any]:
    """A stored tenant mapping with its secrets in clear; raise SecretKeyError when one cannot be decrypted."""
    return _walk(data, lambda value: unseal_value(value, keyring))


def sealed_states(data: Mapping[str, Any], keyring: Keyring) -> dict[str, int]:
    """How many secrets of a stored tenant mapping are ``clear``, under the ``current`` key, or a ``former`` one."""
    counts = {"clear": 0, "current": 0, "former": 0}

    def count(value: str) -> str:
        if not is_sealed(value):
            counts["clear"] += 1
        elif keyring.is_current(value):
            counts["current"] += 1
        else:
            keyring.unseal(value)  # raises when no key opens it
            counts["former"] += 1
        return value

    _walk(data, count)
    return counts
