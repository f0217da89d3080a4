"""OONI's failure strings: the ones reachwatch writes, and what kind of failure a string names.

The probe and the control write these strings; the classifier reads any OONI probe's (which
spell some failures differently, e.g. "connection_reset" or "read: connection reset by peer").
"""

from __future__ import annotations

GENERIC_TIMEOUT = "generic_timeout_error"
CONNECTION_RESET = "connection_reset"
CONNECTION_REFUSED = "connection_refused"
CONNECTION_ABORTED = "connection_aborted"
EOF_ERROR = "eof_error"
DNS_NXDOMAIN = "dns_nxdomain_error"
# reachwatch's failure string for an exception the network cannot have raised (a bug or a
# limit of the probe or control itself): no evidence about the path.
PROBE_FAULT = "x_probe_fault"

_CERT_FAILURES = ("ssl_invalid_hostname", "ssl_unknown_authority", "ssl_invalid_certificate")
_RESET_FAILURES = (CONNECTION_RESET, CONNECTION_REFUSED, CONNECTION_ABORTED, EOF_ERROR)
_UNREACHABLE = ("network_unreachable", "host_unreachable", "network_down")
_NXDOMAIN = (DNS_NXDOMAIN, "dns_name_error")


def is_probe_fault(failure: str | None) -> bool:
    return failure is not None and failure.startswith(PROBE_FAULT)


def is_timeout(failure: str) -> bool:
    return "timeout" in failure or "timed_out" in failure or "timed out" in failure


def is_certificate_error(failure: str) -> bool:
    return failure.startswith(_CERT_FAILURES) or "certificate verify failed" in failure


def is_reset(failure: str) -> bool:
    return failure.startswith(_RESET_FAILURES) or "reset" in failure


def is_unreachable(failure: str) -> bool:
    return failure.startswith(_UNREACHABLE)


def is_nxdomain(failure: str) -> bool:
    return failure.startswith(_NXDOMAIN)


def failure_kind(failure: str) -> str:
    """A short word for rule ids: timeout, reset, refused, unreachable, certificate, other."""
    if is_timeout(failure):
        return "timeout"
    if failure.startswith(CONNECTION_REFUSED):
        return "refused"
    if is_reset(failure):
        return "reset"
    if is_unreachable(failure):
        return "unreachable"
    if is_certificate_error(failure):
        return "certificate"
    return "other"
