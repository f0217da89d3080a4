"""The QUIC handshake step (aioquic), over a UDP socket of the address's own family."""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, HandshakeCompleted, QuicEvent

from reachwatch.probe._clock import now, span
from reachwatch.probe._conn import family_of, format_endpoint, sockaddr
from reachwatch.probe._failures import failure_from_exception

_CRYPTO_ERROR = 0x100  # QUIC carries TLS alerts as 0x100 + alert
_ALERT_FAILURES = {
    42: "ssl_invalid_certificate",
    43: "ssl_invalid_certificate",
    45: "ssl_invalid_certificate",
    46: "ssl_invalid_certificate",
    48: "ssl_unknown_authority",
}


class _HandshakeWatcher(QuicConnectionProtocol):
    """Settles `outcome` with None once the handshake completes, or with the failure that
    ended it (the connection closed, or the socket reported an ICMP error)."""

    def __init__(self, quic: QuicConnection) -> None:
        super().__init__(quic)
        self.outcome: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, HandshakeCompleted):
            self._settle(None)
        elif isinstance(event, ConnectionTerminated):
            self._settle(_termination_failure(event))

    def error_received(self, exc: Exception) -> None:
        self._settle(failure_from_exception(exc))

    def _settle(self, failure: str | None) -> None:
        if not self.outcome.done():
            self.outcome.set_result(failure)


async def quic_handshake(
    ip: str,
    port: int,
    server_name: str,
    *,
    timeout: float,
    ca_file: str | None,
    verify: bool = True,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> dict[str, Any]:
    """A QUIC (HTTP/3 ALPN) handshake with `server_name` as SNI; an x_quic_handshakes entry."""
    begin = now()
    entry: dict[str, Any] = {
        "address": format_endpoint(ip, port),
        "server_name": server_name,
        "alpn": None,
        "failure": None,
        "no_tls_verify": not verify,
    }
    config = QuicConfiguration(is_client=True, alpn_protocols=["h3"], server_name=server_name)
    config.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if ca_file is not None:
        config.load_verify_locations(cafile=ca_file)
    loop = asyncio.get_running_loop()
    transport: asyncio.DatagramTransport | None = None
    try:
        # asyncio takes (host, port) pairs here, whatever the family; the socket's own
        # peername is the address datagrams come from (a 4-tuple for IPv6), which aioquic
        # must be given so that its packets go out to the connected peer.
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _HandshakeWatcher(QuicConnection(configuration=config)),
            remote_addr=(ip, port),
            local_addr=(local_address, 0) if local_address else None,
            family=family_of(ip),
        )
        peer = transport.get_extra_info("peername") or sockaddr(ip, port)
        entry["failure"] = await _await_handshake(protocol, peer, timeout)
        if entry["failure"] is None:
            entry["alpn"] = protocol._quic.tls.alpn_negotiated
        protocol.close()
    except Exception as exc:
        entry["failure"] = failure_from_exception(exc)
    finally:
        if transport is not None:
            transport.close()
    entry.update(span(started, begin))
    entry["transaction_id"] = transaction_id
    return entry


async def _await_handshake(
    protocol: _HandshakeWatcher, address: tuple[Any, ...], timeout: float
) -> str | None:
    protocol.connect(address)
    done, _ = await asyncio.wait({protocol.outcome}, timeout=timeout)
    if not done:
        return "generic_timeout_error"
    return protocol.outcome.result()


def _termination_failure(event: ConnectionTerminated) -> str:
    alert = event.error_code - _CRYPTO_ERROR
    reason = event.reason_phrase.lower()
    if "hostname" in reason:
        return "ssl_invalid_hostname"
    if "local issuer" in reason or "self-signed" in reason or "self signed" in reason:
        return "ssl_unknown_authority"
    if alert in _ALERT_FAILURES:
        return _ALERT_FAILURES[alert]
    return f"quic_connection_closed: {event.error_code:#x} {event.reason_phrase}".strip()
