"""The ``messages`` section of a tenant file, validated and checked by rendering.

``validate`` is what ``core.sections`` registers for the section: the keys and
values are checked by ``core.messages.settings.validate``, then every template
override is rendered with sample data (``core.messages.samples``), so a
template that fails is reported when the settings are applied, never when a
message is due.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from core.messages.errors import MessagesConfigError, TemplateError
from core.messages.samples import check_override
from core.messages.settings import typed_settings
from core.messages.settings import validate as validate_keys


def validate(value: Any, path: str = "messages") -> Mapping[str, Any]:
    """The tenant file's ``messages`` section, validated, normalised and its overrides rendered.

    Raises MessagesConfigError naming the key (and the template that fails).
    """
    section = validate_keys(value, path)
    if "templates" in section:
        _check_templates(section, path)
    return section


def _check_templates(section: Mapping[str, Any], path: str) -> None:
    """Render every override with sample data; raise naming the first that fails."""
    key = json.dumps({k: section.get(k) for k in ("templates", "brand", "footer_address", "sms")}, sort_keys=True)
    for channel, names in section["templates"].items():
        for name, by_lang in names.items():
            for lang in by_lang:
                error = _checked(key, channel, name, lang)
                if error is not None:
                    raise MessagesConfigError(f"{path}.templates.{channel}.{name}.{lang}: {error}")


@lru_cache(maxsize=512)
def _checked(key: str, channel: str, name: str, lang: str) -> str | None:
    """The error of one override rendered with sample data, or None (cached: tenants load often)."""
    try:
        check_override(typed_settings(json.loads(key)), channel, name, lang)
    except TemplateError as exc:
        return str(exc)
    return None
