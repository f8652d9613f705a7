"""HTTP for connectors: timeouts, retries with backoff, and errors sorted before any retry.

429, 5xx, timeouts and connection errors are retried (exponential backoff with
jitter, honouring ``Retry-After``); 401 and 403 stop the sync with a message
naming the tenant; other 4xx are fatal. JSON numbers are parsed as Decimal so
that money stays exact. Only the method, path and status are logged: query
strings may carry keys.
"""

from __future__ import annotations

import json
import logging
import random
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from email.utils import parsedate_to_datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import requests

from connectors.errors import ConnectorAuthError, ConnectorError

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504, 520, 521, 522, 523, 524})


def _version() -> str:
    """The installed distribution's version (connectors may not import the ``relance`` package)."""
    try:
        return metadata.version("relance")
    except metadata.PackageNotFoundError:
        return "dev"


USER_AGENT = f"Relance/{_version()} (+https://github.com/relance)"
MAX_RETRY_AFTER = 300.0


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def decode_json(response: requests.Response) -> Any:
    """Parse a JSON body with exact decimals; raise ConnectorError if it is not JSON."""
    try:
        return json.loads(response.content, parse_float=Decimal)
    except ValueError as exc:
        kind = response.headers.get("Content-Type", "unknown content")
        raise ConnectorError(
            f"{urlsplit(response.url).path} answered {kind}, not JSON: check the shop URL and that its REST API is enabled"
        ) from exc


#: Every HttpClient's session, for ``forget_connections``.
_sessions: weakref.WeakSet[requests.Session] = weakref.WeakSet()


def forget_connections() -> None:
    """Close the pooled connections of every client's session, in a forked child (``connectors.prefetch``):
    their sockets are shared with the parent, which may use them again. Closing drops the child's copies
    only (no TLS close is sent); the sessions open new connections when next asked."""
    for session in list(_sessions):
        session.close()


@dataclass
class HttpClient:
    """A small HTTP client for one shop's API.

    ``auth`` and ``headers`` are applied to every request; ``params`` given to
    ``get`` are merged with ``base_params`` (e.g. ``output_format=JSON``).
    """

    base_url: str
    tenant: str
    timeout: float = 30.0
    max_tries: int = 5
    backoff: float = 1.0
    auth: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)
    base_params: Mapping[str, Any] = field(default_factory=dict)
    session: requests.Session = field(default_factory=requests.Session)
    sleep: Callable[[float], None] = time.sleep
    auth_hint: str = "the API credentials in the tenant file"

    def __post_init__(self) -> None:
        _sessions.add(self.session)

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> requests.Response:
        """GET with retries; return the 2xx (or 304) response or raise a ConnectorError."""
        return self.request("GET", path, params=params)

    def get_json(self, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, requests.Response]:
        """GET and decode the JSON body (decimals exact); return (data, response)."""
        response = self.get(path, params)
        return decode_json(response), response

    def request(
        self, method: str, path: str, params: Mapping[str, Any] | None = None, **kwargs: Any
    ) -> requests.Response:
        url = self.url(path)
        merged = {**self.base_params, **(params or {})}
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **self.headers}
        last_problem = "no answer"
        for attempt in range(1, self.max_tries + 1):
            try:
                response = self.session.request(
                    method, url, params=merged, headers=headers, auth=self.auth, timeout=self.timeout, **kwargs
                )
            except (requests.Timeout, requests.ConnectionError) as exc:
                last_problem = f"{type(exc).__name__}"
                log.warning(
                    "tenant %s: %s %s failed (%s), try %d/%d",
                    self.tenant,
                    method,
                    path,
                    last_problem,
                    attempt,
                    self.max_tries,
                )
                self._wait(attempt, None)
                continue
            status = response.status_code
            log.debug("tenant %s: %s %s -> %d", self.tenant, method, path, status)
            if status < 300 or status == 304:
                return response
            if status in (401, 403):
                raise ConnectorAuthError(
                    f"tenant {self.tenant}: the shop refused our credentials (HTTP {status} on {path}); check {self.auth_hint}"
                )
            if status in RETRY_STATUSES:
                last_problem = f"HTTP {status}"
                log.warning(
                    "tenant %s: %s %s -> %d, try %d/%d", self.tenant, method, path, status, attempt, self.max_tries
                )
                if attempt < self.max_tries:
                    self._wait(attempt, retry_after_seconds(response.headers.get("Retry-After")))
                continue
            raise ConnectorError(f"tenant {self.tenant}: {method} {path} failed with HTTP {status}{_reason(response)}")
        raise ConnectorError(
            f"tenant {self.tenant}: {method} {path} still failing after {self.max_tries} tries ({last_problem}); "
            "the shop may be down, the next sync will resume from the last saved page"
        )

    def _wait(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is not None:
            delay = min(retry_after, MAX_RETRY_AFTER)
        else:
            delay = min(60.0, self.backoff * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)  # noqa: S311 - jitter
        self.sleep(delay)


def _reason(response: requests.Response) -> str:
    """A short reason from a platform's error body (WooCommerce/Magento "message", PrestaShop "errors")."""
    try:
        body = response.json()
    except ValueError:
        return ""
    message = None
    if isinstance(body, dict):
        message = body.get("message")
        errors = body.get("errors")
        if not message and isinstance(errors, list) and errors and isinstance(errors[0], dict):
            message = errors[0].get("message")
    if isinstance(message, str) and message:
        return f": {message[:200]}"
    return ""


class _Later(Future[Any]):
    """A request made when its result is first asked for, in the asking thread."""

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__()
        self._call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None = (fn, args, kwargs)

    def result(self, timeout: float | None = None) -> Any:
        call, self._call = self._call, None
        if call is not None and not self.done():  # not cancelled, not made yet
            fn, args, kwargs = call
            try:
                self.set_result(fn(*args, **kwargs))
            except Exception as exc:  # noqa: BLE001 - raised below, as a thread's future would raise it
                self.set_exception(exc)
        return super().result(timeout)


class InTurn(Executor):
    """An executor without threads: each request is made when its result is asked for, in the asking
    thread, so one at a time and in the order a fetch without threads would make them."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return _Later(fn, args, kwargs)


@contextmanager
def request_threads(concurrent: int, name: str) -> Iterator[Executor]:
    """Threads for a fetch's requests besides the fetch's own (the next page while a page is mapped, a
    page's lookups side by side): ``concurrent - 1`` of them, so that at most ``concurrent`` requests
    (``sync.concurrent_requests`` of the tenant file) are in flight; ``InTurn`` for one. When the block
    ends (also when the fetch is closed early) the request in flight ends and none is started."""
    pool: Executor = InTurn() if concurrent <= 1 else ThreadPoolExecutor(concurrent - 1, thread_name_prefix=name)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
