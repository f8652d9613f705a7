"""PrestaShop 1.7 / 8.x webservice connector.

``client`` (HTTP), ``values``, ``lookups`` and ``mapping`` (pure), ``paging`` (the
cursor), ``reference`` (the shop's reference data, per run), ``connector``
(``from_tenant``).
"""
