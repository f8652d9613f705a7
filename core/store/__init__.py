"""The store: the one place in core that talks SQL (SQLAlchemy 2 Core).

Every function takes a connection and the tenant id first; every query is
scoped by tenant. Call them inside ``with engine.begin() as conn:``.
"""
