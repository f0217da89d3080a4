"""What this machine's network can do at all, found without sending a single packet."""

from __future__ import annotations

import socket

from reachwatch.probe._failures import failure_from_exception

# Documentation prefixes (RFC 5737, RFC 3849): never routed on the internet, but a route lookup
# for them answers "is there a default route?" the same way a real address would.
_PROBE_V4 = ("192.0.2.1", 53)
_PROBE_V6 = ("2001:db8::1", 53, 0, 0)


def route_failure(family: socket.AddressFamily) -> str | None:
    """None when the kernel has a route for the family, else the OONI failure.

    connect() on a UDP socket only picks a route and a source address: nothing is sent.
    """
    target = _PROBE_V6 if family == socket.AF_INET6 else _PROBE_V4
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect(target)
    except OSError as exc:
        return failure_from_exception(exc)
    return None


def ipv6_capable() -> bool:
    """Whether IPv6 addresses outside this machine can be reached at all."""
    return route_failure(socket.AF_INET6) is None
