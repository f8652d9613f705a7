"""A tenant's flows: on/off switches, each flow's settings (validated as ``relance tenant apply`` validates)
and rendered previews of each step (HTML in a sandboxed iframe, text, SMS)."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from flask import Response, abort, flash, redirect, render_template, request, url_for

from console.auth import current_user, record, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from console.pages.dashboard import tenant_choices
from console.pages.settings import MAX_UPLOAD_BYTES, _NoAliasLoader
from core.errors import ConfigError, UserError
from core.flows import registry
from core.flows.settings import tenant_flows
from core.messages.previews import render_preview
from core.model import Channel
from core.sections import validate_tenant
from core.store.tenants import Tenant, upsert_tenant

#: The preview frame's own policy: no script, no form, nothing but the message's images and styles.
PREVIEW_CSP = (
    "sandbox; default-src 'none'; img-src https: http: data:; style-src 'unsafe-inline'; font-src https: data:"
)


def flow_rows(tenant: Tenant) -> list[dict[str, Any]]:
    """Every built-in flow with its state, channel and send steps, then the tenant's own flows."""
    flows = tenant_flows(tenant.config.flows)
    rows = []
    for flow in registry.BUILTIN:
        settings = flows.settings.of(flow.name)
        definition = flow.define(settings)
        rows.append(
            {
                "name": flow.name,
                "enabled": bool(settings.enabled),
                "channel": getattr(settings, "channel", ""),
                "sends": definition.sends,
                "builtin": True,
            }
        )
    for definition in flows.settings.custom:
        rows.append(
            {"name": definition.name, "enabled": True, "channel": "", "sends": definition.sends, "builtin": False}
        )
    return rows


def _save(tenant: Tenant, raw: dict[str, Any]) -> None:
    """Validate the whole tenant as ``tenant apply`` does, then store it (raises ConfigError)."""
    config = validate_tenant(raw)
    rt = runtime()
    with rt.engine.begin() as conn:
        upsert_tenant(conn, config, rt.clock())


def _builtin_or_404(name: str) -> Any:
    flow = registry.builtin(name)
    if flow is None:
        abort(404)
    return flow


@bp.get("/t/<tenant>/flows")
def flows(tenant: str) -> Any:
    found = tenant_for(tenant)
    return render_template(
        "console/flows.html",
        tenant=found,
        rows=flow_rows(found),
        can_change=current_user().can_change(found.id),
        choices=tenant_choices(),
        section="flows",
    )


@bp.post("/t/<tenant>/flows/<flow>/toggle")
def toggle(tenant: str, flow: str) -> Any:
    found = tenant_for(tenant, change=True)
    _builtin_or_404(flow)
    enabled = bool(tenant_flows(found.config.flows).settings.of(flow).enabled)
    raw = copy.deepcopy(found.config.to_dict())
    section = raw.setdefault("flows", {})
    section[flow] = {**(section.get(flow) or {}), "enabled": not enabled}
    try:
        _save(found, raw)
    except ConfigError as exc:
        flash(str(exc), "error")
    else:
        record("flow_switched", found.id, flow=flow, enabled=not enabled)
        flash(f"{flow}: {t('enabled') if not enabled else t('disabled')}", "ok")
    return redirect(url_for("console.flows", tenant=found.name) + f"#flow-{flow}")


@bp.route("/t/<tenant>/flows/<flow>", methods=["GET", "POST"])
def flow_page(tenant: str, flow: str) -> Any:
    found = tenant_for(tenant, change=request.method == "POST")
    _builtin_or_404(flow)
    raw = copy.deepcopy(found.config.to_dict())
    current = (raw.get("flows") or {}).get(flow) or {}
    text = yaml.safe_dump(current, sort_keys=False, allow_unicode=True) if current else "enabled: false\n"
    error, status = None, 200
    if request.method == "POST":
        text = request.form.get("yaml", "")
        try:
            if len(text.encode()) > MAX_UPLOAD_BYTES:
                raise ConfigError("the settings are too long")
            try:
                value = yaml.load(text, Loader=_NoAliasLoader) or {}  # noqa: S506 - a SafeLoader subclass
            except yaml.YAMLError as exc:
                raise ConfigError(f"not valid YAML: {' '.join(str(exc).split())}") from None
            raw.setdefault("flows", {})[flow] = value
            _save(found, raw)
        except ConfigError as exc:
            error, status = str(exc), 422
        else:
            record("flow_settings_changed", found.id, flow=flow)
            flash(t("saved"), "ok")
            return redirect(url_for("console.flow_page", tenant=found.name, flow=flow))
    row = next(item for item in flow_rows(found) if item["name"] == flow)
    previews = []
    rt = runtime()
    with rt.engine.connect() as conn:
        for send in row["sends"]:
            item: dict[str, Any] = {"step": send.number, "channel": send.channel.value, "text": None, "error": None}
            try:
                message = render_preview(
                    conn, found, flow, send.number, send.channel.value, None, None,
                    rt.settings.base_url, rt.settings.secret_key, rt.clock(),
                )  # fmt: skip
            except UserError as exc:
                item["error"] = str(exc)
            else:
                item.update(text=message.text, subject=message.subject, segments=message.sms_segments)
            previews.append(item)
    body = render_template(
        "console/flow.html",
        tenant=found,
        row=row,
        text=text,
        error=error,
        previews=previews,
        can_change=current_user().can_change(found.id),
        choices=tenant_choices(),
        section="flows",
    )
    return body, status


@bp.get("/t/<tenant>/flows/<flow>/preview/<int:step>")
def flow_preview(tenant: str, flow: str, step: int) -> Any:
    """The HTML of one email step, for the sandboxed iframe of the flow's page."""
    found = tenant_for(tenant)
    _builtin_or_404(flow)
    row = next(item for item in flow_rows(found) if item["name"] == flow)
    if not any(send.number == step and send.channel is Channel.EMAIL for send in row["sends"]):
        abort(404)
    rt = runtime()
    try:
        with rt.engine.connect() as conn:
            message = render_preview(
                conn, found, flow, step, Channel.EMAIL.value, None, request.args.get("lang") or None,
                rt.settings.base_url, rt.settings.secret_key, rt.clock(),
            )  # fmt: skip
    except UserError:
        abort(404)
    response = Response(message.html or "", mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
