"""Exceptions to OONI failure strings, so every stage speaks OONI's vocabulary."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import dns.exception
import dns.rcode
import h11

# An exception that is not the network's doing (a bug or a limit of the probe itself: a
# TypeError, an assertion...) gets this failure string, one definition shared with the
# classifier, which judges it inconclusive: read as a network failure, a working control's
# answer would turn it into "blocked".
from reachwatch.net import (
    CONNECTION_REFUSED,
    CONNECTION_RESET,
    DNS_NXDOMAIN,
    EOF_ERROR,
    GENERIC_TIMEOUT,
    PROBE_FAULT,
)

# Certificate verification codes (X509_V_ERR_*) that mean "nobody we trust signed this".
_UNKNOWN_AUTHORITY_CODES = {2, 18, 19, 20, 21, 27}
_HOSTNAME_MISMATCH_CODE = 62
# X509_V_ERR_CERT_NOT_YET_VALID and X509_V_ERR_CERT_HAS_EXPIRED: a certificate outside its
# validity window, which is what every certificate looks like to a device whose clock is wrong.
_DATE_CODES = {9: "not_yet_valid", 10: "expired"}

_ERRNO_FAILURES = {
    errno.ECONNRESET: CONNECTION_RESET,
    errno.ECONNREFUSED: CONNECTION_REFUSED,
    errno.ECONNABORTED: "connection_aborted",
    errno.ETIMEDOUT: GENERIC_TIMEOUT,
    errno.ENETUNREACH: "network_unreachable",
    errno.EHOSTUNREACH: "host_unreachable",
    errno.EADDRNOTAVAIL: "address_not_available",
    errno.EPIPE: CONNECTION_RESET,
    errno.ENETDOWN: "network_down",
    errno.EAFNOSUPPORT: "network_unreachable",
}

_RCODE_FAILURES = {
    dns.rcode.NXDOMAIN: DNS_NXDOMAIN,
    dns.rcode.SERVFAIL: "dns_server_failure",
    dns.rcode.REFUSED: "dns_refused_error",
}


# What the network (or the peer at the other end) can raise: OSError covers sockets, timeouts
# (TimeoutError), resolver errors (socket.gaierror) and TLS (ssl.SSLError); dnspython's errors
# are malformed or missing answers; h11's remote errors are a peer breaking HTTP.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncio.TimeoutError,
    EOFError,
    asyncio.IncompleteReadError,
    dns.exception.DNSException,
    h11.RemoteProtocolError,
)


class StepFailure(Exception):
    """A failure already expressed as an OONI failure string (e.g. a lookup that failed)."""

    def __init__(self, failure: str) -> None:
        super().__init__(failure)
        self.failure = failure


def failure_from_exception(exc: BaseException) -> str:
    """The OONI failure string for an exception raised by a network step; `x_probe_fault: ...`
    for one the network cannot have caused (the probe's own fault, not the path's)."""
    if isinstance(exc, StepFailure):
        return exc.failure
    if not isinstance(exc, NETWORK_ERRORS):
        return f"{PROBE_FAULT}: {type(exc).__name__}: {exc}"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError | dns.exception.Timeout):
        return GENERIC_TIMEOUT
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_failure(exc)
    if isinstance(exc, ssl.SSLEOFError | asyncio.IncompleteReadError | EOFError):
        return EOF_ERROR
    if isinstance(exc, ssl.SSLError):
        return f"ssl_failed_handshake: {exc.reason or exc.strerror or 'unknown'}".lower()
    if isinstance(exc, socket.gaierror):
        return gai_failure(exc.errno)
    if isinstance(exc, OSError) and exc.errno in _ERRNO_FAILURES:
        return _ERRNO_FAILURES[exc.errno]
    if isinstance(exc, ConnectionResetError | BrokenPipeError):
        return CONNECTION_RESET
    if isinstance(exc, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, h11.RemoteProtocolError):
        return f"http_protocol_error: {exc}"
    return f"unknown_failure: {type(exc).__name__}: {exc}"


def certificate_error(exc: BaseException) -> str | None:
    """Why certificate verification failed (the x_cert_error of a handshake), or None when
    `exc` is not a verification failure.

    OONI's failure string lumps the validity dates in with every other certificate fault
    (`ssl_invalid_certificate`); a wrong clock and an interceptor are told apart only here.
    """
    if not isinstance(exc, ssl.SSLCertVerificationError):
        return None
    code = exc.verify_code
    if code == _HOSTNAME_MISMATCH_CODE:
        return "hostname_mismatch"
    if code in _UNKNOWN_AUTHORITY_CODES:
        return "unknown_authority"
    return _DATE_CODES.get(code, "invalid")


def gai_failure(code: int | None) -> str:
    """getaddrinfo's EAI_* codes as OONI DNS failures."""
    if code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", -5)):
        return DNS_NXDOMAIN
    if code == socket.EAI_AGAIN:
        return "dns_temporary_failure"
    if code == socket.EAI_FAIL:
        return "dns_server_failure"
    return f"dns_lookup_error: {code}"


def rcode_failure(rcode: dns.rcode.Rcode) -> str | None:
    """The failure for a DNS response code; None for NOERROR."""
    if rcode == dns.rcode.NOERROR:
        return None
    return _RCODE_FAILURES.get(rcode, f"dns_{dns.rcode.to_text(rcode).lower()}_error")


def _certificate_failure(exc: ssl.SSLCertVerificationError) -> str:
    if exc.verify_code == _HOSTNAME_MISMATCH_CODE:
        return "ssl_invalid_hostname"
    if exc.verify_code in _UNKNOWN_AUTHORITY_CODES:
        return "ssl_unknown_authority"
    return "ssl_invalid_certificate"
