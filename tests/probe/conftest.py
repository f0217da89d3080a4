"""A loopback world for the probe: X's hosts behind an on-path censor that only touches the
probe's traffic, a truthful resolver for the control and a censored one for the probe.

The probe measures from its own loopback address (ProbeOptions.local_address); the censor
recognises it by that source address, so the control (connecting from 127.0.0.1) sees the
real servers through the very same addresses, as a control outside the censored network would.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import random
import socket
import struct
import sys
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reachwatch.catalog import load_catalog
from reachwatch.control import ControlServer, Limits
from reachwatch.lab.servers import (
    BLOCKPAGE_TEXT,
    BLOCKPAGE_TITLE,
    DnsPolicy,
    DnsServer,
    DohServer,
    LabPki,
    Page,
    QuicServer,
    Site,
    WebServer,
    blockpage,
    parse_sni,
)
from reachwatch.probe import ProbeOptions, Target

X_HOSTS = [host.host for host in load_catalog().get("x").hosts]

_CONNECTS: list[Any] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _CONNECTS is None or event not in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        return
    sock, address = args[0], args[1]
    if event == "socket.connect" and sock.type == socket.SOCK_DGRAM and _is_documentation(address):
        return  # the route check: connect() on a UDP socket sends nothing
    _CONNECTS.append(address)


def _is_documentation(address: Any) -> bool:
    documentation = (ipaddress.ip_network("192.0.2.0/24"), ipaddress.ip_network("2001:db8::/32"))
    try:
        ip = ipaddress.ip_address(str(address[0]))
    except (ValueError, TypeError, IndexError):
        return False
    return any(ip in net for net in documentation if net.version == ip.version)


sys.addaudithook(_audit)


@pytest.fixture
def loopback_only() -> Iterator[None]:
    """Fails the test if it connected or sent a datagram anywhere but loopback."""
    global _CONNECTS
    _CONNECTS = []
    try:
        yield
        outside = [a for a in _CONNECTS if isinstance(a, tuple) and not _is_loopback(a[0])]
        assert not outside, f"traffic left loopback: {outside}"
    finally:
        _CONNECTS = None


def _is_loopback(host: Any) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("probe-pki"))


@dataclass
class Censorship:
    """What the censor does to the probe's traffic (and nothing else's)."""

    nxdomain: frozenset[str] = frozenset()  # the probe's resolver answers NXDOMAIN
    reset_snis: frozenset[str] = frozenset()  # RST right after the ClientHello
    stall_snis: frozenset[str] = frozenset()  # handshake never answered
    blockpage_hosts: frozenset[str] = frozenset()  # plain HTTP answered with a blockpage
    throttle_snis: frozenset[str] = frozenset()  # relayed, but at `throttle_rate` bytes/s
    throttle_rate: int = 64 * 1024
    forged: frozenset[str] = frozenset()  # the probe's resolver points them at a blockpage
    quic_blocked: frozenset[str] = frozenset()  # the probe's UDP to these hosts is dropped
    everyone: bool = False  # the flows of every client, control included: the site's own fault


@dataclass
class World:
    """A running loopback world; `options()` are ProbeOptions that reach only it."""

    pki: LabPki
    addresses: dict[str, str]
    probe_resolver: tuple[str, int]
    control_resolver: tuple[str, int]
    probe_source: str
    control_url: str | None
    doh_url: str

    def targets(self, hosts: list[str] | None = None, *, scheme: str = "https") -> list[Target]:
        return [Target(f"{scheme}://{host}/", "x") for host in (hosts or X_HOSTS)]

    def options(self, **overrides: Any) -> ProbeOptions:
        settings: dict[str, Any] = {
            "control_url": self.control_url,
            "resolver": self.probe_resolver,
            "doh_url": None,
            "system_resolver": False,  # the system resolver would ask a real DNS server
            "ca_file": str(self.pki.ca_file),
            "local_address": self.probe_source,
            "dns_timeout": 1.0,
            "connect_timeout": 1.0,
            "tls_timeout": 1.0,
            "quic_timeout": 1.0,
            "http_timeout": 3.0,
            "control_timeout": 20.0,
            "throughput_seconds": 0.5,
            "throughput_bytes": 256 * 1024,
        }
        settings.update(overrides)
        return ProbeOptions(**settings)


@dataclass
class WorldFactory:
    pki: LabPki
    tmp: Path
    servers: list[Any] = field(default_factory=list)

    @asynccontextmanager
    async def start(
        self,
        censorship: Censorship | None = None,
        *,
        sites: Mapping[str, Site] | None = None,
        control: bool = True,
        aaaa: Mapping[str, str] | None = None,
    ) -> AsyncIterator[World]:
        """Servers for every X host on 127.a.b.x:443 (and :80), behind the censor."""
        censorship = censorship or Censorship()
        block = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}"
        front = {host: f"{block}.{10 + i}" for i, host in enumerate(X_HOSTS)}
        backs = {host: f"{block}.{100 + i}" for i, host in enumerate(X_HOSTS)}
        all_sites: dict[str, Site] = {host: Page(f"{host} lab page") for host in X_HOSTS}
        all_sites.update(sites or {})
        zone = {host: [address] for host, address in front.items()}
        for host, address in (aaaa or {}).items():
            zone[host].append(address)
        tls = self.pki.server_context(X_HOSTS)
        victim = f"{block}.250"
        async with contextlib.AsyncExitStack() as stack:
            try:
                for host in X_HOSTS:
                    for port, ctx in ((443, tls), (80, None)):
                        back = WebServer(all_sites, host=backs[host], port=port, ssl_context=ctx)
                        await stack.enter_async_context(back)
                        censor = Censor(front[host], port, back.address, censorship, victim)
                        await stack.enter_async_context(censor)
                    cert = self.pki.issue(X_HOSTS)
                    quic = QuicServer(cert, host=backs[host], port=443)
                    await stack.enter_async_context(quic)
                    drop = host in censorship.quic_blocked
                    relay = UdpCensor(front[host], 443, quic.address, victim if drop else None)
                    await stack.enter_async_context(relay)
            except PermissionError:
                pytest.skip("binding port 443 on loopback needs root")
            truthful = await stack.enter_async_context(DnsServer(zone, host=f"{block}.2"))
            forged = {host: [f"{block}.99"] for host in censorship.forged}
            policy = DnsPolicy(nxdomain=censorship.nxdomain, forged=forged)
            censored = await stack.enter_async_context(
                DnsServer(zone, host=f"{block}.3", policy=policy)
            )
            if forged:
                # Where forged answers point: the censor's own server, a blockpage for every site.
                for port, ctx in (
                    (443, self.pki.server_context(["blockpage.invalid"])),
                    (80, None),
                ):
                    sink = WebServer(
                        {"*": blockpage()}, host=f"{block}.99", port=port, ssl_context=ctx
                    )
                    await stack.enter_async_context(sink)
            doh_context = self.pki.server_context([f"{block}.4"])
            doh = DohServer(zone, ssl_context=doh_context, host=f"{block}.4")
            await stack.enter_async_context(doh)
            control_url = None
            if control:
                server = ControlServer(
                    "127.0.0.1",
                    0,
                    resolver=truthful.address,
                    ca_file=str(self.pki.ca_file),
                    allow_private=True,
                    limits=Limits(throughput_seconds=2.0),
                )
                control_url = (await stack.enter_async_context(server)).url
            yield World(
                pki=self.pki,
                addresses=front,
                probe_resolver=censored.address,
                control_resolver=truthful.address,
                probe_source=victim,
                control_url=control_url,
                doh_url=doh.url,
            )


@pytest.fixture
def world(pki: LabPki, tmp_path: Path, loopback_only: None) -> WorldFactory:
    return WorldFactory(pki, tmp_path)


class Censor:
    """An on-path middlebox at host:port in front of `backend`: connections from `victim`
    get the censorship, every other connection is relayed untouched."""

    def __init__(
        self,
        host: str,
        port: int,
        backend: tuple[str, int],
        censorship: Censorship,
        victim: str,
    ) -> None:
        self.host, self.port, self.backend = host, port, backend
        self.censorship, self.victim = censorship, victim
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> Censor:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            first = await reader.read(16 * 1024)
            victim = writer.get_extra_info("peername")[0] == self.victim
            victim = victim or self.censorship.everyone
            if victim and first and await self._censor(first, reader, writer):
                return
            await self._relay(first, reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _censor(
        self, first: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Apply the censorship to this flow; True when it was censored."""
        c = self.censorship
        if self.port == 443:
            sni = parse_sni(first)
            if sni in c.reset_snis:
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return True
            if sni in c.stall_snis:
                while await reader.read(4096):
                    pass
                return True
            if sni in c.throttle_snis:
                await self._relay(first, reader, writer, rate=c.throttle_rate)
                return True
            return False
        host = _host_header(first)
        if host in c.blockpage_hosts:
            page = (
                f"<html><head><title>{BLOCKPAGE_TITLE}</title></head>"
                f"<body><p>{BLOCKPAGE_TEXT}</p></body></html>"
            ).encode()
            writer.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n"
                + f"Content-Length: {len(page)}\r\n\r\n".encode()
                + page
            )
            await writer.drain()
            return True
        return False

    async def _relay(
        self,
        first: bytes,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        rate: int | None = None,
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.backend)
        up_writer.write(first)
        try:
            await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer, rate=rate))
        finally:
            up_writer.close()


class UdpCensor(asyncio.DatagramProtocol):
    """A UDP relay at host:port in front of `backend` that drops every datagram from `victim`
    (None: drops nothing), one upstream socket per client."""

    def __init__(self, host: str, port: int, backend: tuple[str, int], victim: str | None) -> None:
        self.host, self.port, self.backend, self.victim = host, port, backend, victim
        self._transport: asyncio.DatagramTransport | None = None
        self._upstreams: dict[Any, asyncio.Future[asyncio.DatagramTransport]] = {}

    async def __aenter__(self) -> UdpCensor:
        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=(self.host, self.port)
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        for pending in self._upstreams.values():
            if pending.done():
                pending.result().close()
            else:
                pending.cancel()
        if self._transport is not None:
            self._transport.close()

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        if addr[0] == self.victim:
            return
        if addr not in self._upstreams:
            self._upstreams[addr] = asyncio.ensure_future(self._open_upstream(addr))
        self._upstreams[addr].add_done_callback(lambda up: up.result().sendto(data))

    async def _open_upstream(self, client: tuple[Any, ...]) -> asyncio.DatagramTransport:
        relay = self

        class Back(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
                if relay._transport is not None:
                    relay._transport.sendto(data, client)

        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(Back, remote_addr=self.backend)
        return transport


async def _pipe(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, rate: int | None = None
) -> None:
    """Copy until EOF; with `rate`, at most that many bytes per second (a token bucket of one
    small chunk), as a throttling middlebox does."""
    size = 64 * 1024 if rate is None else max(rate // 20, 512)
    try:
        while data := await reader.read(size):
            writer.write(data)
            await writer.drain()
            if rate is not None:
                await asyncio.sleep(len(data) / rate)
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()


def _host_header(request: bytes) -> str | None:
    for line in request.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"host":
            return value.strip().decode("latin-1").split(":")[0].lower()
    return None
