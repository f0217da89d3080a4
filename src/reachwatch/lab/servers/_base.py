"""What every lab server shares: start/stop, async context manager, tracked connection tasks."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Coroutine
from types import TracebackType
from typing import Any, Self


class LabServer:
    """Base of every server: `await start()` binds (port 0 picks one), `await stop()` closes.

    `async with Server(...) as server:` does both. After start, `server.port` is the bound port.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._tasks: set[asyncio.Task[Any]] = set()
        self._started = False

    async def start(self) -> Self:
        if self._started:
            raise RuntimeError(f"{type(self).__name__} already started")
        await self._bind()
        self._started = True
        return self

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        await self._unbind()
        # Connections that would otherwise never end (endless bodies, stalled handshakes).
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _bind(self) -> None:
        raise NotImplementedError

    async def _unbind(self) -> None:
        raise NotImplementedError


def family_of(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def listening_socket(host: str, port: int, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking bound socket (listening when TCP)."""
    sock = socket.socket(family_of(host), kind)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if ":" in host:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        if kind == socket.SOCK_STREAM:
            sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


def reset_close(sock: socket.socket) -> None:
    """Close with an RST instead of a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
