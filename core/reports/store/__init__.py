"""The reports' SQL: set-based aggregates over messages, events, attributions and orders."""
