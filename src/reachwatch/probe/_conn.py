"""TCP and TLS connections driven by hand over non-blocking sockets.

TLS runs over memory BIOs rather than asyncio's SSL transport so that a peer's FIN during the
handshake (eof_error) stays distinguishable from a RST (connection_reset), as OONI reports them.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
from typing import Any

# Steps spell endpoints as the classifier reads them: one definition, in reachwatch.net.
from reachwatch.net import endpoint as format_endpoint

_READ_SIZE = 65536


def sockaddr(ip: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(ip).version == 6:
        return (ip, port, 0, 0)
    return (ip, port)


def family_of(ip: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ipaddress.ip_address(ip).version == 6 else socket.AF_INET


async def open_tcp(ip: str, port: int, local_address: str | None = None) -> socket.socket:
    """A connected non-blocking socket, from `local_address` when given; raises OSError on
    failure (no timeout of its own)."""
    sock = socket.socket(family_of(ip), socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        if local_address is not None:
            sock.bind(sockaddr(local_address, 0))
        await asyncio.get_running_loop().sock_connect(sock, sockaddr(ip, port))
    except BaseException:
        sock.close()
        raise
    return sock


class Connection:
    """A byte stream over a connected socket, optionally inside TLS."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._tls: ssl.SSLObject | None = None
        self._incoming = ssl.MemoryBIO()
        self._outgoing = ssl.MemoryBIO()

    @property
    def tls(self) -> ssl.SSLObject | None:
        return self._tls

    async def start_tls(self, ssl_context: ssl.SSLContext, server_name: str | None) -> None:
        """Run the TLS handshake; raises ssl.SSLError, OSError or EOFError on failure."""
        self._tls = ssl_context.wrap_bio(
            self._incoming, self._outgoing, server_side=False, server_hostname=server_name
        )
        while not await self._handshake_step(self._tls):
            pass

    async def _handshake_step(self, tls: ssl.SSLObject) -> bool:
        """One round of the handshake; True once it is complete."""
        try:
            tls.do_handshake()
        except ssl.SSLWantReadError:
            await self._flush()
            if not await self._fill():
                raise EOFError("peer closed the connection during the TLS handshake") from None
            return False
        except ssl.SSLError:
            # Send our alert (e.g. bad certificate) before giving up, as a browser would.
            with contextlib.suppress(OSError):
                await self._flush()
            raise
        await self._flush()
        return True

    async def send(self, data: bytes) -> None:
        if self._tls is None:
            await self._loop.sock_sendall(self._sock, data)
            return
        self._tls.write(data)
        await self._flush()

    async def recv(self) -> bytes:
        """The next bytes from the peer; b'' at end of stream."""
        if self._tls is None:
            return await self._loop.sock_recv(self._sock, _READ_SIZE)
        while True:
            try:
                return self._tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                if not await self._fill():
                    return b""
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""

    def close(self) -> None:
        self._sock.close()

    async def _flush(self) -> None:
        data = self._outgoing.read()
        if data:
            await self._loop.sock_sendall(self._sock, data)

    async def _fill(self) -> bool:
        data = await self._loop.sock_recv(self._sock, _READ_SIZE)
        if not data:
            self._incoming.write_eof()
            return False
        self._incoming.write(data)
        return True


__all__ = ["Connection", "family_of", "format_endpoint", "open_tcp", "sockaddr"]
