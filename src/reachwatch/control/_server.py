"""The control's HTTP service: POST a TH request to `/`, get the TH response back."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Any, Self

import orjson
from aiohttp import web

from reachwatch.control._config import ControlConfig, Limits
from reachwatch.control._guard import ConnectionCounts, FairSlots, client_key, guarded_factory
from reachwatch.control._measure import Measurement
from reachwatch.control._request import BadRequest, ControlRequest, parse_request

log = logging.getLogger("reachwatch.control")

_CONFIG_KEY = web.AppKey("config", ControlConfig)
_SLOTS_KEY = web.AppKey("slots", FairSlots)


def _json(doc: Any, status: int = 200) -> web.Response:
    response = web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")
    # One request per connection: a kept-alive connection would need its own header deadline.
    response.force_close()
    return response


async def _read_body(request: web.Request, limit: int) -> bytes:
    # Content-Length can lie or be absent (chunked): read at most one byte past the limit.
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"request body is larger than {limit} bytes")
    body = bytearray()
    # read(n) returns what has arrived so far, not n bytes: a body in several segments takes
    # several reads.
    while chunk := await request.content.read(limit + 1 - len(body)):
        body += chunk
        if len(body) > limit:
            raise BadRequest(f"request body is larger than {limit} bytes")
    return bytes(body)


async def _parse(request: web.Request, limits: Limits) -> ControlRequest:
    try:
        body = await asyncio.wait_for(
            _read_body(request, limits.max_body_bytes), limits.body_timeout
        )
    except TimeoutError:
        raise _SlowBody(f"request body not received within {limits.body_timeout:g}s") from None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"request body is not JSON: {exc}") from None
    return parse_request(doc, max_endpoints=limits.max_endpoints)


class _SlowBody(BadRequest):
    """The body did not arrive in time; answered with 408."""


def _busy(reason: str) -> web.Response:
    response = _json({"error": reason}, status=503)
    response.headers["Retry-After"] = "5"
    return response


async def _handle_check(request: web.Request) -> web.StreamResponse:
    config = request.app[_CONFIG_KEY]
    limits = config.limits
    try:
        control_request = await _parse(request, limits)
    except BadRequest as exc:
        return _json({"error": str(exc)}, status=408 if isinstance(exc, _SlowBody) else 400)

    slots = request.app[_SLOTS_KEY]
    client = client_key(request.transport.get_extra_info("peername") if request.transport else None)
    if not slots.try_reserve(client):
        return _busy(f"at most {slots.per_client} measurements at a time per client")
    try:
        if not await slots.acquire(limits.queue_wait):
            return _busy("the control is busy, try again later")
        try:
            return await _measure(control_request, config, _client_address(request))
        finally:
            slots.release()
    finally:
        slots.unreserve(client)


def _client_address(request: web.Request) -> str | None:
    """The address the client came from, as a probe should scrub it (IPv4 unwrapped)."""
    peer = request.transport.get_extra_info("peername") if request.transport else None
    host = peer[0] if isinstance(peer, tuple) and peer else None
    try:
        ip = ipaddress.ip_address(str(host).split("%", 1)[0])
    except ValueError:
        return None
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return str(mapped or ip)


async def _measure(
    control_request: ControlRequest, config: ControlConfig, client: str | None
) -> web.Response:
    started = time.monotonic()
    try:
        # Every step has its own timeout inside the budget; this guard only catches a step
        # that ignores its timeout, so one request can never hold a slot forever.
        answer = await asyncio.wait_for(
            Measurement(control_request, config).run(), config.limits.budget + 5.0
        )
    except TimeoutError:
        return _json({"error": "the measurement exceeded the control's time budget"}, status=503)
    except Exception:
        # A bug in measuring one URL must not take the service down or leak a traceback.
        log.exception("measuring %s failed", control_request.url)
        return _json({"error": "the control failed to measure this URL"}, status=500)
    log.info(
        "measured %s (%d addresses) in %.2fs",
        control_request.url,
        len(answer["tcp_connect"]),
        time.monotonic() - started,
    )
    # As OONI's probe services tell a probe its address: the probe scrubs it from what it
    # records, which it cannot do alone behind NAT (it never sees its public address).
    answer["x_client_address"] = client
    return _json(answer)


async def _handle_info(request: web.Request) -> web.Response:
    config = request.app[_CONFIG_KEY]
    return _json(
        {
            "service": "reachwatch control",
            "usage": "POST an OONI test-helper request as JSON to this URL",
            "allow_private": config.allow_private,
            "max_body_bytes": config.limits.max_body_bytes,
            "max_endpoints": config.limits.max_endpoints,
            "max_per_client": config.limits.max_per_client,
            "client_address": _client_address(request),
        }
    )


def make_app(config: ControlConfig) -> web.Application:
    """The aiohttp application of a control, for embedding in another server."""
    # client_max_size is a second fence behind _read_body's own limit.
    app = web.Application(client_max_size=config.limits.max_body_bytes + 1)
    app[_CONFIG_KEY] = config
    limits = config.limits
    app[_SLOTS_KEY] = FairSlots(limits.max_concurrent_requests, limits.max_per_client)
    app.router.add_post("/", _handle_check)
    app.router.add_get("/", _handle_info)
    return app


def _url(host: str, port: int) -> str:
    with contextlib.suppress(ValueError):
        if isinstance(ipaddress.ip_address(host), ipaddress.IPv6Address):
            return f"http://[{host}]:{port}/"
    return f"http://{host}:{port}/"


class ControlServer:
    """A control service running in this event loop.

    `async with ControlServer("127.0.0.1", port=0, allow_private=True) as server:` starts it on a
    free port; `server.url` is what `query_control` and `reachwatch probe --control` take.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        resolver: tuple[str, int] | None = None,
        ca_file: str | None = None,
        allow_private: bool = False,
        ports: Iterable[int] | None = None,
        limits: Limits | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.config = ControlConfig(
            resolver=resolver,
            ca_file=ca_file,
            allow_private=allow_private,
            ports=frozenset(ports) if ports is not None else None,
            limits=limits or Limits(),
        )
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    async def start(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("ControlServer already started")
        runner = web.AppRunner(make_app(self.config), access_log=None)
        await runner.setup()
        limits = self.config.limits
        assert runner.server is not None
        factory = guarded_factory(
            runner.server,
            ConnectionCounts(limits.max_connections_per_client, limits.max_connections),
            header_timeout=limits.header_timeout,
            lifetime=limits.connection_lifetime,
        )
        try:
            # Not a web.TCPSite: its protocol factory cannot be wrapped.
            listener = await asyncio.get_running_loop().create_server(
                factory, self.host, self.port, reuse_address=True
            )
        except OSError:
            await runner.cleanup()
            raise
        self._runner, self._listener = runner, listener
        self.port = int(listener.sockets[0].getsockname()[1])  # the port picked for port 0
        return self

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
