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


def test_control_error_is_passed_on() -> None:
    async def main() -> None:
        async with ControlServer("127.0.0.1", 0) as server:
            await query_control(server.url, target_url="ftp://x.com/", addresses=[])

    with pytest.raises(ControlUnavailable, match=r"HTTP 400: .*http:// or https://"):
        asyncio.run(main())


def test_something_that_is_not_a_control() -> None:
    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await query_control(
                f"http://127.0.0.1:{port}/", target_url="https://x.com/", addresses=[]
            )

    with pytest.raises(ControlUnavailable, match="no TH response"):
        asyncio.run(main())


def test_bad_control_url() -> None:
    with pytest.raises(ControlUnavailable, match="not an http"):
        asyncio.run(query_control("localhost:8080", target_url="https://x.com/", addresses=[]))


def test_an_answer_whose_parts_are_not_objects_is_no_control() -> None:
    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            body = b'{"dns": 5, "tcp_connect": "x", "http_request": []}'
            writer.write(
                b"HTTP/1.1 200 OK\r\nConnection: close\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await query_control(
                f"http://127.0.0.1:{port}/", target_url="https://x.com/", addresses=[]
            )

    with pytest.raises(ControlUnavailable, match="no TH response"):
        asyncio.run(main())


def test_a_garbage_answer_is_reported_on_one_line() -> None:
    async def main() -> None:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1024)
            writer.write(b"\x00\xff garbage\r\n\r\n")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            await query_control(
                f"http://127.0.0.1:{port}/", target_url="https://x.com/", addresses=[]
            )

    with pytest.raises(ControlUnavailable, match="unreachable") as caught:
        asyncio.run(main())
    assert "\n" not in caught.value.reason  # it becomes a failure string and a warning line
    assert len(caught.value.reason) < 300
