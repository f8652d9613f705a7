"""The built-in flows: one module each, its templates under ``templates/<lang>/<flow>/``.

Each module exports ``FLOW`` (``core.flows.plugin.BuiltinFlow``) and is listed
once in ``core.flows.registry``. See docs/architecture.md, "Adding a built-in flow".
"""

from __future__ import annotations

from pathlib import Path

#: Where the built-in flows' templates live: ``<lang>/<flow>/<step>.mjml`` and ``.sms.txt``.
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
