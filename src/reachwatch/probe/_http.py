"""HTTP(S) GET pinned to an address, streamed with a cap, following redirects."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import ipaddress
import re
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import h11

from reachwatch.probe._clock import now, span
from reachwatch.probe._conn import Connection, format_endpoint, open_tcp
from reachwatch.probe._failures import failure_from_exception
from reachwatch.probe._system import system_address
from reachwatch.probe._targets import TargetError, ascii_url

BODY_CAP = 512 * 1024
# What OONI's Go HTTP client reports for a Location it cannot parse.
INVALID_LOCATION = "unknown_failure: failed to parse Location header"
_REDIRECT_CODES = {301, 302, 303, 307, 308}
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_TITLE_MAX = 256
# The response's arrival timeline keeps one point per interval (plus the latest), so its size
# is bounded by the fetch's timeout whatever the link speed.
ARRIVAL_INTERVAL = 0.05
# What a current desktop browser sends: servers and middleboxes treat odd clients differently.
_BROWSER_HEADERS = [
    (
        "User-Agent",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
        "(KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
    ),
    ("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"),
    ("Accept-Language", "en-US,en;q=0.9"),
]

Resolve = Callable[[str], Awaitable[str]]


@dataclass(slots=True)
class Exchange:
    """One request and what came back of its response (possibly partial)."""

    url: str
    method: str = "GET"
    address: str | None = None
    port: int = 0
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)  # at most the cap
    body_length: int = 0
    truncated: bool = False
    failure: str | None = None
    alpn: str | None = None
    # (monotonic time, cumulative bytes of the response) as they arrived, after TLS.
    arrivals: list[tuple[float, int]] = field(default_factory=list)
    received: int = 0

    def arrived(self, size: int) -> None:
        """Count `size` more bytes of the response; a point closer than ARRIVAL_INTERVAL to the
        one before the latest replaces the latest, so the last point is always the last byte."""
        self.received += size
        moment = now()
        points = self.arrivals
        if len(points) >= 2 and moment - points[-2][0] < ARRIVAL_INTERVAL:
            points[-1] = (moment, self.received)
        else:
            points.append((moment, self.received))

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)


async def exchange(
    url: str,
    *,
    address: str | None,
    ssl_context: ssl.SSLContext,
    method: str = "GET",
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    body_cap: int = BODY_CAP,
    read_limit: int | None = None,
    on_data: Callable[[int], None] | None = None,
    resolve: Resolve | None = None,
    timeout: float | None = None,
    local_address: str | None = None,
) -> Exchange:
    """One HTTP/1.1 request to `address` (or the URL's host, resolved) with SNI/Host of the URL.

    Keeps at most `body_cap` bytes of the body and stops reading after `read_limit` bytes
    (default: the cap), so an endless body costs no more memory than the cap. Network failures
    and the timeout land in `failure`; whatever arrived before them is kept.
    """
    result = Exchange(url=url, method=method)
    plan = _Plan(
        address=address,
        ssl_context=ssl_context,
        headers=headers or _BROWSER_HEADERS,
        body=body,
        body_cap=body_cap,
        read_limit=body_cap if read_limit is None else read_limit,
        on_data=on_data,
        resolve=resolve,
        local_address=local_address,
    )
    task = asyncio.ensure_future(_fill(result, plan))
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if task not in done:
        task.cancel()
        # Let the cancelled exchange close its socket before going on.
        await asyncio.gather(task, return_exceptions=True)
        result.failure = result.failure or "generic_timeout_error"
    return result


@dataclass(frozen=True, slots=True)
class _Plan:
    """Everything about a request besides its URL."""

    address: str | None
    ssl_context: ssl.SSLContext
    headers: list[tuple[str, str]]
    body: bytes
    body_cap: int
    read_limit: int
    on_data: Callable[[int], None] | None
    resolve: Resolve | None
    local_address: str | None


async def _fill(result: Exchange, plan: _Plan) -> None:
    parts = urlsplit(result.url)
    try:
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise _HttpFailure("http_unsupported_url")
        host = parts.hostname
        result.port = parts.port or (443 if parts.scheme == "https" else 80)
        result.address = plan.address or await _address_for(host, plan.resolve)
        conn = Connection(await open_tcp(result.address, result.port, plan.local_address))
        try:
            if parts.scheme == "https":
                await conn.start_tls(plan.ssl_context, host)
                assert conn.tls is not None
                result.alpn = conn.tls.selected_alpn_protocol()
                if result.alpn not in (None, "http/1.1"):
                    raise _HttpFailure(f"http_unsupported_protocol: {result.alpn}")
            client = await _request(conn, result, parts, plan.headers, plan.body)
            await _read_response(conn, client, result, plan.body_cap, plan.read_limit, plan.on_data)
        finally:
            conn.close()
    except _HttpFailure as exc:
        result.failure = str(exc)
    except h11.RemoteProtocolError as exc:
        result.failure = "eof_error" if "without sending complete" in str(exc) else _protocol(exc)
    except Exception as exc:
        result.failure = failure_from_exception(exc)


async def http_fetch(
    url: str,
    *,
    address: str | None,
    timeout: float,
    ssl_context: ssl.SSLContext,
    body_cap: int = BODY_CAP,
    max_redirects: int = 10,
    resolve: Resolve | None = None,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> list[dict[str, Any]]:
    """GET url pinned to `address` for the URL's own host, following redirects.

    Hosts met along redirects are looked up with `resolve` (the system resolver when None).
    `timeout` bounds the whole chain. Returns OONI requests entries, the last request first.
    """
    original_host = urlsplit(url).hostname
    entries: list[dict[str, Any]] = []
    deadline = now() + timeout
    current = url
    for hop in range(max_redirects + 1):
        begin = now()
        same_host = urlsplit(current).hostname == original_host
        result = await exchange(
            current,
            address=address if same_host else None,
            ssl_context=ssl_context,
            body_cap=body_cap,
            resolve=resolve,
            timeout=max(deadline - begin, 0.0),
            local_address=local_address,
        )
        origin = started if started is not None else begin
        entries.append(
            request_entry(result, span(started, begin), transaction_id + hop, origin=origin)
        )
        location = result.header("Location")
        if result.failure is not None or result.status not in _REDIRECT_CODES or not location:
            break
        following = redirect_target(current, location)
        if following is None:
            entries[-1]["failure"] = INVALID_LOCATION
            break
        current = following
    else:
        entries[-1]["failure"] = "http_too_many_redirects"
    entries.reverse()
    return entries


def redirect_location(entry: dict[str, Any]) -> str | None:
    """The Location of a requests entry that is a redirect the chain goes on from (a fetch
    of one hop reports its redirect as http_too_many_redirects); None for anything else."""
    response = entry.get("response") or {}
    if response.get("code") not in _REDIRECT_CODES:
        return None
    if entry.get("failure") not in (None, "http_too_many_redirects"):
        return None
    for name, value in response.get("headers_list") or []:
        if name.lower() == "location" and value:
            return str(value)
    return None


def redirect_target(current: str, location: str) -> str | None:
    """The URL a Location header leads to, an international host in its ASCII form; None when
    the header names no URL (e.g. unbalanced IPv6 brackets)."""
    with contextlib.suppress(UnicodeError):
        # Headers arrive as latin-1; servers put raw UTF-8 there, and browsers read it so.
        location = location.encode("latin-1").decode("utf-8")
    try:
        url = urljoin(current, location)
        # Other schemes are left as they are: the next exchange reports them as unsupported.
        return ascii_url(url) if urlsplit(url).scheme in ("http", "https") else url
    except (ValueError, TargetError):
        return None


def request_entry(
    result: Exchange, times: dict[str, float], transaction_id: int, *, origin: float
) -> dict[str, Any]:
    """An OONI requests entry for one exchange; `origin` is the monotonic time its t0/t count
    from (the measurement's start)."""
    body = bytes(result.body)
    return {
        "network": "tcp",
        "address": format_endpoint(result.address, result.port) if result.address else None,
        "alpn": result.alpn,
        "failure": result.failure,
        "request": {
            "method": result.method,
            "url": result.url,
            "headers_list": [list(h) for h in result.request_headers],
            "headers": dict(result.request_headers),
            "body": "",
            "body_is_truncated": False,
            "tor": {"exit_ip": None, "exit_name": None, "is_tor": False},
            "x_transport": "tcp",
        },
        "response": {
            "code": result.status,
            "headers_list": [list(h) for h in result.headers],
            "headers": dict(result.headers),
            "body": body_json(body) if result.status else None,
            "body_is_truncated": result.truncated,
            "x_body_length": result.body_length,
            "x_title": extract_title(body),
        },
        **times,
        "transaction_id": transaction_id,
        "x_arrivals": [[round(t - origin, 4), size] for t, size in result.arrivals],
    }


def body_json(body: bytes) -> str | dict[str, str]:
    """OONI's body encoding: text when it is UTF-8, otherwise base64."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        return {"format": "base64", "data": base64.b64encode(body).decode("ascii")}


def extract_title(body: bytes) -> str | None:
    match = _TITLE.search(body)
    if match is None:
        return None
    text = match.group(1).decode("utf-8", errors="replace")
    return " ".join(html.unescape(text).split())[:_TITLE_MAX]


async def _address_for(host: str, resolve: Resolve | None) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if resolve is not None:
        return await resolve(host)
    return await system_address(host)


async def _request(
    conn: Connection,
    result: Exchange,
    parts: Any,
    headers: list[tuple[str, str]],
    body: bytes,
) -> h11.Connection:
    default_port = 443 if parts.scheme == "https" else 80
    name = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    host_header = name if result.port == default_port else f"{name}:{result.port}"
    result.request_headers = [("Host", host_header), *headers]
    if body:
        result.request_headers.append(("Content-Length", str(len(body))))
    result.request_headers.append(("Connection", "close"))
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    client = h11.Connection(h11.CLIENT)
    request = h11.Request(method=result.method, target=target, headers=result.request_headers)
    data = client.send(request)
    if body:
        data += client.send(h11.Data(data=body))
    data += client.send(h11.EndOfMessage())
    await conn.send(data)
    return client


async def _read_response(
    conn: Connection,
    client: h11.Connection,
    result: Exchange,
    body_cap: int,
    read_limit: int,
    on_data: Callable[[int], None] | None,
) -> None:
    while True:
        event = client.next_event()
        if event is h11.NEED_DATA:
            data = await conn.recv()
            if data:
                result.arrived(len(data))
            client.receive_data(data)
        elif isinstance(event, h11.Response):
            result.status = event.status_code
            result.headers = [
                (k.decode("latin-1"), v.decode("latin-1")) for k, v in event.headers.raw_items()
            ]
        elif isinstance(event, h11.Data):
            chunk = bytes(event.data)
            result.body_length += len(chunk)
            if on_data is not None:
                on_data(len(chunk))
            room = body_cap - len(result.body)
            if room > 0:
                result.body += chunk[:room]
            if result.body_length >= read_limit:
                # Stop here: whatever follows is never read, so an endless body costs nothing.
                result.truncated = result.body_length > body_cap or _more_to_come(client)
                return
        elif isinstance(event, h11.EndOfMessage | h11.ConnectionClosed):
            result.truncated = result.body_length > body_cap
            return


def _more_to_come(client: h11.Connection) -> bool:
    """Whether the body goes on past what was read (without reading from the network)."""
    try:
        return not isinstance(client.next_event(), h11.EndOfMessage | h11.ConnectionClosed)
    except h11.RemoteProtocolError:
        return True


def _protocol(exc: h11.RemoteProtocolError) -> str:
    return f"http_protocol_error: {exc}"


class _HttpFailure(Exception):
    pass
