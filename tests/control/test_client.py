"""query_control turns every way a control can fail into ControlUnavailable."""

from __future__ import annotations

import asyncio
import socket

import pytest

from reachwatch.control import ControlServer, ControlUnavailable, query_control


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_control_that_is_down() -> None:
    url = f"http://127.0.0.1:{_free_port()}/"
    with pytest.raises(ControlUnavailable, match="unreachable") as info:
        asyncio.run(query_control(url, target_url="https://x.com/", addresses=[]))
    assert url in info.value.reason


def test_control_that_never_answers() -> None:
    async def main() -> None:
        async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()  # accepts, reads, never answers

        server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await query_control(
                f"http://127.0.0.1:{port}/", target_url="https://x.com/", addresses=[], timeout=0.5
            )

    with pytest.raises(ControlUnavailable, match=r"did not answer in 0.5s"):
        asyncio.run(main())


def _query_raw_server(answer_bytes: bytes) -> None:
    """Query a loopback server that reads the request and answers with these exact bytes."""

    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(answer_bytes)
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await query_control(
                f"http://127.0.0.1:{port}/", target_url="https://x.com/", addresses=[]
            )

    asyncio.run(main())


def test_control_error_is_passed_on() -> None:
    async def main() -> None:
        async with ControlServer("127.0.0.1", 0) as server:
            await query_control(server.url, target_url="ftp://x.com/", addresses=[])

    with pytest.raises(ControlUnavailable, match=r"HTTP 400: .*http:// or https://"):
        asyncio.run(main())


def test_something_that_is_not_a_control() -> None:
    with pytest.raises(ControlUnavailable, match="no TH response"):
        _query_raw_server(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")


def test_bad_control_url() -> None:
    with pytest.raises(ControlUnavailable, match="not an http"):
        asyncio.run(query_control("localhost:8080", target_url="https://x.com/", addresses=[]))


def test_an_answer_whose_parts_are_not_objects_is_no_control() -> None:
    body = b'{"dns": 5, "tcp_connect": "x", "http_request": []}'
    head = f"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    with pytest.raises(ControlUnavailable, match="no TH response"):
        _query_raw_server(head.encode() + body)


def test_a_garbage_answer_is_reported_on_one_line() -> None:
    with pytest.raises(ControlUnavailable, match="unreachable") as caught:
        _query_raw_server(b"\x00\xff garbage\r\n\r\n")
    assert "\n" not in caught.value.reason  # it becomes a failure string and a warning line
    assert len(caught.value.reason) < 300
