"""A tenant's settings: download the tenant file (secrets masked), upload a changed one (validated as
``relance tenant apply`` validates, errors shown in place), and the tenant's audit log.

A masked secret left as it is keeps the stored secret; the file must keep the
tenant's name (a shop's users can never write another tenant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml
from flask import Response, flash, redirect, render_template, request, url_for

from console.auth import current_user, record, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from console.pages.dashboard import tenant_choices
from core.console.store.audit import list_audit
from core.errors import ConfigError
from core.sections import validate_tenant
from core.store.tenants import Tenant, upsert_tenant
from core.tenants import masked

#: Largest tenant file accepted from the browser.
MAX_UPLOAD_BYTES = 256 * 1024


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader without aliases (``*name``): a file from a browser needs none, and they can explode."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise ConfigError("the file uses an alias (*name); write the values out in full")
        return super().compose_node(parent, index)


def tenant_yaml(tenant: Tenant) -> str:
    """The tenant file of ``tenant``, secrets masked."""
    return yaml.safe_dump(masked(tenant.config.to_dict()), sort_keys=False, allow_unicode=True)


def unmask(uploaded: Any, stored: Any, masked_stored: Any) -> Any:
    """``uploaded`` with every value still equal to its masked form replaced by the stored secret."""
    if isinstance(uploaded, Mapping) and isinstance(stored, Mapping) and isinstance(masked_stored, Mapping):
        return {k: unmask(v, stored.get(k), masked_stored.get(k)) for k, v in uploaded.items()}
    if isinstance(uploaded, list) and isinstance(stored, list) and isinstance(masked_stored, list):
        if len(uploaded) == len(stored) == len(masked_stored):
            return [unmask(u, s, m) for u, s, m in zip(uploaded, stored, masked_stored, strict=True)]
        return uploaded
    if isinstance(uploaded, str) and masked_stored != stored and uploaded == masked_stored:
        return stored
    return uploaded


def parse_upload(tenant: Tenant, text: str) -> Any:
    """Validate an uploaded tenant file for ``tenant``; return its config or raise ConfigError."""
    if len(text.encode("utf-8")) > MAX_UPLOAD_BYTES:
        raise ConfigError(f"the file is larger than {MAX_UPLOAD_BYTES // 1024} KB; a tenant file is much smaller")
    try:
        raw = yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise ConfigError(f"the file is not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(raw, Mapping):
        raise ConfigError("the file must hold one tenant: a mapping with name, platform, url...")
    if raw.get("name") != tenant.name:
        raise ConfigError(f"the file is for tenant {raw.get('name')!r}; this page changes {tenant.name!r} only")
    stored = tenant.config.to_dict()
    return validate_tenant(unmask(raw, stored, masked(stored)))


@bp.route("/t/<tenant>/settings", methods=["GET", "POST"])
def settings(tenant: str) -> Any:
    found = tenant_for(tenant, change=request.method == "POST")
    error, text, status = None, None, 200
    if request.method == "POST":
        upload = request.files.get("file")
        text = upload.read(MAX_UPLOAD_BYTES + 1).decode("utf-8", "replace") if upload and upload.filename else ""
        text = text or request.form.get("yaml", "")
        try:
            config = parse_upload(found, text)
        except ConfigError as exc:
            error, status = str(exc), 422
        else:
            rt = runtime()
            with rt.engine.begin() as conn:
                upsert_tenant(conn, config, rt.clock())
            record("tenant_file_uploaded", found.id)
            flash(t("saved"), "ok")
            return redirect(url_for("console.settings", tenant=found.name))
    rt = runtime()
    with rt.engine.connect() as conn:
        entries = list_audit(conn, found.id, limit=50)
    body = render_template(
        "console/settings.html",
        tenant=found,
        text=text if text is not None else tenant_yaml(found),
        error=error,
        entries=entries,
        can_change=current_user().can_change(found.id),
        choices=tenant_choices(),
        section="settings",
    )
    return body, status


@bp.get("/t/<tenant>/settings.yaml")
def settings_yaml(tenant: str) -> Any:
    found = tenant_for(tenant)
    return Response(
        tenant_yaml(found),
        mimetype="application/yaml",
        headers={"Content-Disposition": f'attachment; filename="{found.name}.yaml"'},
    )
