"""The flows' SQL: runs, the outbox, the facts a batch of runs needs, and the queries of the flows' modules.

The rest of ``core.flows`` hands a connection to these functions and never
builds a statement itself (``docs/architecture.md``, "Where SQL lives").
"""
