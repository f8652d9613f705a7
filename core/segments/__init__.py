"""Segments: who a contact is for the shop, kept current as contacts act.

The rule language (``rules``: parsed and validated) and the tenant file's
section (``settings``) are plain Python; everything else is set-based SQL in
``store``: the built-in segments' query (``store.builtin``: the four
typologies, ``at_risk``, ``new_customer``), rules compiled to SQL for SQLite
and PostgreSQL (``store.compiler``), memberships (``store.membership``),
per-contact figures (``store.metrics``: RFM, lead score, predictions) and the
refreshes (``store.refresh``: a whole tenant, periodic; one contact, after each
of its events through ``reaction``). Changes become ``segment_entered`` /
``segment_exited`` events (``store.changes``), recorded through the pipeline.
"""
