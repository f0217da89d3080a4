"""The control service rejects what it must not do, before doing any of it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from reachwatch.control import ControlServer, Limits


async def _post(url: str, data: Any) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession() as session,
        session.post(url, data=data, headers={"Content-Type": "application/json"}) as response,
    ):
        return response.status, orjson.loads(await response.read())


def _bad_request(data: Any, limits: Limits | None = None) -> tuple[int, dict[str, Any]]:
    async def main() -> tuple[int, dict[str, Any]]:
        async with ControlServer("127.0.0.1", 0, limits=limits) as server:
            return await _post(server.url, data)

    return asyncio.run(main())


def test_oversize_request_is_400(connect_log: list[tuple[str, Any]]) -> None:
    body = orjson.dumps({"http_request": "https://x.com/", "pad": "a" * (70 * 1024)})
    status, doc = _bad_request(body)
    assert status == 400
    assert "larger than 65536 bytes" in doc["error"]
    assert all(addr[0] == "127.0.0.1" for _, addr in connect_log)  # only the test's own POST


def test_oversize_chunked_request_is_400() -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):  # no Content-Length: the limit must hold while reading
            yield b" " * 4096

    status, doc = _bad_request(chunks())
    assert status == 400
    assert "larger than" in doc["error"]


def test_malformed_json_is_400() -> None:
    status, doc = _bad_request(b'{"http_request": "https://x.com/",')
    assert status == 400
    assert doc["error"].startswith("request body is not JSON")


def test_too_many_addresses_is_400() -> None:
    body = orjson.dumps(
        {"http_request": "https://x.com/", "tcp_connect": [f"1.1.1.{i}:443" for i in range(33)]}
    )
    status, doc = _bad_request(body)
    assert (status, doc) == (400, {"error": "tcp_connect lists more than 32 addresses"})


def test_limits_are_configurable() -> None:
    body = orjson.dumps({"http_request": "https://x.com/", "tcp_connect": ["1.1.1.1:443"] * 3})
    status, doc = _bad_request(body, Limits(max_endpoints=2))
    assert status == 400
    assert "more than 2" in doc["error"]


def test_non_web_url_is_400() -> None:
    status, doc = _bad_request(orjson.dumps({"http_request": "gopher://x.com/"}))
    assert status == 400
    assert "http:// or https://" in doc["error"]


def test_get_describes_the_service() -> None:
    async def main() -> dict[str, Any]:
        async with (
            ControlServer("127.0.0.1", 0) as server,
            aiohttp.ClientSession() as session,
            session.get(server.url) as response,
        ):
            assert response.status == 200
            doc: dict[str, Any] = orjson.loads(await response.read())
            return doc

    doc = asyncio.run(main())
    assert doc["allow_private"] is False
    assert doc["max_endpoints"] == 32


def test_port_zero_picks_a_port_and_ipv6_urls_are_bracketed() -> None:
    async def main() -> str:
        async with ControlServer("::1", 0) as server:
            assert server.port > 0
            return server.url

    assert asyncio.run(main()).startswith("http://[::1]:")
