"""The small web pages a contact sees: unsubscribe and preferences, confirmation, bad links.

Pure functions returning HTML (French or English), escaped, readable on a
phone, with no script and no outside resource.
"""

from __future__ import annotations

from html import escape

TEXTS = {
    "fr": {
        "title": "Vos préférences",
        "intro": "Choisissez les messages de {shop} que vous ne voulez plus recevoir.",
        "email": "Ne plus recevoir d'emails",
        "sms": "Ne plus recevoir de SMS",
        "all": "Ne plus rien recevoir",
        "status_email": "Emails : {state}",
        "status_sms": "SMS : {state}",
        "on": "abonné·e",
        "off": "désabonné·e",
        "done_title": "C'est fait",
        "done": "Votre choix est enregistré : {what}. Il s'applique dès maintenant.",
        "what_email": "plus d'emails de {shop}",
        "what_sms": "plus de SMS de {shop}",
        "what_all": "plus aucun message de {shop}",
        "confirm_title": "Confirmez votre inscription",
        "confirm_intro": "Un dernier clic pour recevoir les emails de {shop}.",
        "confirm_button": "Je confirme",
        "confirmed_title": "Inscription confirmée",
        "confirmed": "Merci ! Vous recevrez désormais les emails de {shop}.",
        "invalid_title": "Lien non valide",
    },
    "en": {
        "title": "Your preferences",
        "intro": "Choose which messages from {shop} you no longer want.",
        "email": "Stop emails",
        "sms": "Stop text messages",
        "all": "Stop everything",
        "status_email": "Emails: {state}",
        "status_sms": "Text messages: {state}",
        "on": "subscribed",
        "off": "unsubscribed",
        "done_title": "Done",
        "done": "Your choice is saved: {what}. It applies from now on.",
        "what_email": "no more emails from {shop}",
        "what_sms": "no more text messages from {shop}",
        "what_all": "no more messages from {shop}",
        "confirm_title": "Confirm your subscription",
        "confirm_intro": "One last click to receive emails from {shop}.",
        "confirm_button": "Confirm",
        "confirmed_title": "Subscription confirmed",
        "confirmed": "Thank you! You will now receive emails from {shop}.",
        "invalid_title": "Invalid link",
    },
}

_STYLE = (
    "body{margin:0;background:#f3f1ee;font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#2b2b2b}"
    "main{max-width:480px;margin:32px auto;background:#fff;border-radius:8px;padding:24px}"
    "h1{font-size:22px;margin:0 0 12px}p{line-height:1.5}"
    "button{display:block;width:100%;margin:10px 0;padding:14px;font-size:16px;border:0;border-radius:6px;"
    "background:{color};color:#fff;font-weight:600;cursor:pointer}"
    "button.quiet{background:#fff;color:{color};border:2px solid {color}}.muted{color:#7a746c;font-size:14px}"
)


def lang_of(*locales: str | None) -> str:
    """The first of the locales' languages that the pages speak, else English."""
    for locale in locales:
        lang = (locale or "").split("_")[0].lower()
        if lang in TEXTS:
            return lang
    return "en"


def _page(lang: str, title: str, body: str, color: str) -> str:
    style = _STYLE.replace("{color}", escape(color))
    return (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="robots" content="noindex">'
        f"<title>{escape(title)}</title><style>{style}</style></head>"
        f"<body><main><h1>{escape(title)}</h1>{body}</main></body></html>"
    )


def preferences_page(
    lang: str, shop: str, color: str, email_on: bool | None, sms_on: bool | None, has_phone: bool
) -> str:
    """The unsubscribe page: current state and one button per choice (each a POST)."""
    t = TEXTS[lang]
    state = [t["status_email"].format(state=t["on"] if email_on else t["off"])]
    buttons = [f'<button name="choice" value="email">{escape(t["email"])}</button>']
    if has_phone:
        state.append(t["status_sms"].format(state=t["on"] if sms_on else t["off"]))
        buttons.append(f'<button name="choice" value="sms" class="quiet">{escape(t["sms"])}</button>')
        buttons.append(f'<button name="choice" value="all" class="quiet">{escape(t["all"])}</button>')
    body = (
        f"<p>{escape(t['intro'].format(shop=shop))}</p>"
        f'<p class="muted">{"<br>".join(escape(s) for s in state)}</p>'
        f'<form method="post">{"".join(buttons)}</form>'
    )
    return _page(lang, t["title"], body, color)


def done_page(lang: str, shop: str, color: str, choice: str) -> str:
    t = TEXTS[lang]
    what = t[f"what_{choice}"].format(shop=shop)
    return _page(lang, t["done_title"], f"<p>{escape(t['done'].format(what=what))}</p>", color)


def confirm_page(lang: str, shop: str, color: str) -> str:
    t = TEXTS[lang]
    body = (
        f"<p>{escape(t['confirm_intro'].format(shop=shop))}</p>"
        f'<form method="post"><button>{escape(t["confirm_button"])}</button></form>'
    )
    return _page(lang, t["confirm_title"], body, color)


def confirmed_page(lang: str, shop: str, color: str) -> str:
    t = TEXTS[lang]
    return _page(lang, t["confirmed_title"], f"<p>{escape(t['confirmed'].format(shop=shop))}</p>", color)


def invalid_page(lang: str, reason: str, color: str = "#8a5a44") -> str:
    return _page(lang, TEXTS[lang]["invalid_title"], f"<p>{escape(reason)}</p>", color)
