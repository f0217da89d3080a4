"""The TCP connect and TLS handshake steps."""

from __future__ import annotations

import asyncio
import base64
import ssl
from typing import Any

from reachwatch.probe._clock import now, span
from reachwatch.probe._conn import Connection, format_endpoint, open_tcp
from reachwatch.probe._failures import certificate_error, failure_from_exception

# _ssl.ENCODING_DER: the private chain API takes the encoding as a number.
_ENCODING_DER = 2


async def tcp_connect(
    ip: str,
    port: int,
    *,
    timeout: float,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> dict[str, Any]:
    """Connect to ip:port and close; an OONI tcp_connect entry."""
    begin = now()
    failure: str | None = None
    try:
        async with asyncio.timeout(timeout):
            sock = await open_tcp(ip, port, local_address)
        sock.close()
    except Exception as exc:
        failure = failure_from_exception(exc)
    return {
        "ip": ip,
        "port": port,
        "status": {"success": failure is None, "failure": failure, "blocked": None},
        **span(started, begin),
        "transaction_id": transaction_id,
    }


async def tls_handshake(
    ip: str,
    port: int,
    server_name: str,
    *,
    timeout: float,
    ssl_context: ssl.SSLContext,
    decoy: bool = False,
    local_address: str | None = None,
    started: float | None = None,
    transaction_id: int = 0,
) -> dict[str, Any]:
    """Connect and run a TLS handshake with `server_name` as SNI; an OONI tls_handshakes entry.

    `decoy` marks the second handshake made with an unrelated SNI (x_decoy_sni); the timeout
    covers the TCP connect and the handshake together.
    """
    begin = now()
    entry: dict[str, Any] = {
        "address": format_endpoint(ip, port),
        "server_name": server_name,
        "failure": None,
        "tls_version": None,
        "cipher_suite": None,
        "negotiated_protocol": None,
        "peer_certificates": None,
        "no_tls_verify": ssl_context.verify_mode == ssl.CERT_NONE,
        "x_decoy_sni": decoy,
        "x_cert_error": None,
    }
    conn: Connection | None = None
    try:
        async with asyncio.timeout(timeout):
            conn = Connection(await open_tcp(ip, port, local_address))
            await conn.start_tls(ssl_context, server_name)
        assert conn.tls is not None
        entry.update(describe_session(conn.tls))
    except Exception as exc:
        entry["failure"] = failure_from_exception(exc)
        entry["x_cert_error"] = certificate_error(exc)
    finally:
        if conn is not None:
            conn.close()
    entry.update(span(started, begin))
    entry["transaction_id"] = transaction_id
    return entry


def describe_session(tls: ssl.SSLObject) -> dict[str, Any]:
    """Version, cipher, ALPN and the peer's certificate chain (leaf first) of a session."""
    cipher = tls.cipher()
    return {
        "tls_version": tls.version(),
        "cipher_suite": cipher[0] if cipher else None,
        "negotiated_protocol": tls.selected_alpn_protocol(),
        "peer_certificates": [
            {"format": "base64", "data": base64.b64encode(der).decode("ascii")}
            for der in _peer_chain(tls)
        ],
    }


def _peer_chain(tls: ssl.SSLObject) -> list[bytes]:
    # Python 3.11 has the chain only on the private object (public from 3.13); fall back to
    # the leaf alone when it is missing.
    inner = getattr(tls, "_sslobj", None)
    getter = getattr(inner, "get_unverified_chain", None)
    if getter is not None:
        chain = getter()
        if chain:
            return [cert.public_bytes(_ENCODING_DER) for cert in chain]
    leaf = tls.getpeercert(binary_form=True)
    return [leaf] if leaf else []
