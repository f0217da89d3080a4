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
from reachwatch.control._measure import Measurement
from reachwatch.control._request import BadRequest, parse_request

log = logging.getLogger("reachwatch.control")

_CONFIG_KEY = web.AppKey("config", ControlConfig)
_SLOTS_KEY = web.AppKey("slots", asyncio.Semaphore)


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(doc), status=status, content_type="application/json")


async def _read_body(request: web.Request, limit: int) -> bytes:
    # Content-Length can lie or be absent (chunked): read at most one byte past the limit.
    if request.content_length is not None and request.content_length > limit:
        raise BadRequest(f"request body is larger than {limit} bytes")
    body = await request.content.read(limit + 1)
    if len(body) > limit:
        raise BadRequest(f"request body is larger than {limit} bytes")
    return body


async def _handle_check(request: web.Request) -> web.Response:
    config = request.app[_CONFIG_KEY]
    limits = config.limits
    try:
        body = await _read_body(request, limits.max_body_bytes)
        try:
            doc = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"request body is not JSON: {exc}") from None
        control_request = parse_request(doc, max_endpoints=limits.max_endpoints)
    except BadRequest as exc:
        return _json({"error": str(exc)}, status=400)

    slots = request.app[_SLOTS_KEY]
    try:
        await asyncio.wait_for(slots.acquire(), limits.queue_wait)
    except TimeoutError:
        return _json({"error": "the control is busy, try again later"}, status=503)
    started = time.monotonic()
    try:
        # Every step has its own timeout inside the budget; this guard only catches a step
        # that ignores its timeout, so one request can never hold a slot forever.
        answer = await asyncio.wait_for(
            Measurement(control_request, config).run(), limits.budget + 5.0
        )
    except TimeoutError:
        return _json({"error": "the measurement exceeded the control's time budget"}, status=503)
    except Exception:
        # A bug in measuring one URL must not take the service down or leak a traceback.
        log.exception("measuring %s failed", control_request.url)
        return _json({"error": "the control failed to measure this URL"}, status=500)
    finally:
        slots.release()
    log.info(
        "measured %s (%d addresses) in %.2fs",
        control_request.url,
        len(answer["tcp_connect"]),
        time.monotonic() - started,
    )
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
        }
    )


def make_app(config: ControlConfig) -> web.Application:
    """The aiohttp application of a control, for embedding in another server."""
    # client_max_size is a second fence behind _read_body's own limit.
    app = web.Application(client_max_size=config.limits.max_body_bytes + 1)
    app[_CONFIG_KEY] = config
    app[_SLOTS_KEY] = asyncio.Semaphore(config.limits.max_concurrent_requests)
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

    @property
    def url(self) -> str:
        return _url(self.host, self.port)

    async def start(self) -> Self:
        if self._runner is not None:
            raise RuntimeError("ControlServer already started")
        runner = web.AppRunner(make_app(self.config), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        try:
            await site.start()
        except OSError:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])  # the port picked when asked for port 0
        return self

    async def stop(self) -> None:
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
