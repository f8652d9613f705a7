"""The hosted survey page (``/survey/<token>``): one click records a score, no JavaScript needed.

- ``GET /survey/<token>``: the signed link of one score (``core.flows.survey``)
  records it at once as a ``survey_answered`` event through the pipeline
  (the flow waiting for it goes on) and shows the shop-branded thank-you page:
  the score, the other scores, a comment form, the review link for a high
  score.
- ``POST /survey/<token>`` with ``comment``: records the comment (a second
  ``survey_answered`` event carrying the score and the comment).

A changed or cut link gets a 404 page that says so; nothing is recorded.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, request

from core.errors import NotFoundError
from core.flows import survey
from core.flows.errors import SurveyLinkError
from core.flows.settings import tenant_flows
from core.messages import pages
from core.messages.settings import message_settings
from core.messages.store.engagement import get_message
from core.messages.store.recipients import get_identity
from core.model import ContactInfo
from core.pipeline import ingest
from core.store.tenants import get_tenant_by_id
from webhooks.context import runtime, with_any_key

log = logging.getLogger(__name__)

bp = Blueprint("survey", __name__, url_prefix=survey.PREFIX)

NO_STORE = {"Cache-Control": "no-store, max-age=0", "Referrer-Policy": "no-referrer"}
SURVEY_FLOW = "post_purchase_survey"


def _html(body: str, status: int = 200) -> Response:
    response = Response(body, status=status, mimetype="text/html")
    response.headers.update(NO_STORE)
    return response


def _invalid(reason: str) -> Response:
    lang = pages.lang_of(request.accept_languages.best_match(["fr", "en"]))
    return _html(pages.invalid_page(lang, reason), 404)


@bp.route("/<token>", methods=["GET", "POST"])
def answer(token: str) -> Any:
    rt = runtime()
    try:
        tenant_id, message_id, score = with_any_key(lambda key: survey.read_survey(key, token), SurveyLinkError)
    except SurveyLinkError as exc:
        return _invalid(str(exc))
    comment = (request.form.get("comment") or "").strip() if request.method == "POST" else ""
    now = rt.clock()
    try:
        with rt.engine.begin() as conn:
            row = get_message(conn, tenant_id, message_id)
            tenant = get_tenant_by_id(conn, tenant_id)
            identity = get_identity(conn, tenant_id, row.contact_id) if row is not None else None
            if row is None or identity is None or not (identity.email or identity.phone):
                return _invalid("this survey is no longer open: the message or the contact was deleted")
            who = ContactInfo(email=identity.email) if identity.email else ContactInfo(phone=identity.phone)
            order = (row.context or {}).get("order_id")
            event = survey.answer_event(who, message_id, score, now, order, comment or None)
            ingest(conn, tenant, event, now)
    except NotFoundError:
        return _invalid("this survey is no longer open")
    log.info("tenant %s message %s: survey answered (%s)", tenant_id, message_id, "comment" if comment else "score")
    settings = message_settings(tenant.config)
    shop = tenant.config.sender.name if tenant.config.sender else tenant.name
    lang = pages.lang_of(identity.locale, tenant.config.locale)
    flows = tenant_flows(tenant.config.flows).settings
    review_url = flows.of(SURVEY_FLOW).review_url if SURVEY_FLOW in flows.builtin else None
    links = survey.survey_urls(rt.settings.base_url, rt.settings.secret_key, tenant_id, message_id)
    return _html(survey.page(lang, shop, settings.brand_color, score, links, review_url, commented=bool(comment)))
