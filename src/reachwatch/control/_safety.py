"""Which addresses the control may connect to.

The control connects wherever a request tells it to, so without this policy anyone could use it
to scan or reach into the network it runs in (an open proxy). Every address, whether a request
names it or the control's own resolver returns it, passes `refusal_reason` first; a refused
address gets a failure entry and never a packet.
"""

from __future__ import annotations

import ipaddress
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Explicit tables rather than `ipaddress.is_global` alone: the stdlib's idea of "private" has
# changed between Python releases, and the failure entry should say *why* an address was refused.
_V4_REFUSED: Final = tuple(
    (ipaddress.IPv4Network(net), reason)
    for net, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "cgnat"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmark"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
    )
)

_V6_REFUSED: Final = tuple(
    (ipaddress.IPv6Network(net), reason)
    for net, reason in (
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved"),  # IPv4-compatible (deprecated)
        ("100::/64", "reserved"),  # discard-only
        ("2001:db8::/32", "documentation"),
        ("2001:2::/48", "benchmark"),
        ("2001:10::/28", "reserved"),  # ORCHID
        ("2001:20::/28", "reserved"),  # ORCHIDv2
        ("fc00::/7", "private"),  # unique local
        ("fe80::/10", "link_local"),
        ("fec0::/10", "private"),  # site local (deprecated)
        ("ff00::/8", "multicast"),
    )
)

# IPv6 prefixes that carry an IPv4 address a gateway may translate to: judged by that address.
_NAT64: Final = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, 6to4, Teredo, NAT64), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address is the one a relay would deliver to
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal_reason(ip: IPAddress) -> str | None:
    """Why the control must not connect to `ip` ("loopback", "private", ...), or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            inner_reason = refusal_reason(inner)
            # A mapped address is the IPv4 address itself; other embeddings are judged twice.
            if inner_reason is not None or ip.ipv4_mapped is not None:
                return inner_reason
        table: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = _V6_REFUSED
    else:
        table = _V4_REFUSED
    for net, reason in table:
        if ip in net:
            return reason
    # Belt and braces: whatever the stdlib also knows to be non-global stays out.
    if not ip.is_global or ip.is_multicast:
        return "reserved"
    return None


def is_bogon(ip: IPAddress) -> bool:
    """An address that must never appear in public DNS answers (OONI's bogon flag)."""
    return refusal_reason(ip) is not None


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
