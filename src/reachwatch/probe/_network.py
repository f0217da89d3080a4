"""What this machine's network can do at all, found without sending a single packet."""

from __future__ import annotations

import base64
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
    and in every spelling (a server may echo the address it sees in a header, a cookie, a JSON
    body or the page's title, and not always as it is usually written)."""
    pattern = address_pattern(addresses)
    return value if pattern is None else _scrub(value, pattern)


def address_pattern(addresses: Sequence[str]) -> re.Pattern[str] | None:
    """One pattern for every spelling of the addresses: IPv4 dotted (leading zeros, or dashes
    as in reverse-DNS names), as a decimal or hex number, and IPv4-mapped; IPv6 compressed at
    any run of zeros or not at all, with or without leading zeros, any case, and with its
    colons URL-encoded. Whole addresses only: scrubbing 1.2.3.4 leaves 11.2.3.45 alone."""
    ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
    for text in addresses:
        try:
            ip = ipaddress.ip_address(text.strip("[]").split("%")[0])
        except ValueError:
            continue
        mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
        ips.add(mapped or ip)
    if not ips:
        return None
    spellings: list[str] = []
    for ip in sorted(ips, key=str):
        if isinstance(ip, ipaddress.IPv4Address):
            spellings += _v4_spellings(ip)
            ip = ipaddress.IPv6Address(f"::ffff:{ip}")  # and its IPv4-mapped IPv6 form
        spellings.append(_v6_spelling(ip))
    return re.compile("|".join(spellings), re.IGNORECASE)


# A preceding %XX (a URL-encoded "=" or ":") does not join the address to what is before it.
_HEX_START = r"(?:(?<![0-9a-f:])|(?<=%[0-9a-f]{2}))"
_COLON = r"(?::|%3a)"


def _number(value: int, *, base: int, width: int) -> str:
    """The value with any number of leading zeros up to the field's width."""
    digits = format(value, "x" if base == 16 else "d")
    return f"0{{0,{width - len(digits)}}}{digits}" if len(digits) < width else digits


def _v4_spellings(ip: ipaddress.IPv4Address) -> list[str]:
    octets = [_number(int(o), base=10, width=3) for o in str(ip).split(".")]
    return [
        r"(?<![0-9])" + r"[.\-_]".join(octets) + r"(?!\.?[0-9])",
        rf"(?<![0-9.]){int(ip)}(?![0-9])",
        rf"(?<![0-9a-z])0x0*{int(ip):x}(?![0-9a-f])",
    ]


def _v6_spelling(ip: ipaddress.IPv6Address) -> str:
    groups = [int(g, 16) for g in ip.exploded.split(":")]
    written = [_number(g, base=16, width=4) for g in groups]
    forms = [_COLON.join(written)]
    # "::" may stand for any run of zero groups (RFC 5952 picks one; parsers take them all).
    for first in range(8):
        for last in range(first, 8):
            if any(groups[first : last + 1]):
                break
            head, tail = _COLON.join(written[:first]), _COLON.join(written[last + 1 :])
            forms.append(f"{head}{_COLON}{_COLON}{tail}")
    return _HEX_START + "(?:" + "|".join(forms) + ")" + r"(?![0-9a-f]|:[0-9a-f])"


def _scrub(value: Any, pattern: re.Pattern[str]) -> Any:
    if isinstance(value, str):
        return pattern.sub(SCRUBBED, value)
    if isinstance(value, dict):
        if value.get("format") == "base64" and isinstance(value.get("data"), str):
            return {**value, "data": _scrub_base64(value["data"], pattern)}
        return {_scrub(k, pattern): _scrub(v, pattern) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(item, pattern) for item in value]
    return value


def _scrub_base64(data: str, pattern: re.Pattern[str]) -> str:
    """A body that is not UTF-8 (OONI stores it base64) can carry the address as well."""
    try:
        raw = base64.b64decode(data, validate=True)
    except ValueError:
        return data
    text = raw.decode("latin-1")
    scrubbed = pattern.sub(SCRUBBED, text)
    return data if scrubbed == text else base64.b64encode(scrubbed.encode("latin-1")).decode()
