"""The ``campaigns`` section of a tenant file: name -> campaign (``core.campaigns.model``).

``validate(value, path)`` is what ``core.sections`` registers; what a campaign
names in other sections (segments, flows, templates) is checked with the whole
file by ``check_references``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from typing import Any

from core.campaigns.errors import CampaignConfigError
from core.campaigns.model import Campaign, parse
from core.flows import registry
from core.flows.settings import tenant_flows
from core.messages.environment import DEFAULT_LANGUAGES, environment, exists, template_name
from core.messages.settings import message_settings
from core.segments.settings import segment_settings
from core.tenants import TenantConfig


def campaigns_of(section: Mapping[str, Any]) -> list[Campaign]:
    """The campaigns of a validated section."""
    return [parse(name, raw, f"campaigns.{name}") for name, raw in section.items()]


def validate(value: Any, path: str = "campaigns") -> Mapping[str, Any]:
    """The section validated and normalised (what the tenant file holds)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise CampaignConfigError(f"{path}: must be a mapping of campaign names to campaigns")
    return {str(name): parse(name, raw, f"{path}.{name}").to_dict() for name, raw in value.items()}


def check_references(
    campaign: Campaign,
    path: str,
    segments: Collection[str],
    flows: Collection[str],
    template_exists: Callable[[str, str], bool],
) -> None:
    """Refuse a campaign naming a segment, a flow (priority) or a template that does not exist."""
    for name in sorted(campaign.segments()):
        if name not in segments:
            raise CampaignConfigError(
                f"{path}: segment {name!r} does not exist (allowed: {', '.join(sorted(segments))})"
            )
    if campaign.priority not in ("lowest", "highest") and campaign.priority not in flows:
        raise CampaignConfigError(f"{path}.priority: {campaign.priority!r} is not lowest, highest or a flow's name")
    if not template_exists(campaign.template, campaign.channel.value):
        raise CampaignConfigError(
            f"{path}.template: no {campaign.channel.value} template {campaign.template!r}; "
            f"add it under messages.templates in the tenant file"
        )


def template_checker(config: TenantConfig) -> Callable[[str, str], bool]:
    """``exists(template, channel)``: a tenant override or a default template in one of the languages."""
    env = environment(message_settings(config).overrides)
    langs = list(dict.fromkeys([config.locale.split("_")[0].lower(), *DEFAULT_LANGUAGES]))

    def check(template: str, channel: str) -> bool:
        return any(exists(env, template_name(lang, template, channel)) for lang in langs)

    return check


def check_campaign(config: TenantConfig, campaign: Campaign, path: str) -> None:
    """Refuse a campaign naming a segment, a flow or a template the tenant does not have."""
    segments = segment_settings(config.segments).names
    flows = set(registry.BY_NAME) | {d.name for d in tenant_flows(config.flows).settings.custom}
    check_references(campaign, path, segments, flows, template_checker(config))


def check_config(config: TenantConfig) -> None:
    """Every campaign of a validated tenant file checked against the rest of the file."""
    for campaign in campaigns_of(config.campaigns):
        check_campaign(config, campaign, f"campaigns.{campaign.name}")
