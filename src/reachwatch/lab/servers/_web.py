"""HTTP and HTTPS servers choosing a behaviour per host (SNI/Host) and path, with TLS tricks."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import ssl
from collections.abc import Iterable, Mapping

from reachwatch.lab.servers._base import LabServer, listening_socket, reset_close
from reachwatch.lab.servers._behaviours import NOT_FOUND, Behaviour, Page
from reachwatch.lab.servers._clienthello import parse_sni, record_length
from reachwatch.lab.servers._http import BadRequest, Request, read_request

# A site is one behaviour for every path, or {path: behaviour} with "*" for the rest.
Site = Behaviour | Mapping[str, Behaviour]

_HELLO_WAIT = 10.0
_HANDSHAKE_TIMEOUT = 10.0
_REQUEST_TIMEOUT = 15.0


class WebServer(LabServer):
    """Serves `sites` ({host: Site}, "*" matching any host) over HTTP, or HTTPS with `ssl_context`.

    TLS tricks, decided from the SNI of the raw ClientHello before any handshake:
    `reset_snis` get an RST right after their ClientHello, `stall_snis` are accepted and never
    answered; with `stall_all` no handshake ever completes. Other SNIs get a normal handshake.

    A server's own faults and defences: `reset_share` of all connections (any client, any
    name) get an RST once their first bytes arrive; clients from `challenge_clients` (networks)
    get the CDN's bot challenge (503) instead of any page.
    """

    def __init__(
        self,
        sites: Mapping[str, Site],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl_context: ssl.SSLContext | None = None,
        reset_snis: Iterable[str] = (),
        stall_snis: Iterable[str] = (),
        stall_all: bool = False,
        reset_share: float = 0.0,
        challenge_clients: Iterable[str] = (),
    ) -> None:
        super().__init__(host, port)
        self.sites = {name.lower(): site for name, site in sites.items()}
        self.ssl_context = ssl_context
        self.reset_snis = frozenset(name.lower() for name in reset_snis)
        self.stall_snis = frozenset(name.lower() for name in stall_snis)
        self.stall_all = stall_all
        self.reset_share = reset_share
        self.challenge_clients = tuple(
            ipaddress.ip_network(n, strict=False) for n in challenge_clients
        )
        self._sock: socket.socket | None = None
        self._accept_task: asyncio.Task[None] | None = None

    async def _bind(self) -> None:
        self._sock = listening_socket(self.host, self.port, socket.SOCK_STREAM)
        self.port = self._sock.getsockname()[1]
        self._accept_task = asyncio.get_running_loop().create_task(self._accept_loop(self._sock))

    async def _unbind(self) -> None:
        if self._accept_task is not None:
            self._accept_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._accept_task
        if self._sock is not None:
            self._sock.close()

    async def _accept_loop(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _peer = await loop.sock_accept(listener)
            except OSError:  # out of descriptors, or a peer gone before accept: keep serving
                await asyncio.sleep(0.05)
                continue
            conn.setblocking(False)
            self._spawn(self._handle(conn))

    async def _handle(self, conn: socket.socket) -> None:
        sni: str | None = None
        try:
            if self.reset_share > 0 and random.random() < self.reset_share:
                await _readable(conn)  # the first bytes (a ClientHello, a request) arrived
                reset_close(conn)
                return
            if self.ssl_context is not None:
                if self.stall_all:
                    await _swallow(conn)
                    return
                if self.reset_snis or self.stall_snis:
                    sni = parse_sni(await _peek_client_hello(conn))
                    if sni in self.reset_snis:
                        reset_close(conn)
                        return
                    if sni in self.stall_snis:
                        await _swallow(conn)
                        return
            reader, writer = await _open_stream(conn, self.ssl_context)
        except (OSError, TimeoutError, ssl.SSLError):
            conn.close()
            return
        try:
            if sni is None:
                sni = _sni_of(writer)
            request = await asyncio.wait_for(read_request(reader, sni=sni), _REQUEST_TIMEOUT)
            behaviour = CHALLENGE if self._challenged(conn) else self._behaviour_for(request)
            await behaviour.respond(request, writer)
        except (BadRequest, OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
            pass
        except asyncio.CancelledError:
            # The server is stopping: drop the connection without flushing what is buffered.
            writer.transport.abort()
            raise
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 2.0)

    def _challenged(self, conn: socket.socket) -> bool:
        if not self.challenge_clients:
            return False
        try:
            peer = ipaddress.ip_address(conn.getpeername()[0])
        except (OSError, ValueError):
            return False
        return any(peer in network for network in self.challenge_clients)

    def _behaviour_for(self, request: Request) -> Behaviour:
        site = self.sites.get(request.host) or self.sites.get("*")
        if site is None:
            return NOT_FOUND
        if isinstance(site, Mapping):
            return site.get(request.path) or site.get("*") or NOT_FOUND
        return site


# What a CDN's bot defence answers a client it does not trust yet: 503 and a page whose
# script would solve the challenge in a browser.
CHALLENGE = Page(
    title="Just a moment...",
    text="Checking your browser before accessing the site. Enable JavaScript and cookies.",
    status=503,
)


async def _peek_client_hello(conn: socket.socket) -> bytes:
    """The first TLS record, read without consuming it (MSG_PEEK) so a handshake can follow."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _HELLO_WAIT
    data = b""
    while loop.time() < deadline:
        await _readable(conn)
        data = conn.recv(16 * 1024 + 5, socket.MSG_PEEK)
        if not data:
            return data  # peer closed
        needed = record_length(data)
        if needed is None or len(data) >= needed:
            return data
        await asyncio.sleep(0.005)  # the rest of the record is still in flight
    return data


async def _readable(conn: socket.socket) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_reader(conn.fileno(), wake)
    try:
        await asyncio.wait_for(ready, _HELLO_WAIT)
    finally:
        loop.remove_reader(conn.fileno())


async def _swallow(conn: socket.socket) -> None:
    """Read and discard until the peer leaves; never answer (a handshake that never finishes)."""
    loop = asyncio.get_running_loop()
    try:
        while await loop.sock_recv(conn, 4096):
            pass
    finally:
        conn.close()


async def _open_stream(
    conn: socket.socket, ssl_context: ssl.SSLContext | None
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024)
    protocol = asyncio.StreamReaderProtocol(reader)
    transport, _ = await loop.connect_accepted_socket(
        lambda: protocol,
        conn,
        ssl=ssl_context,
        ssl_handshake_timeout=_HANDSHAKE_TIMEOUT if ssl_context else None,
    )
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def _sni_of(writer: asyncio.StreamWriter) -> str | None:
    ssl_object = writer.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    name = getattr(ssl_object, "server_hostname", None)
    return name.lower() if isinstance(name, str) else None
