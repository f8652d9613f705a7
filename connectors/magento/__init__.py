"""The Magento 2 / Adobe Commerce connector: REST ``/rest/<scope>/V1`` with an integration token."""
