"""What this machine's network can do at all, found without sending a single packet."""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Sequence
from typing import Any

from reachwatch.probe._failures import failure_from_exception

SCRUBBED = "[scrubbed]"

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


def own_addresses(local_address: str | None = None) -> list[str]:
    """The global addresses this machine sends from: its public address unless it is behind
    NAT (IPv6 usually is not). Found by route lookups, so nothing is sent."""
    found: list[str] = [local_address] if local_address else []
    for family, target in ((socket.AF_INET, _PROBE_V4), (socket.AF_INET6, _PROBE_V6)):
        try:
            with socket.socket(family, socket.SOCK_DGRAM) as sock:
                sock.connect(target)
                found.append(str(sock.getsockname()[0]))
        except OSError:
            continue
    addresses: list[str] = []
    for text in dict.fromkeys(found):
        ip = ipaddress.ip_address(text.split("%")[0])
        if ip.is_global:
            addresses += [str(ip), ip.exploded] if ip.version == 6 else [str(ip)]
    return list(dict.fromkeys(addresses))


def scrub(value: Any, addresses: Sequence[str]) -> Any:
    """value with every address in `addresses` replaced by OONI's "[scrubbed]", in every string
    (a server may echo the address it sees in a header or the page)."""
    if not addresses:
        return value
    return _scrub(value, _address_pattern(addresses))


def _address_pattern(addresses: Sequence[str]) -> re.Pattern[str]:
    # Whole addresses only: scrubbing 1.2.3.4 must leave 11.2.3.45 alone, and an IPv4 address
    # followed by ":port" is still the address, while after an IPv6 address ":" continues it.
    def whole(address: str) -> str:
        if ":" in address:
            return rf"(?<![0-9A-Fa-f:]){re.escape(address)}(?![0-9A-Fa-f:])"
        return rf"(?<![0-9.]){re.escape(address)}(?![0-9]|\.[0-9])"

    ordered = sorted(addresses, key=len, reverse=True)
    return re.compile("|".join(whole(a) for a in ordered), re.IGNORECASE)


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(SCRUBBED, value)
    if isinstance(value, dict):
        return {_scrub(k, pattern): _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, pattern) for item in value]
    return value
