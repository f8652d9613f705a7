"""Relance core: the shared model, events, identity, storage and business rules.

Nothing in here knows about HTTP, Flask, RQ or any platform. Clocks, database
engines and settings are passed in as arguments.
"""
