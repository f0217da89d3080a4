"""Addresses, endpoints and OONI failure strings: the small vocabulary every rule uses.

Reserved addresses, endpoints and failure strings are defined once in reachwatch.net (the probe
and the control read them there too); this module adds what only the classifier needs.
"""

from __future__ import annotations

import csv
import ipaddress
from functools import cache, lru_cache
from importlib import resources

from reachwatch.net import (
    PROBE_FAULT,
    endpoint,
    endpoint_ip,
    failure_kind,
    is_certificate_error,
    is_nxdomain,
    is_probe_fault,
    is_reserved,
    is_reset,
    is_timeout,
    is_unreachable,
    parse_address,
)


@lru_cache(maxsize=1 << 16)
def ip_version(text: str) -> int:
    """4 or 6 for an IP literal, 0 for anything else (a CNAME, garbage): what
    ipaddress.ip_address() says, without building an address object for the common IPv4 case
    (a real corpus meets many addresses once each, so a memo alone does not make it cheap)."""
    if _is_ipv4(text):
        return 4
    if ":" not in text:
        return 0  # not IPv4, and every IPv6 literal has colons
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return 0
    return 6


def _is_ipv4(text: str) -> bool:
    """ipaddress's IPv4 rule: four ASCII-decimal octets of at most 3 digits, each at most 255,
    without leading zeros."""
    octets = text.split(".")
    if len(octets) != 4:
        return False
    for octet in octets:
        if not octet or len(octet) > 3 or not (octet.isascii() and octet.isdigit()):
            return False
        if octet[0] == "0" and len(octet) > 1:
            return False
        if int(octet) > 255:
            return False
    return True


def is_bogon(text: str) -> bool:
    """A reserved address (reachwatch.net's definition, which the control's policy uses too):
    no public name should resolve to it."""
    return is_reserved(text)


@lru_cache(maxsize=1 << 16)
def is_never_a_host(text: str) -> bool:
    """Loopback, unspecified or link-local: no resolver should ever answer these for a
    public name, whatever network the probe is in."""
    ip = parse_address(text)
    if ip is None:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    this_network = isinstance(ip, ipaddress.IPv4Address) and ip.packed[0] == 0  # 0.0.0.0/8
    return (
        this_network or ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast
    )


@cache
def cdn_asns() -> frozenset[int]:
    """Networks whose answers legitimately differ by vantage point (shipped data file)."""
    text = (resources.files("reachwatch.classify") / "data" / "cdn_asns.csv").read_text()
    return frozenset(int(row["asn"]) for row in csv.DictReader(text.splitlines()))


__all__ = [
    "PROBE_FAULT",
    "cdn_asns",
    "endpoint",
    "endpoint_ip",
    "failure_kind",
    "ip_version",
    "is_bogon",
    "is_certificate_error",
    "is_never_a_host",
    "is_nxdomain",
    "is_probe_fault",
    "is_reset",
    "is_timeout",
    "is_unreachable",
]
