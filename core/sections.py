"""The sections of a tenant file, each validated by the area that owns it.

``core.tenants`` validates a tenant's own keys (name, platform, url,
credentials, sync...) and knows no area; this module, above every area,
registers each area's section validator and is what callers use to validate
a whole tenant file: ``validate_tenant(raw)``.

To add a section: write ``validate(value, path) -> mapping`` in the area,
add a line to ``SECTIONS``, and a field to ``core.tenants.TenantConfig``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core import scoring, tracker
from core.attribution import settings as attribution
from core.campaigns import settings as campaigns
from core.errors import ConfigError
from core.flows import settings as flows
from core.messages import checks as messages
from core.messages.compose import fallback_names
from core.segments import settings as segments
from core.tenants import SectionValidator, TenantConfig, validate_config

#: Section key -> its area's validator, in the order they are checked.
SECTIONS: Mapping[str, SectionValidator] = {
    "flows": flows.validate,
    "segments": segments.validate,
    "tracker": tracker.validate,
    "messages": messages.validate,
    "scoring": scoring.validate,
    "attribution": attribution.validate,
    "campaigns": campaigns.validate,
}


def validate_tenant(raw: Any) -> TenantConfig:
    """Validate a whole tenant mapping (a tenant file's document) and return its config.

    Raises ConfigError naming the first bad key and what is allowed.
    """
    config = validate_config(raw, SECTIONS)
    campaigns.check_config(config)  # what campaigns name must exist in the other sections
    return config


def check_templates(config: TenantConfig) -> None:
    """Refuse a tenant whose own flows send a template it does not have (``tenant apply``): each send step's
    template (or an earlier step's of the same name, as sending falls back) must be a tenant override or a
    default template, in some language. Raises ConfigError naming the flow, the step and the template."""
    exists = campaigns.template_checker(config)
    for definition in flows.tenant_flows(config.flows).settings.custom:
        for send in definition.sends:
            if not any(exists(name, send.channel.value) for name in fallback_names(send.template)):
                raise ConfigError(
                    f"flows.custom.{definition.name}: send step {send.number} uses the {send.channel.value} "
                    f"template {send.template!r}, which does not exist; add it under messages.templates "
                    f"or name a template that does (template: ...)"
                )
