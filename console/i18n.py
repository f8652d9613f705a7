"""The console's words in English and French: ``t(key)`` in the language of the request.

The language is the ``lang`` cookie (set by the switch in the header), else the
browser's ``Accept-Language``, else English.
"""

from __future__ import annotations

from flask import g, request

LANGS = ("en", "fr")

#: key -> (English, French)
CATALOG: dict[str, tuple[str, str]] = {
    "console": ("Relance console", "Console Relance"),
    "login": ("Sign in", "Connexion"),
    "logout": ("Sign out", "Déconnexion"),
    "username": ("User name", "Identifiant"),
    "password": ("Password", "Mot de passe"),
    "login_failed": ("Wrong user name or password.", "Identifiant ou mot de passe incorrect."),
    "login_limited": (
        "Too many failed sign-ins: wait 15 minutes and try again.",
        "Trop d'échecs de connexion : attendez 15 minutes puis réessayez.",
    ),
    "csrf_failed": (
        "This form has expired: reload the page and submit it again.",
        "Ce formulaire a expiré : rechargez la page et envoyez-le à nouveau.",
    ),
    "overview": ("Agency overview", "Vue d'ensemble de l'agence"),
    "tenants": ("Shops", "Boutiques"),
    "tenant": ("Shop", "Boutique"),
    "last_sync": ("Last sync", "Dernière synchro"),
    "never": ("never", "jamais"),
    "webhook_failures": ("Failed deliveries", "Réceptions en échec"),
    "queue_depth": ("Queue depth", "File d'attente"),
    "redis_down": ("Redis does not answer", "Redis ne répond pas"),
    "worker": ("Worker heartbeat", "Signe de vie du worker"),
    "unknown": ("unknown", "inconnu"),
    "workers_alive": ("alive", "actifs"),
    "last_seen": ("last heartbeat", "dernier signe de vie il y a"),
    "periodic": ("periodic jobs last run", "tâches périodiques il y a"),
    "no_worker": ("no worker running", "aucun worker actif"),
    "sent_30": ("Messages sent (30 days)", "Messages envoyés (30 jours)"),
    "revenue_30": ("Revenue attributed (30 days)", "Chiffre d'affaires attribué (30 jours)"),
    "alerts": ("Alerts", "Alertes"),
    "no_alerts": ("none", "aucune"),
    "alert_sync_failing": ("sync failing", "synchro en échec"),
    "alert_deliveries_failing": ("failed deliveries", "réceptions en échec"),
    "alert_bounce_high": ("bounce rate high", "taux de rebond élevé"),
    "dashboard": ("Dashboard", "Tableau de bord"),
    "flows": ("Flows", "Scénarios"),
    "campaigns": ("Campaigns", "Campagnes"),
    "new_campaign": (
        "New campaign (as in the tenant file, plus its name)",
        "Nouvelle campagne (comme dans le fichier de la boutique, avec son nom)",
    ),
    "create": ("Create", "Créer"),
    "schedule": ("Schedule", "Programmer"),
    "local_time": ("in each contact's time zone", "dans le fuseau de chaque contact"),
    "cancel": ("Cancel", "Annuler"),
    "test_send": ("Send a test", "Envoyer un test"),
    "test_to": ("address for the test", "adresse du test"),
    "test_sent": ("test message sent", "message de test envoyé"),
    "audience": ("Audience", "Audience"),
    "pending": ("pending", "en attente"),
    "done": ("done", "traités"),
    "cancelled": ("cancelled", "annulés"),
    "contacts": ("Contacts", "Contacts"),
    "deliveries": ("Deliveries", "Réceptions"),
    "settings": ("Settings", "Réglages"),
    "audit": ("Audit log", "Journal d'audit"),
    "revenue_per_flow": ("Revenue per flow and campaign and day", "Chiffre d'affaires par scénario, campagne et jour"),
    "funnel": ("Funnel per flow", "Entonnoir par scénario"),
    "flow": ("Flow", "Scénario"),
    "sent": ("Sent", "Envoyés"),
    "opened": ("Opened", "Ouverts"),
    "clicked": ("Clicked", "Cliqués"),
    "ordered": ("Ordered", "Commandes"),
    "revenue": ("Revenue", "Chiffre d'affaires"),
    "segments": ("Segments", "Segments"),
    "campaign": ("campaign", "campagne"),
    "holdout": ("Holdout", "Groupe témoin"),
    "recipients": ("recipients", "destinataires"),
    "held_out": ("held out", "témoins"),
    "control": ("control", "contrôle"),
    "members": ("Members", "Membres"),
    "segment_trend": (
        "members now; entered / left over the period",
        "membres aujourd'hui ; entrés / sortis sur la période",
    ),
    "attribution_note": (
        "Revenue: orders credited to the message clicked or opened before them (as 'relance report' counts it).",
        "Chiffre d'affaires : commandes créditées au message cliqué ou ouvert avant elles (comme 'relance report').",
    ),
    "nothing_yet": ("Nothing yet.", "Rien pour l'instant."),
    "enabled": ("on", "actif"),
    "disabled": ("off", "inactif"),
    "switch_on": ("Switch on", "Activer"),
    "switch_off": ("Switch off", "Désactiver"),
    "channel": ("Channel", "Canal"),
    "steps": ("Steps", "Étapes"),
    "edit": ("Settings and previews", "Réglages et aperçus"),
    "save": ("Save", "Enregistrer"),
    "saved": ("Saved.", "Enregistré."),
    "flow_settings": ("Settings of this flow (YAML)", "Réglages de ce scénario (YAML)"),
    "previews": ("Previews", "Aperçus"),
    "step": ("Step", "Étape"),
    "text_version": ("Text version", "Version texte"),
    "sms_segments": ("SMS segments", "Segments SMS"),
    "search": ("Search", "Rechercher"),
    "search_hint": ("email, phone or name", "email, téléphone ou nom"),
    "email": ("Email", "Email"),
    "phone": ("Phone", "Téléphone"),
    "name": ("Name", "Nom"),
    "created": ("Created", "Créé"),
    "profile": ("Profile", "Profil"),
    "timeline": ("Timeline", "Chronologie"),
    "consents": ("Consent proof", "Preuves de consentement"),
    "score": ("Score", "Score"),
    "predictions": ("Predictions", "Prédictions"),
    "messages": ("Messages", "Messages"),
    "export_json": ("GDPR export (JSON)", "Export RGPD (JSON)"),
    "erase": ("Erase this contact", "Effacer ce contact"),
    "erase_confirm": (
        "Type ERASE to confirm: every piece of this contact's data is removed or anonymised, for good.",
        "Tapez ERASE pour confirmer : toutes les données de ce contact sont supprimées ou anonymisées, définitivement.",
    ),
    "erase_typo": ("Type ERASE in capitals to confirm the erasure.", "Tapez ERASE en majuscules pour confirmer."),
    "erased": ("The contact was erased.", "Le contact a été effacé."),
    "erasures": ("Erasures", "Effacements"),
    "failed_deliveries": ("Failed deliveries", "Réceptions en échec"),
    "received": ("Received", "Reçue"),
    "source": ("Source", "Source"),
    "topic": ("Topic", "Sujet"),
    "reason": ("Reason", "Raison"),
    "attempts": ("Attempts", "Tentatives"),
    "replay": ("Replay", "Rejouer"),
    "replayed": ("Delivery replayed", "Réception rejouée"),
    "download_yaml": ("Download the tenant file (YAML)", "Télécharger le fichier de la boutique (YAML)"),
    "upload_yaml": ("Upload a changed tenant file", "Envoyer un fichier de boutique modifié"),
    "upload": ("Upload and apply", "Envoyer et appliquer"),
    "secrets_note": (
        "Secrets are masked; leave a masked value as it is to keep the stored secret.",
        "Les secrets sont masqués ; laissez une valeur masquée telle quelle pour garder le secret enregistré.",
    ),
    "read_only": (
        "Read-only access: ask an owner to change this.",
        "Accès en lecture seule : demandez à un propriétaire.",
    ),
    "not_found": ("Not found.", "Introuvable."),
    "bad_request": ("This request is not valid.", "Cette requête n'est pas valide."),
    "too_large": ("The file is too large.", "Le fichier est trop volumineux."),
    "when": ("When", "Quand"),
    "who": ("Who", "Qui"),
    "what": ("What", "Quoi"),
    "language": ("Language", "Langue"),
    "switch_tenant": ("Switch shop", "Changer de boutique"),
    "open": ("Open", "Ouvrir"),
    "result": ("result", "résultat"),
    "no_chart_data": ("No data for this period.", "Aucune donnée sur la période."),
}


def lang() -> str:
    """The language of the current request: ``en`` or ``fr``."""
    found = getattr(g, "console_lang", None)
    if found is None:
        cookie = request.cookies.get("lang")
        found = cookie if cookie in LANGS else (request.accept_languages.best_match(LANGS) or "en")
        g.console_lang = found
    return found


def t(key: str) -> str:
    """The text of ``key`` in the request's language (the key itself when unknown, so a gap shows)."""
    pair = CATALOG.get(key)
    if pair is None:
        return key
    return pair[1] if lang() == "fr" else pair[0]
