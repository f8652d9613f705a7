"""Relance's composition root: settings from the environment, wiring, the CLI and the demo.

This is the one place that reads the environment and builds engines, Redis
connections and the web app; ``core``, ``connectors``, ``webhooks`` and
``jobs`` get what they need passed in.
"""

__version__ = "0.1.0"
