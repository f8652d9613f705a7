"""WooCommerce connector: REST API v3 (``/wp-json/wc/v3``) client, pure mapping, connector."""
