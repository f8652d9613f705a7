"""Revenue attribution: which message an order is credited to.

The rule (docs/reports.md): an order is credited to the message whose link the
contact clicked last within the click window before the order (default 5
days), else to the message they opened last within the open window (default
1 day), else to nothing. The amount credited is the order's total while it is
paid or completed, and zero once it is refunded, cancelled or failed: a
refund subtracts what the order had brought.

- ``settings``: the tenant file's ``attribution`` section (the windows).
- ``rules``: the rule itself, pure.
- ``attribute``: applying it to orders (the pipeline's reaction, the recompute of history).
- ``store``: the ``order_attributions`` table and its SQL.
"""
