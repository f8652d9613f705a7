"""``bench/webhooks_gunicorn.py --compare-plain``: the web service without the WSGI fast path (Flask serves every request)."""

from __future__ import annotations

from relance.wsgi import make_app

app = make_app(RELANCE_FAST_INTAKE=False)
