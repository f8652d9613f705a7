"""HTTP for the WooCommerce REST API v3: auth from the ``woocommerce`` package, retries from ``HttpClient``.

Why not ``woocommerce.API`` itself: it calls ``requests.request`` per call (no
session, so no keep-alive across a 1,000-page sync), has no retries, no
``Retry-After``, a 5 s default timeout and no error sorting. So the requests
go through ``connectors.http.HttpClient`` (timeouts, retries with backoff,
401/403 -> one clear line), and the package provides what it is good at, the
three ways WooCommerce authenticates:

- HTTPS: HTTP Basic auth with the consumer key and secret (the default);
- HTTPS with ``query_string_auth: true``: the key and secret as query
  parameters, for servers that drop the ``Authorization`` header;
- plain HTTP: OAuth 1.0a one-legged signing by ``woocommerce.oauth.OAuth``,
  applied to each prepared request (so retries are signed afresh).

List parameters (``exclude``) are sent comma-separated, which WordPress
accepts (``wp_parse_id_list``) and which OAuth signing keeps intact.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.auth import AuthBase, HTTPBasicAuth
from woocommerce.oauth import OAuth

from connectors.errors import ConnectorError
from connectors.http import HttpClient

API_PREFIX = "wp-json/wc/v3"
MAX_PAGE_SIZE = 100
AUTH_HINT = (
    "the consumer_key and consumer_secret in the tenant file (WooCommerce > Settings > Advanced > REST API, "
    "a key with Read permission); if they are right, the server may drop the Authorization header: "
    "set credentials.query_string_auth: true"
)


class OAuth1Signer(AuthBase):
    """Signs each request with WooCommerce's one-legged OAuth 1.0a (plain HTTP shops only)."""

    def __init__(self, consumer_key: str, consumer_secret: str) -> None:
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        oauth = OAuth(
            url=request.url,
            consumer_key=self.consumer_key,
            consumer_secret=self.consumer_secret,
            version="wc/v3",
            method=request.method or "GET",
            oauth_timestamp=int(time.time()),
        )
        request.url = oauth.get_oauth_url()
        return request


@dataclass(frozen=True)
class ListPage:
    """One page of a WooCommerce collection and its paging headers."""

    records: list[Any]
    total: int | None
    total_pages: int | None
    next_url: str | None


def _int_header(response: requests.Response, name: str) -> int | None:
    value = response.headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


class WooClient:
    """Reads collections of one WooCommerce shop."""

    def __init__(
        self,
        url: str,
        consumer_key: str,
        consumer_secret: str,
        *,
        tenant: str,
        query_string_auth: bool = False,
        timeout: float = 30.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        max_tries: int = 5,
    ) -> None:
        auth: Any = None
        base_params: dict[str, Any] = {}
        if url.lower().startswith("https://"):
            if query_string_auth:
                base_params = {"consumer_key": consumer_key, "consumer_secret": consumer_secret}
            else:
                auth = HTTPBasicAuth(consumer_key, consumer_secret)
        else:
            auth = OAuth1Signer(consumer_key, consumer_secret)
        options: dict[str, Any] = {}
        if session is not None:
            options["session"] = session
        if sleep is not None:
            options["sleep"] = sleep
        self.http = HttpClient(
            base_url=url.rstrip("/") + "/" + API_PREFIX,
            tenant=tenant,
            timeout=timeout,
            max_tries=max_tries,
            auth=auth,
            base_params=base_params,
            auth_hint=AUTH_HINT,
            **options,
        )

    def fetch_page(self, collection: str, params: Mapping[str, Any]) -> ListPage:
        """GET one page of ``/wp-json/wc/v3/<collection>``; raise ConnectorError if the answer is not a list."""
        try:
            data, response = self.http.get_json(collection, params)
        except ConnectorError as exc:
            if "HTTP 404" in str(exc):
                raise ConnectorError(
                    f"{exc}; check the shop URL, that WooCommerce is active and that WordPress uses "
                    "pretty permalinks (Settings > Permalinks: anything but Plain)"
                ) from exc
            raise
        if not isinstance(data, list):
            raise ConnectorError(
                f"tenant {self.http.tenant}: /{collection} did not answer a list; check the shop URL points at WordPress"
            )
        next_link = response.links.get("next", {}).get("url")
        return ListPage(
            records=data,
            total=_int_header(response, "X-WP-Total"),
            total_pages=_int_header(response, "X-WP-TotalPages"),
            next_url=next_link,
        )
