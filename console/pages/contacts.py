"""A tenant's contacts: search, a profile with its timeline, the GDPR export (JSON) and the erasure."""

from __future__ import annotations

import json
from typing import Any

from flask import Response, abort, flash, redirect, render_template, request, url_for

from console.auth import current_user, record, tenant_for
from console.blueprint import bp
from console.context import runtime
from console.i18n import t
from console.pages.dashboard import tenant_choices
from core.console.store.contacts import erase_contact, export_contact, list_erasures, profile, search_contacts
from core.errors import NotFoundError

CONFIRM_WORD = "ERASE"


@bp.route("/t/<tenant>/contacts", methods=["GET", "POST"])
def contacts(tenant: str) -> Any:
    """The newest contacts; a search is POSTed so that the address searched for stays out of access logs."""
    found = tenant_for(tenant)
    query = request.form.get("q", "") if request.method == "POST" else ""
    with runtime().engine.connect() as conn:
        results = search_contacts(conn, found.id, query)
        erased = list_erasures(conn, found.id, limit=20)
    return render_template(
        "console/contacts.html",
        tenant=found,
        query=query,
        results=results,
        erased=erased,
        choices=tenant_choices(),
        section="contacts",
    )


@bp.get("/t/<tenant>/contacts/<int:contact_id>")
def contact(tenant: str, contact_id: int) -> Any:
    found = tenant_for(tenant)
    rt = runtime()
    try:
        with rt.engine.connect() as conn:
            data = profile(conn, found.id, contact_id, rt.clock())
    except NotFoundError:
        abort(404)
    return render_template(
        "console/contact.html",
        tenant=found,
        data=data,
        contact_id=contact_id,
        can_change=current_user().can_change(found.id),
        choices=tenant_choices(),
        section="contacts",
    )


@bp.get("/t/<tenant>/contacts/<int:contact_id>/export.json")
def contact_export(tenant: str, contact_id: int) -> Any:
    found = tenant_for(tenant, change=True)
    try:
        with runtime().engine.connect() as conn:
            data = export_contact(conn, found.id, contact_id)
    except NotFoundError:
        abort(404)
    record("contact_exported", found.id, contact=contact_id)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="contact-{contact_id}.json"'},
    )


@bp.post("/t/<tenant>/contacts/<int:contact_id>/erase")
def contact_erase(tenant: str, contact_id: int) -> Any:
    found = tenant_for(tenant, change=True)
    if request.form.get("confirm") != CONFIRM_WORD:
        flash(t("erase_typo"), "error")
        return redirect(url_for("console.contact", tenant=found.name, contact_id=contact_id))
    rt = runtime()
    try:
        with rt.engine.begin() as conn:
            counts = erase_contact(conn, found.id, contact_id, rt.clock(), current_user().name)
    except NotFoundError:
        abort(404)
    record("contact_erased", found.id, contact=contact_id, rows=sum(counts.values()))
    flash(t("erased"), "ok")
    return redirect(url_for("console.contacts", tenant=found.name))
