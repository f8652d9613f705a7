"""Connectors: poll a shop's REST API and turn what changed into Event API v1 events.

One sub-package per platform, each a client (HTTP only) and a mapping (pure:
platform payload -> events). ``connectors.base`` is the small interface all
three implement.
"""
