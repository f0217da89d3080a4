"""Ask a control for its view of a URL: the probe's side of the test-helper protocol.

It lives with the probe, which is its only caller; the control (the server side) measures
with the probe's steps, so the dependency runs one way: control on probe."""

from __future__ import annotations

import ssl
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import orjson

# The objects every answer has; anything without them did not come from a control.
_REQUIRED_KEYS = ("dns", "tcp_connect", "http_request")
_MAX_ANSWER_BYTES = 4 * 1024 * 1024


class ControlUnavailable(Exception):
    """The control could not be asked or gave no usable answer; `reason` says why.

    `down` is True when the control did not answer HTTP at all (timeout, refused, garbage):
    asking it about the next URL would most likely fail the same way.
    """

    def __init__(self, reason: str, *, down: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.down = down


def _check_control_url(control_url: str) -> None:
    parts = urlsplit(control_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ControlUnavailable(f"control URL {control_url!r} is not an http(s) URL")


async def query_control(
    control_url: str,
    *,
    target_url: str,
    addresses: list[str],
    quic: bool = True,
    throughput: bool = True,
    timeout: float = 30.0,
    ssl_context: ssl.SSLContext | None = None,
    local_address: str | None = None,
) -> dict[str, Any]:
    """The control's OONI test-helper answer (plus `x_throughput`, and `x_client_address`: the
    address the control saw the query come from) for `target_url`.

    `addresses` are the "ip:port" endpoints the probe resolved; `local_address` is the address
    to ask from (the one the probe measures from). Raises ControlUnavailable when
    the control is down, too slow, busy, or answers with an error or something malformed.
    """
    _check_control_url(control_url)
    body = {
        "http_request": target_url,
        "http_request_headers": {},
        "tcp_connect": addresses,
        "x_quic": quic,
        "x_throughput": throughput,
    }
    try:
        async with (
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    local_addr=(local_address, 0) if local_address else None
                ),
                timeout=aiohttp.ClientTimeout(total=timeout),
                trust_env=False,
            ) as session,
            session.post(
                control_url,
                data=orjson.dumps(body),
                headers={"Content-Type": "application/json"},
                ssl=ssl_context if ssl_context is not None else True,
                allow_redirects=False,
            ) as response,
        ):
            raw = await response.content.read(_MAX_ANSWER_BYTES + 1)
            status = response.status
    except TimeoutError:
        raise ControlUnavailable(
            f"control at {control_url} did not answer in {timeout:g}s", down=True
        ) from None
    except aiohttp.ClientError as exc:
        raise ControlUnavailable(
            f"control at {control_url} unreachable: {_one_line(str(exc))}", down=True
        ) from None
    return _decode_answer(control_url, status, raw)


def _decode_answer(control_url: str, status: int, raw: bytes) -> dict[str, Any]:
    if len(raw) > _MAX_ANSWER_BYTES:
        raise ControlUnavailable(f"control at {control_url} answered with an oversized document")
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        doc = None
    if status != 200:
        error = doc.get("error") if isinstance(doc, dict) else None
        raise ControlUnavailable(
            f"control at {control_url} answered HTTP {status}" + (f": {error}" if error else "")
        )
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), dict) for k in _REQUIRED_KEYS):
        raise ControlUnavailable(f"control at {control_url} answered with no TH response")
    return doc


def _one_line(text: str, limit: int = 200) -> str:
    """An error text as one short line: it ends up in a failure string and a warning line."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."
