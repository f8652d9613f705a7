"""The attribution's SQL: its table and the loads and writes of ``core.attribution``."""
