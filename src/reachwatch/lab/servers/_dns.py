"""An authoritative DNS server (UDP and TCP) with the policy hooks a censor's resolver needs."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import cast

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from reachwatch.lab.servers._base import LabServer, listening_socket

_TTL = 60
_UPSTREAM_TIMEOUT = 3.0


def _norm(name: str) -> str:
    return name.lower().rstrip(".")


def _matches(name: str, names: Iterable[str]) -> str | None:
    """The longest entry of `names` equal to `name` or a parent domain of it."""
    found: str | None = None
    for candidate in names:
        base = _norm(candidate)
        if (name == base or name.endswith("." + base)) and len(candidate) > len(found or ""):
            found = candidate
    return found


@dataclass(frozen=True)
class DnsPolicy:
    """What a resolver does instead of answering truthfully. A name matches itself and subdomains.

    - `drop`: never answer (the client times out);
    - `nxdomain`: answer NXDOMAIN;
    - `forged`: answer these addresses instead (bogons, or a blockpage server's address);
    - `upstream`: (host, port) to forward every name the zone does not hold;
    - `rewrite_nxdomain`: answer these addresses wherever upstream says NXDOMAIN (an ISP
      that sends every mistyped name to its search page).
    """

    drop: frozenset[str] = frozenset()
    nxdomain: frozenset[str] = frozenset()
    forged: Mapping[str, Sequence[str]] = field(default_factory=dict)
    upstream: tuple[str, int] | None = None
    rewrite_nxdomain: Sequence[str] = ()


class DnsResponder:
    """Turns a DNS query (wire format) into a response, or None to stay silent."""

    def __init__(self, zone: Mapping[str, Sequence[str]], policy: DnsPolicy | None = None) -> None:
        self.zone = {_norm(name): list(addrs) for name, addrs in zone.items()}
        self.policy = policy or DnsPolicy()

    async def respond(self, wire: bytes) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        name = _norm(question.name.to_text())
        action, forged = self._policy_action(name)
        if action == "drop":
            return None
        if action == "nxdomain":
            return self._reply(query, dns.rcode.NXDOMAIN, [])
        if action == "forged":
            return self._reply(query, dns.rcode.NOERROR, forged)
        if name in self.zone:
            return self._reply(query, dns.rcode.NOERROR, self.zone[name], authoritative=True)
        if self.policy.upstream is not None:
            return await self._forward(query)
        return self._reply(query, dns.rcode.NXDOMAIN, [], authoritative=True)

    def _policy_action(self, name: str) -> tuple[str | None, Sequence[str]]:
        """The policy entry naming `name` most specifically (api.x.com beats x.com)."""
        policy = self.policy
        best: tuple[int, str | None, Sequence[str]] = (-1, None, ())
        for action, names in (
            ("drop", policy.drop),
            ("nxdomain", policy.nxdomain),
            ("forged", policy.forged.keys()),
        ):
            entry = _matches(name, names)
            if entry is not None and len(entry) > best[0]:
                forged = policy.forged[entry] if action == "forged" else ()
                best = (len(entry), action, forged)
        return best[1], best[2]

    def _reply(
        self,
        query: dns.message.Message,
        rcode: dns.rcode.Rcode,
        addresses: Sequence[str],
        *,
        authoritative: bool = False,
    ) -> bytes:
        response = dns.message.make_response(query)
        response.set_rcode(rcode)
        if authoritative:
            response.flags |= dns.flags.AA
        response.flags |= dns.flags.RA
        question = query.question[0]
        wanted = {dns.rdatatype.A: 4, dns.rdatatype.AAAA: 6}.get(question.rdtype)
        matching = [a for a in addresses if ipaddress.ip_address(a).version == wanted]
        if matching:
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name, _TTL, dns.rdataclass.IN, question.rdtype, matching
                )
            )
        return response.to_wire()

    async def _forward(self, query: dns.message.Message) -> bytes | None:
        assert self.policy.upstream is not None
        host, port = self.policy.upstream
        try:
            answer = await dns.asyncquery.udp(query, host, port=port, timeout=_UPSTREAM_TIMEOUT)
        except (dns.exception.DNSException, OSError):
            return self._reply(query, dns.rcode.SERVFAIL, [])
        if answer.rcode() == dns.rcode.NXDOMAIN and self.policy.rewrite_nxdomain:
            return self._reply(query, dns.rcode.NOERROR, self.policy.rewrite_nxdomain)
        return answer.to_wire()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.server._spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        response = await self.server.responder.respond(data)
        if response is not None and self.transport is not None:
            self.transport.sendto(response, addr)


class DnsServer(LabServer):
    """DNS over UDP and TCP on the same port, answering A/AAAA from `zone` under `policy`.

    `zone` maps names to addresses (IPv4 and IPv6 mixed); names outside it get NXDOMAIN unless
    the policy forwards them upstream.
    """

    def __init__(
        self,
        zone: Mapping[str, Sequence[str]],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        policy: DnsPolicy | None = None,
    ) -> None:
        super().__init__(host, port)
        self.responder = DnsResponder(zone, policy)
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None

    async def _bind(self) -> None:
        loop = asyncio.get_running_loop()
        # Port 0: let UDP pick, then claim the same number for TCP (retry on a clash).
        for _ in range(20):
            udp_sock = listening_socket(self.host, self.port, socket.SOCK_DGRAM)
            port = udp_sock.getsockname()[1]
            try:
                tcp_sock = listening_socket(self.host, port, socket.SOCK_STREAM)
            except OSError:
                udp_sock.close()
                if self.port:
                    raise
                continue
            break
        else:
            raise OSError("could not bind UDP and TCP on one port")
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), sock=udp_sock
        )
        self._udp = transport
        self._tcp = await asyncio.start_server(self._serve_tcp, sock=tcp_sock)
        self.port = port

    async def _unbind(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            while True:
                (length,) = struct.unpack("!H", await reader.readexactly(2))
                response = await self.responder.respond(await reader.readexactly(length))
                if response is None:
                    continue  # dropped: the client waits until it gives up
                writer.write(struct.pack("!H", len(response)) + response)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            if task is not None:
                self._tasks.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
