"""Relance's composition root: settings, wiring, the CLI, the wsgi entry, the worker class and the demo.

This is the one place that reads the environment and builds engines, Redis
connections, the web app (``relance.wsgi``) and the workers
(``relance.worker``); ``core``, ``connectors``, ``transports``, ``inbound``,
``webhooks`` and ``jobs`` get what they need passed in, and none of them
imports ``relance``.
"""

__version__ = "0.1.0"
