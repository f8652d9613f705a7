"""Flows: who gets which message, and when.

A flow is a definition (``model``): a trigger, steps (wait, condition, send,
action), an exit goal and a re-entry rule. The four built-in flows
(``builtin``) and the tenant's own (``custom``) are built from the tenant
file's ``flows`` section (``settings``). Runs live in the database
(``schema``, ``runs``): ``triggers`` starts and ends them as events arrive,
``engine`` evaluates due runs in batches under the rules that hold for every
marketing message (``rules``: consent, pressure, quiet hours) and writes the
outbox. ``simulation`` drives the same code with a simulated clock.
"""
