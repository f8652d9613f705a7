"""Read tenant files (YAML): one tenant per document, ``${VAR}`` taken from the environment.

Agencies keep their clients' settings in version control; secrets can stay out
of it by writing ``consumer_secret: ${SHOP1_WC_SECRET}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.sections import validate_tenant
from core.tenants import TenantConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, environ: Mapping[str, str], path: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return environ[name]

        return _VAR.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: _expand(v, environ, f"{path}.{k}" if path else str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def load_tenant_file(path: Path, environ: Mapping[str, str] | None = None) -> list[TenantConfig]:
    """Read and validate every tenant of a YAML file; raise ConfigError naming file, tenant and key."""
    env = os.environ if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the tenant file ({exc.strerror})") from exc
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML{where} ({problem})") from exc
    if not documents:
        raise ConfigError(f"{path}: the file holds no tenant (expected name, platform, url, ...)")
    configs = []
    names: set[str] = set()
    for index, document in enumerate(documents, start=1):
        label = f"{path} (document {index})" if len(documents) > 1 else str(path)
        try:
            config = validate_tenant(_expand(document, env, ""))
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from exc
        if config.name in names:
            raise ConfigError(f"{label}: tenant {config.name!r} appears twice in the file")
        names.add(config.name)
        configs.append(config)
    return configs
