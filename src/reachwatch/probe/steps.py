"""The probe's measurement steps, each a function free of engine state.

Every step has a bounded timeout, never raises for a network failure (the OONI failure string
lands in the entry instead) and returns the OONI entry of docs/measurement-format.md. The
control service runs the same functions from its own vantage point. `started` (a
`time.monotonic()` reading) makes t0/t relative to the measurement's start; `transaction_id`
numbers entries as OONI does.
"""

from __future__ import annotations

import ssl

from reachwatch.probe._dns import addresses_of, resolve_doh, resolve_getaddrinfo, resolve_udp
from reachwatch.probe._http import (
    BODY_CAP,
    INVALID_LOCATION,
    Exchange,
    extract_title,
    http_fetch,
    redirect_location,
    redirect_target,
    request_entry,
)
from reachwatch.probe._quic import quic_handshake
from reachwatch.probe._tcp_tls import tcp_connect, tls_handshake
from reachwatch.probe._throughput import throughput_sample

# The SNI of the second handshake that tells SNI filtering from IP blocking: a name no censor
# of the measured platform has reason to filter.
DECOY_SNI = "example.com"


def make_ssl_context(ca_file: str | None = None, *, verify: bool = True) -> ssl.SSLContext:
    """A client context: the system trust store, or only `ca_file` when given; HTTP/1.1 ALPN.

    `verify=False` is for the decoy handshake, whose certificate cannot match its SNI.
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.set_alpn_protocols(["http/1.1"])
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


__all__ = [
    "BODY_CAP",
    "DECOY_SNI",
    "INVALID_LOCATION",
    "Exchange",
    "addresses_of",
    "extract_title",
    "http_fetch",
    "make_ssl_context",
    "quic_handshake",
    "redirect_location",
    "redirect_target",
    "request_entry",
    "resolve_doh",
    "resolve_getaddrinfo",
    "resolve_udp",
    "tcp_connect",
    "throughput_sample",
    "tls_handshake",
]
