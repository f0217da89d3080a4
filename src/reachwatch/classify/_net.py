"""Addresses, endpoints and OONI failure strings: the small vocabulary every rule uses."""

from __future__ import annotations

import csv
import ipaddress
from functools import cache, lru_cache
from importlib import resources

_CERT_FAILURES = ("ssl_invalid_hostname", "ssl_unknown_authority", "ssl_invalid_certificate")
_RESET_FAILURES = ("connection_reset", "connection_refused", "connection_aborted", "eof_error")
_UNREACHABLE = ("network_unreachable", "host_unreachable", "network_down")
_NXDOMAIN = ("dns_nxdomain_error", "dns_name_error")


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


@lru_cache(maxsize=1 << 16)
def is_bogon(text: str) -> bool:
    """An address no public name should resolve to: private, loopback, link-local,
    unspecified, reserved, multicast, shared (CGNAT) space."""
    ip = _unmapped_address(text)
    return ip is not None and (not ip.is_global or ip.is_multicast)


@lru_cache(maxsize=1 << 16)
def is_never_a_host(text: str) -> bool:
    """Loopback, unspecified or link-local: no resolver should ever answer these for a
    public name, whatever network the probe is in."""
    ip = _unmapped_address(text)
    if ip is None:
        return False
    this_network = isinstance(ip, ipaddress.IPv4Address) and ip.packed[0] == 0  # 0.0.0.0/8
    return (
        this_network or ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast
    )


def _unmapped_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address a literal names (an IPv4-mapped IPv6 address as the IPv4 one it maps),
    None for anything else."""
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def endpoint(ip: str, port: int | str) -> str:
    """OONI's endpoint spelling: 1.2.3.4:443 and [2001:db8::1]:443."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"


def endpoint_ip(text: str) -> str:
    """The address part of an OONI endpoint."""
    if text.startswith("["):
        return text[1 : text.find("]")]
    return text.rsplit(":", 1)[0]


# reachwatch's failure string for an exception the network cannot have raised (a bug or a
# limit of the probe or control itself): no evidence about the path.
PROBE_FAULT = "x_probe_fault"


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
    if failure.startswith("connection_refused"):
        return "refused"
    if is_reset(failure):
        return "reset"
    if is_unreachable(failure):
        return "unreachable"
    if is_certificate_error(failure):
        return "certificate"
    return "other"


@cache
def cdn_asns() -> frozenset[int]:
    """Networks whose answers legitimately differ by vantage point (shipped data file)."""
    text = (resources.files("reachwatch.classify") / "data" / "cdn_asns.csv").read_text()
    return frozenset(int(row["asn"]) for row in csv.DictReader(text.splitlines()))
