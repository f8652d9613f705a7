"""Received payloads: WooCommerce webhook deliveries, Event API batches and tracker batches.

The web service (``webhooks``) stores each one raw before it answers and
hands its id over; a worker (``jobs.inbound``) or ``relance deliveries
--replay`` processes it here: the payload becomes Event API v1 events (with
the connectors' pure mappings) that go through the core's pipeline. Nothing
here knows HTTP or RQ.

- ``deliveries``: the stored deliveries (store, read, list, settle).
- ``processing``: process one stored delivery, idempotently.
- ``woocommerce``, ``events_api``, ``tracker``: what each source's payload
  turns into, and the checks made before one is stored.
- ``metrics``: the counters the processing and the web service keep in Redis.
"""
