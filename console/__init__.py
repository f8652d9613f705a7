"""The agency console: server-rendered pages under ``/console`` for agencies and shop owners.

``install(app)`` adds the console's blueprint to the web service's Flask app
(``relance.wsgi`` composes them); every page reaches the runtime through
``console.context``. Pages: the agency overview, a tenant's dashboard, flows,
contacts, failed deliveries and settings (docs/console.md).
"""
