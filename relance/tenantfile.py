"""Read tenant files (YAML): one tenant per document, ``${VAR}`` taken from the environment.

Agencies keep their clients' settings in version control; secrets can stay out
of it by writing ``consumer_secret: ${SHOP1_WC_SECRET}``.

A tenant file is small and written by hand: one larger than ``MAX_FILE_BYTES``,
not UTF-8, nested deeper than ``MAX_DEPTH``, with more than ``MAX_ALIASES``
aliases (``*name``) or expanding to more than ``MAX_VALUES`` values (aliases
of aliases: the "billion laughs") is refused at once with one line, before it
costs minutes and memory.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from core.errors import ConfigError
from core.sections import check_templates, validate_tenant
from core.tenants import TenantConfig

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: An agency's file of a few hundred shops is a few hundred KB.
MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_ALIASES = 200
MAX_DEPTH = 40
MAX_VALUES = 100_000


class _TooComplexError(Exception):
    """A tenant file past one of the limits (the message says which)."""


class _LimitedLoader(yaml.SafeLoader):
    """PyYAML's safe loader counting aliases and nesting while it composes the document."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooComplexError(f"more than {MAX_ALIASES} aliases (*name)")
            return super().compose_node(parent, index)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooComplexError(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


class _Budget:
    """How many more values ``_expand`` may visit: aliases repeat whole subtrees without copying them."""

    def __init__(self, left: int) -> None:
        self.left = left

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise _TooComplexError(f"it expands to more than {MAX_VALUES} values (aliases inside aliases?)")


def _expand(value: Any, environ: Mapping[str, str], path: str, budget: _Budget) -> Any:
    budget.spend()
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in environ:
                raise ConfigError(f"{path}: environment variable {name} is not set")
            return environ[name]

        return _VAR.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: _expand(v, environ, f"{path}.{k}" if path else str(k), budget) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, environ, f"{path}[{i}]", budget) for i, v in enumerate(value)]
    return value


def _read(path: Path) -> str:
    """The file's text; ConfigError when it cannot be read, is too large or is not UTF-8."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ConfigError(
                f"{path}: the tenant file is {size // 1024} KB, more than {MAX_FILE_BYTES // 1024} KB; "
                "split it into several files"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the tenant file ({exc.strerror})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); save the file as UTF-8"
        ) from None


def load_tenant_file(path: Path, environ: Mapping[str, str] | None = None) -> list[TenantConfig]:
    """Read and validate every tenant of a YAML file; raise ConfigError naming file, tenant and key."""
    env = os.environ if environ is None else environ
    text = _read(path)
    try:
        loaded = yaml.load_all(text, Loader=_LimitedLoader)  # noqa: S506 - a SafeLoader that counts
        documents = [doc for doc in loaded if doc is not None]
    except _TooComplexError as exc:
        raise ConfigError(f"{path}: refused: {exc}; a tenant file holds plain settings") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}: not valid YAML{where} ({problem})") from exc
    except RecursionError:
        raise ConfigError(f"{path}: refused: nested too deeply; a tenant file holds plain settings") from None
    if not documents:
        raise ConfigError(f"{path}: the file holds no tenant (expected name, platform, url, ...)")
    configs = []
    names: set[str] = set()
    budget = _Budget(MAX_VALUES)
    for index, document in enumerate(documents, start=1):
        label = f"{path} (document {index})" if len(documents) > 1 else str(path)
        try:
            config = validate_tenant(_expand(document, env, "", budget))
            check_templates(config)  # a flow that would fail at send time is refused now
        except ConfigError as exc:
            raise ConfigError(f"{label}: {exc}") from exc
        except _TooComplexError as exc:
            raise ConfigError(f"{path}: refused: {exc}; a tenant file holds plain settings") from None
        if config.name in names:
            raise ConfigError(f"{label}: tenant {config.name!r} appears twice in the file")
        names.add(config.name)
        configs.append(config)
    return configs
