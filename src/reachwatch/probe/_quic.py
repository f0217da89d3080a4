"""The QUIC handshake step (aioquic), over a UDP socket of the address's own family."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection
from aioquic.quic.events import ConnectionTerminated, QuicEvent

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
    """Remembers why the connection ended and any ICMP error the socket reported."""

    def __init__(self, quic: QuicConnection) -> None:
        super().__init__(quic)
        self.terminated: ConnectionTerminated | None = None
        self.socket_error: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ConnectionTerminated):
            self.terminated = event

    def error_received(self, exc: Exception) -> None:
        if not self.socket_error.done():
            self.socket_error.set_result(exc)


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
        transport, protocol = await loop.create_datagram_endpoint(
            lambda: _HandshakeWatcher(QuicConnection(configuration=config)),
            remote_addr=sockaddr(ip, port),
            local_addr=sockaddr(local_address, 0) if local_address else None,
            family=family_of(ip),
        )
        entry["failure"] = await _await_handshake(protocol, sockaddr(ip, port), timeout)
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
    connected = asyncio.ensure_future(protocol.wait_connected())
    waiting: set[asyncio.Future[Any]] = {connected, protocol.socket_error}
    try:
        done, _ = await asyncio.wait(
            waiting,
            timeout=timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
    finally:
        connected.cancel()
        with contextlib.suppress(BaseException):
            await connected
    if protocol.socket_error in done:
        return failure_from_exception(protocol.socket_error.result())
    if connected in done and connected.exception() is None:
        return None
    if protocol.terminated is not None:
        return _termination_failure(protocol.terminated)
    return "generic_timeout_error"


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
