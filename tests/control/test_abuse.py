"""The control under abuse: floods, slow clients and greedy requests, all on loopback.

Clients are told apart by address, so each test client binds its own 127.0.0.x address.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from reachwatch.control import ControlServer, Limits
from reachwatch.lab.servers import Large, Page, WebServer

FLOODER = "127.0.0.2"
POLITE = "127.0.0.3"


@contextlib.asynccontextmanager
async def _silent_server() -> AsyncIterator[int]:
    """Accepts connections and never answers: every request to it runs into its timeout."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield int(server.sockets[0].getsockname()[1])
    finally:
        for writer in held:
            writer.close()
        server.close()


async def _ask(
    session: aiohttp.ClientSession, control: str, target: str, **extra: Any
) -> tuple[int, dict[str, Any], float]:
    body = {"http_request": target, "tcp_connect": [], "x_quic": False, "x_throughput": False}
    started = time.monotonic()
    async with session.post(control, data=orjson.dumps({**body, **extra})) as response:
        doc = orjson.loads(await response.read())
        return response.status, doc, time.monotonic() - started


def _session(address: str) -> aiohttp.ClientSession:
    # A fresh connection per request, as probes make them (the control closes each anyway).
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True, limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20))


def test_a_flood_from_one_client_leaves_the_others_served() -> None:
    limits = Limits(
        max_concurrent_requests=4, max_per_client=2, queue_wait=0.5, http_timeout=1.0, budget=2.0
    )

    async def main() -> tuple[list[int], list[tuple[int, float]]]:
        async with (
            _silent_server() as silent_port,
            WebServer({"*": Page("fine")}, host="127.0.0.1") as web,
            ControlServer("127.0.0.1", 0, allow_private=True, limits=limits) as control,
            _session(FLOODER) as flood_session,
            _session(POLITE) as polite_session,
        ):
            slow = f"http://127.0.0.1:{silent_port}/"
            flood = [_ask(flood_session, control.url, slow) for _ in range(30)]
            flooding = asyncio.gather(*flood)
            await asyncio.sleep(0.2)  # the flood holds its share before the polite client asks
            polite = []
            for _ in range(10):
                status, _doc, seconds = await _ask(
                    polite_session, control.url, f"http://127.0.0.1:{web.port}/"
                )
                polite.append((status, seconds))
            return [status for status, _, _ in await flooding], polite

    started = time.monotonic()
    flood_statuses, polite = asyncio.run(main())
    assert time.monotonic() - started < 15
    assert [status for status, _ in polite] == [200] * 10
    assert max(seconds for _, seconds in polite) < 1.0  # never waited behind the flood
    assert flood_statuses.count(200) >= 2
    assert flood_statuses.count(503) >= 20  # all but its share were turned away at once


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""  # closed without a byte: headers never complete
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def test_slow_headers_and_slow_bodies_time_out() -> None:
    limits = Limits(header_timeout=0.5, body_timeout=0.5)

    async def main() -> tuple[bool, bytes, float]:
        async with ControlServer("127.0.0.1", 0, limits=limits) as server:
            loop = asyncio.get_running_loop()
            slow_headers = socket.create_connection(("127.0.0.1", server.port))
            slow_headers.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and never the rest
            slow_body = socket.create_connection(("127.0.0.1", server.port))
            slow_body.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            started = time.monotonic()
            with slow_headers, slow_body:
                closed = await loop.run_in_executor(None, _closed_within, slow_headers, 3.0)
                slow_body.settimeout(3.0)
                answer = await loop.run_in_executor(None, slow_body.recv, 4096)
            return closed, answer, time.monotonic() - started

    closed, answer, seconds = asyncio.run(main())
    assert closed
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"request body not received within 0.5s" in answer
    assert seconds < 2.5


def test_one_client_cannot_hold_every_connection() -> None:
    limits = Limits(max_connections_per_client=3, header_timeout=30.0)

    async def main() -> tuple[list[bytes], int]:
        async with ControlServer("127.0.0.1", 0, limits=limits) as server:
            loop = asyncio.get_running_loop()
            idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(3)]
            extra = socket.create_connection(("127.0.0.1", server.port))
            extra.settimeout(3.0)
            with extra:
                refused = [await loop.run_in_executor(None, _recv_or_reset, extra)]
            async with _session(POLITE) as session, session.get(server.url) as response:
                other = response.status
            for sock in idle:
                sock.close()
            return refused, other

    refused, other = asyncio.run(main())
    assert refused == [b""]  # closed at once, without a byte of HTTP
    assert other == 200  # another client still gets in


def _recv_or_reset(sock: socket.socket) -> bytes:
    try:
        return sock.recv(1024)
    except ConnectionResetError:
        return b""


def test_one_request_cannot_make_the_control_download_or_connect_without_bound(
    connect_log: list[tuple[str, Any]],
) -> None:
    limits = Limits(max_request_bytes=1_000_000, max_request_connections=16)

    async def main() -> tuple[int, dict[str, Any], int]:
        async with (
            WebServer({"*": Large(8 << 20)}, host="127.0.0.1") as web,
            ControlServer("127.0.0.1", 0, allow_private=True, limits=limits) as control,
            _session(POLITE) as session,
        ):
            endpoints = [f"127.0.0.{i}:{web.port}" for i in range(1, 30)]
            status, doc, _ = await _ask(
                session,
                control.url,
                f"http://127.0.0.1:{web.port}/",
                tcp_connect=endpoints,
                x_throughput=True,
            )
            return status, doc, web.port

    status, doc, port = asyncio.run(main())
    assert status == 200
    to_target = [a for event, a in connect_log if event == "socket.connect" and a[1] == port]
    assert len(to_target) <= 16
    fetched = doc["http_request"]["body_length"]
    sampled = doc["x_throughput"]["bytes"]
    assert fetched >= 512 * 1024  # the body cap: the GET itself is untouched
    assert sampled > 0  # the sample ran, only smaller: the budget less the GET's body,
    assert fetched + sampled <= 1_000_000 + 64 * 1024  # give or take the last read
    tcp = doc["tcp_connect"].values()
    assert any(entry["failure"] == "x_control_budget_exceeded" for entry in tcp)


def test_a_client_is_its_address_and_an_ipv6_client_its_slash_64() -> None:
    from reachwatch.control._guard import client_key

    assert client_key(("192.0.2.7", 5000)) == "192.0.2.7"
    assert client_key(("::ffff:192.0.2.7", 5000, 0, 0)) == "192.0.2.7"  # dual-stack socket
    same = {client_key((f"2001:db8:1:2::{n:x}", 443, 0, 0)) for n in range(1, 50)}
    assert same == {"2001:db8:1:2::/64"}
    assert client_key(("2001:db8:1:3::1", 443, 0, 0)) != "2001:db8:1:2::/64"
    assert client_key(None) == "?"
