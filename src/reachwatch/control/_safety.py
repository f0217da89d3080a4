"""Which addresses the control may connect to.

The control connects wherever a request tells it to, so without this policy anyone could use it
to scan or reach into the network it runs in (an open proxy). Every address, whether a request
names it or the control's own resolver returns it, passes `refusal_reason` first; a refused
address gets a failure entry and never a packet.
"""

from __future__ import annotations

import ipaddress
from typing import Final

from reachwatch.net import IPAddress, embedded_ipv4, reserved_reason, special_purpose

_NAT64_WELL_KNOWN: Final = ipaddress.IPv6Network("64:ff9b::/96")
_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")


def refusal_reason(ip: IPAddress) -> str | None:
    """Why the control must not connect to `ip` ("loopback", "private", ...), or None if it may.

    Every reserved address (the definition the classifier uses for bogons), and beyond it every
    special-purpose block, even the globally reachable anycast services (PCP, TURN, AS112, AMT,
    ORCHIDv2, Teredo and 6to4 relays): a control has no reason to reach those. The NAT64 prefix
    64:ff9b::/96 is the one exception: it is how an IPv6-only network reaches a public IPv4
    address, and it is judged by that address.
    """
    inner = embedded_ipv4(ip)
    if inner is not None and (ip in _NAT64_WELL_KNOWN or ip in _MAPPED):
        return refusal_reason(inner)
    reason = reserved_reason(ip)
    if reason is not None:
        return reason
    if special_purpose(ip) is not None:
        return "special_purpose"
    # Belt and braces: whatever this Python's stdlib knows to be non-global stays out as well.
    if not ip.is_global or ip.is_multicast:
        return "reserved"
    return None


def is_bogon(ip: IPAddress) -> bool:
    """An address that must never appear in public DNS answers (OONI's bogon flag)."""
    return reserved_reason(ip) is not None


class AddressPolicy:
    """The control's connection policy: public addresses only, unless started for a lab."""

    def __init__(self, *, allow_private: bool, ports: frozenset[int] | None = None) -> None:
        self.allow_private = allow_private
        # With allow_private any port is fine (labs run servers on high ports).
        self.ports = ports if ports is not None else frozenset({80, 443})

    def refuse(self, ip: IPAddress, port: int) -> str | None:
        """The failure string for a refused endpoint, or None if the control may connect."""
        if self.allow_private:
            return None
        if port not in self.ports:
            return "x_refused_port"
        if refusal_reason(ip) is not None:
            return "x_refused_address"
        return None

    def port_allowed(self, port: int) -> bool:
        return self.allow_private or port in self.ports


__all__ = ["AddressPolicy", "IPAddress", "is_bogon", "refusal_reason"]
