"""The one-click satisfaction survey: signed score links, the answer as an event, the hosted page.

A survey email (``post_purchase_survey``) carries five links, one per score,
each signed with the install's secret key (itsdangerous, salt
``relance.survey``) and naming only ids: the tenant, the outbox message and
the score. Opening one records the score at once (one click, no JavaScript)
as a ``survey_answered`` event through the pipeline, so flows branch on it;
the page then offers an optional comment (a plain form POST) and, for a high
score, the shop's review link. A second click on another score records that
score too: the flow reads the latest answer.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from core.flows.errors import SurveyLinkError
from core.model import ContactInfo, Event, EventType

SALT = "relance.survey"
PREFIX = "/survey"
SURVEY = "post_purchase"
SCORES = (1, 2, 3, 4, 5)
MAX_COMMENT = 2000


def survey_url(base_url: str, secret_key: str, tenant_id: int, message_id: int, score: int) -> str:
    """The signed link that records ``score`` for the survey of message ``message_id``."""
    token = URLSafeSerializer(secret_key, salt=SALT).dumps([tenant_id, message_id, score])
    return f"{base_url}{PREFIX}/{token}"


def survey_urls(base_url: str, secret_key: str, tenant_id: int, message_id: int) -> list[dict[str, Any]]:
    """The five links of a survey message, as the template sees them: ``score`` and ``url``."""
    return [{"score": score, "url": survey_url(base_url, secret_key, tenant_id, message_id, score)} for score in SCORES]


def read_survey(secret_key: str, token: str) -> tuple[int, int, int]:
    """(tenant id, message id, score) of a survey link; raise SurveyLinkError for a changed or cut link."""
    try:
        tenant_id, message_id, score = URLSafeSerializer(secret_key, salt=SALT).loads(token)
    except (BadSignature, ValueError, TypeError) as exc:
        raise SurveyLinkError("this link is not valid (it was changed or cut); use the link from the email") from exc
    if score not in SCORES:
        raise SurveyLinkError("this link is not valid; use the link from the email")
    return int(tenant_id), int(message_id), int(score)


def answer_event(
    who: ContactInfo, message_id: int, score: int, now: datetime, order: Any = None, comment: str | None = None
) -> Event:
    """The ``survey_answered`` event of a click (or of a comment: its own id, the score repeated)."""
    properties: dict[str, Any] = {"survey": SURVEY, "score": score, "message_id": message_id}
    if order is not None:
        properties["order_id"] = order
    suffix = f"{score}"
    if comment:
        properties["comment"] = comment[:MAX_COMMENT]
        suffix = f"comment-{int(now.timestamp())}"
    return Event(
        EventType.TRACK,
        f"relance-survey-{message_id}-{suffix}",
        now,
        who,
        event="survey_answered",
        properties=properties,
        source="relance",
    )


TEXTS = {
    "fr": {
        "title": "Merci pour votre avis",
        "score": "Votre note : {score} / 5. Elle est bien enregistrée.",
        "change": "Vous pouvez changer de note :",
        "comment": "Un commentaire ? (facultatif)",
        "send": "Envoyer",
        "thanks": "Merci, votre commentaire est bien transmis à {shop}.",
        "review": "Vous avez aimé ? Partagez votre avis :",
        "review_button": "Laisser un avis",
    },
    "en": {
        "title": "Thank you for your feedback",
        "score": "Your score: {score} / 5. It is saved.",
        "change": "You can change your score:",
        "comment": "Anything to add? (optional)",
        "send": "Send",
        "thanks": "Thank you, your comment was passed on to {shop}.",
        "review": "Happy with us? Share your opinion:",
        "review_button": "Leave a review",
    },
}

_STYLE = (
    "body{margin:0;background:#f3f1ee;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#2b2b2b}"
    "main{max-width:480px;margin:32px auto;background:#fff;border-radius:8px;padding:24px}"
    "h1{font-size:22px;margin:0 0 12px}p{line-height:1.5}.shop{color:{color};font-weight:700;margin:0 0 16px}"
    "textarea{width:100%;box-sizing:border-box;min-height:90px;font:inherit;padding:8px}"
    "button,a.button{display:block;width:100%;box-sizing:border-box;margin:10px 0;padding:14px;font-size:16px;"
    "border:0;border-radius:6px;background:{color};color:#fff;font-weight:600;text-align:center;"
    "text-decoration:none}.scores a{display:inline-block;margin:4px;padding:8px 12px;border:2px solid {color};"
    "border-radius:6px;color:{color};text-decoration:none}.scores a.on{background:{color};color:#fff}"
)


def page(
    lang: str,
    shop: str,
    color: str,
    score: int,
    links: list[dict[str, Any]],
    review_url: str | None,
    commented: bool = False,
) -> str:
    """The page shown after a click: the score saved, the other scores, a comment form, the review link."""
    t = TEXTS.get(lang, TEXTS["en"])
    scores = "".join(
        f'<a href="{escape(link["url"])}"{" class=on" if link["score"] == score else ""}>{link["score"]}</a>'
        for link in links
    )
    body = [f'<p class="shop">{escape(shop)}</p>', f"<p>{escape(t['score'].format(score=score))}</p>"]
    if commented:
        body.append(f"<p>{escape(t['thanks'].format(shop=shop))}</p>")
    else:
        body.append(
            f'<form method="post"><label for="comment">{escape(t["comment"])}</label>'
            f'<textarea id="comment" name="comment" maxlength="{MAX_COMMENT}"></textarea>'
            f"<button>{escape(t['send'])}</button></form>"
        )
    if review_url and score >= 4:
        body.append(
            f"<p>{escape(t['review'])}</p>"
            f'<a class="button" href="{escape(review_url)}" rel="noopener">{escape(t["review_button"])}</a>'
        )
    body.append(f'<p>{escape(t["change"])}</p><p class="scores">{scores}</p>')
    style = _STYLE.replace("{color}", escape(color))
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">'
        f"<title>{escape(t['title'])}</title><style>{style}</style></head>"
        f"<body><main><h1>{escape(t['title'])}</h1>{''.join(body)}</main></body></html>"
    )
