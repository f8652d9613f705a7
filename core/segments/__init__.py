"""Segments: who a contact is for the shop, kept current as contacts act.

Built-in segments (``builtin``: the four typologies, ``at_risk``,
``new_customer``) and the tenant's rule-based segments (``rules`` parsed and
validated, ``compiler`` turning them into SQL for SQLite and PostgreSQL) are
stored as memberships (``membership``). ``refresh`` recomputes them for a whole
tenant (periodic job) or for the one contact that acted (the pipeline
reaction), and records ``segment_entered`` / ``segment_exited`` events.
Per-contact figures (RFM, lead score, predictions) live in ``metrics``.
"""
