"""The web service, HTTP only: storefront webhooks, the Event API, the tracker, message links and health.

Each endpoint verifies a request, stores it raw (``inbound.deliveries``),
hands the stored id over to the workers and answers; processing is
``inbound``'s, run by ``jobs``. ``webhooks.app.create_app(runtime)`` builds
the Flask app from the runtime the composition root (``relance``) hands it;
nothing is built at import time, and nothing here imports ``jobs`` or
``relance``.
"""
