"""Reading a stored body back: the one JSON decoding every source's processing uses."""

from __future__ import annotations

import json
from typing import Any

from inbound.errors import BadPayloadError


def json_body(body: bytes) -> Any:
    """The JSON document of a stored body.

    Raises BadPayloadError (the delivery fails, it is not retried) when the
    body is not JSON, or is nested deeper than Python's parser goes.
    """
    try:
        return json.loads(body)
    except RecursionError:
        raise BadPayloadError("the body is not JSON we can read (nested too deeply)") from None
    except ValueError as exc:
        raise BadPayloadError(f"the body is not JSON ({exc})") from None
