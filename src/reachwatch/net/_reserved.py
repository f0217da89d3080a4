"""Reserved addresses: where no public name should resolve, and where the control never connects.

The tables follow IANA's special-purpose address registries (RFC 6890 and the entries added
since), read by their "Globally Reachable" column:

- False: reserved, with a short reason ("private", "loopback", "documentation"...);
- True (anycast services such as PCP, TURN, AS112, AMT, ORCHIDv2): not reserved, although the
  block is special-purpose (`special_purpose` still names it, for the control's stricter policy);
- N/A: the translation and tunnelling prefixes (NAT64 64:ff9b::/96, 6to4, Teredo) are judged by
  the IPv4 address they carry; deprecated ones (192.88.99.0/24, ORCHID) are reserved.

Outside the registry: multicast (IANA's address-space registries) is reserved, as is every IPv6
address outside 2000::/3, the only block IANA allocates for global unicast. Explicit tables
rather than `ipaddress.is_global`: the stdlib's idea of "global" has changed between Python
releases, and a refusal or a bogon should say why.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Final

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# (block, reason when reserved or None when globally reachable, name in IANA's registry)
_V4: Final = (
    ("0.0.0.0/8", "unspecified", "This network"),
    ("0.0.0.0/32", "unspecified", "This host on this network"),
    ("10.0.0.0/8", "private", "Private-Use"),
    ("100.64.0.0/10", "cgnat", "Shared Address Space"),
    ("127.0.0.0/8", "loopback", "Loopback"),
    ("169.254.0.0/16", "link_local", "Link Local"),
    ("172.16.0.0/12", "private", "Private-Use"),
    ("192.0.0.0/24", "reserved", "IETF Protocol Assignments"),
    ("192.0.0.0/29", "reserved", "IPv4 Service Continuity Prefix"),
    ("192.0.0.8/32", "reserved", "IPv4 dummy address"),
    ("192.0.0.9/32", None, "Port Control Protocol Anycast"),
    ("192.0.0.10/32", None, "Traversal Using Relays around NAT Anycast"),
    ("192.0.0.170/32", "reserved", "NAT64/DNS64 Discovery"),
    ("192.0.0.171/32", "reserved", "NAT64/DNS64 Discovery"),
    ("192.0.2.0/24", "documentation", "Documentation (TEST-NET-1)"),
    ("192.31.196.0/24", None, "AS112-v4"),
    ("192.52.193.0/24", None, "AMT"),
    ("192.88.99.0/24", "reserved", "Deprecated (6to4 Relay Anycast)"),
    ("192.168.0.0/16", "private", "Private-Use"),
    ("192.175.48.0/24", None, "Direct Delegation AS112 Service"),
    ("198.18.0.0/15", "benchmark", "Benchmarking"),
    ("198.51.100.0/24", "documentation", "Documentation (TEST-NET-2)"),
    ("203.0.113.0/24", "documentation", "Documentation (TEST-NET-3)"),
    ("240.0.0.0/4", "reserved", "Reserved"),
    ("255.255.255.255/32", "reserved", "Limited Broadcast"),
    # Not special-purpose but multicast (IANA's IPv4 address space registry).
    ("224.0.0.0/4", "multicast", "Multicast"),
)

_V6: Final = (
    ("::1/128", "loopback", "Loopback Address"),
    ("::/128", "unspecified", "Unspecified Address"),
    ("::ffff:0:0/96", None, "IPv4-mapped Address"),  # judged as the IPv4 address it maps
    ("64:ff9b::/96", None, "IPv4-IPv6 Translat."),  # judged by the IPv4 address it carries
    ("64:ff9b:1::/48", "reserved", "IPv4-IPv6 Translat. (local use)"),
    ("100::/64", "reserved", "Discard-Only Address Block"),
    ("2001::/23", "reserved", "IETF Protocol Assignments"),
    ("2001::/32", None, "TEREDO"),  # judged by the IPv4 client address it carries
    ("2001:1::1/128", None, "Port Control Protocol Anycast"),
    ("2001:1::2/128", None, "Traversal Using Relays around NAT Anycast"),
    ("2001:1::3/128", None, "DNS-SD Service Registration Protocol Anycast"),
    ("2001:2::/48", "benchmark", "Benchmarking"),
    ("2001:3::/32", None, "AMT"),
    ("2001:4:112::/48", None, "AS112-v6"),
    ("2001:10::/28", "reserved", "Deprecated (previously ORCHID)"),
    ("2001:20::/28", None, "ORCHIDv2"),
    ("2001:30::/28", None, "Drone Remote ID Protocol Entity Tags (DETs) Prefix"),
    ("2001:db8::/32", "documentation", "Documentation"),
    ("2002::/16", None, "6to4"),  # judged by the IPv4 address it carries
    ("2620:4f:8000::/48", None, "Direct Delegation AS112 Service"),
    ("3fff::/20", "documentation", "Documentation"),
    ("5f00::/16", "reserved", "Segment Routing (SRv6) SIDs"),
    ("fc00::/7", "private", "Unique-Local"),
    ("fe80::/10", "link_local", "Link-Local Unicast"),
    # Not special-purpose: deprecated site-local and multicast (IANA's IPv6 address space).
    ("fec0::/10", "private", "Site-Local (deprecated)"),
    ("ff00::/8", "multicast", "Multicast"),
)


def _most_specific_first(
    table: tuple[tuple[str, str | None, str], ...],
) -> tuple[tuple[_Network, str | None, str], ...]:
    blocks = [(ipaddress.ip_network(block), reason, name) for block, reason, name in table]
    blocks.sort(key=lambda entry: -entry[0].prefixlen)
    return tuple(blocks)


_V4_BLOCKS: Final = _most_specific_first(_V4)
_V6_BLOCKS: Final = _most_specific_first(_V6)
_GLOBAL_UNICAST: Final = ipaddress.IPv6Network("2000::/3")
_NAT64: Final = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))


def special_purpose(ip: IPAddress) -> tuple[str | None, str] | None:
    """The most specific block of the tables above holding `ip`, as (reason, name); None for an
    ordinary address."""
    blocks = _V4_BLOCKS if isinstance(ip, ipaddress.IPv4Address) else _V6_BLOCKS
    for net, reason, name in blocks:
        if ip in net:
            return reason, name
    return None


def embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64, 6to4, Teredo), if any."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]  # the client address is the one a relay would deliver to
    if any(ip in net for net in _NAT64):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def reserved_reason(ip: IPAddress) -> str | None:
    """Why `ip` is reserved ("private", "loopback", "documentation"...), None when it is an
    address a public name may resolve to."""
    inner = embedded_ipv4(ip)
    if inner is not None:
        inner_reason = reserved_reason(inner)
        # A mapped address is the IPv4 address itself; the other embeddings are judged twice.
        if inner_reason is not None or _is_mapped(ip):
            return inner_reason
    found = special_purpose(ip)
    if found is not None:
        return found[0]
    if isinstance(ip, ipaddress.IPv6Address) and ip not in _GLOBAL_UNICAST:
        return "reserved"  # IANA reserves every IPv6 block outside 2000::/3 (bar the above)
    return None


def _is_mapped(ip: IPAddress) -> bool:
    return isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None


def parse_address(text: str) -> IPAddress | None:
    """The address an IP literal names, None for anything else (a name, garbage)."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


@lru_cache(maxsize=1 << 16)
def is_reserved(text: str) -> bool:
    """Whether an IP literal is a reserved address (False for anything that is not one)."""
    ip = parse_address(text)
    return ip is not None and reserved_reason(ip) is not None
