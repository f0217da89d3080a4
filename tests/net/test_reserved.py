"""One definition of a reserved address, checked against IANA's special-purpose registries, and
the classifier (bogons) and the control (its address policy) both using it."""

from __future__ import annotations

import csv
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import pytest

from reachwatch.classify._net import is_bogon
from reachwatch.control import refusal_reason
from reachwatch.control._safety import is_bogon as control_is_bogon
from reachwatch.net import IPAddress, is_reserved, reserved_reason

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# How reachwatch reads the blocks whose reachability depends on an IPv4 address they carry:
# judged by that address (a mapped address *is* that address; NAT64, 6to4 and Teredo deliver to
# it). Other N/A blocks are deprecated, and reserved.
_CARRY_IPV4 = {"::ffff:0:0/96", "64:ff9b::/96", "2002::/16", "2001::/32"}
_MULTICAST = (ipaddress.ip_network("224.0.0.0/4"), ipaddress.ip_network("ff00::/8"))


@dataclass(frozen=True)
class Entry:
    block: Network
    name: str
    reachable: str  # True, False or N/A, as the registry writes it


def _registry() -> list[Entry]:
    lines = (Path(__file__).parent / "iana_special_purpose.csv").read_text().splitlines()
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    return [
        Entry(ipaddress.ip_network(r["block"]), r["name"], r["globally_reachable"]) for r in rows
    ]


REGISTRY = _registry()


def _governing(ip: IPAddress) -> Entry | None:
    """The most specific registry entry holding ip (how the registry's nesting reads)."""
    holding = [e for e in REGISTRY if ip in e.block]
    return max(holding, key=lambda e: e.block.prefixlen) if holding else None


def _carried(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)  # NAT64: the last 32 bits


def _expected_reserved(ip: IPAddress) -> bool:
    entry = _governing(ip)
    if entry is None:
        if any(ip in net for net in _MULTICAST):
            return True
        # IANA's IPv6 address space: only 2000::/3 is allocated for global unicast.
        return isinstance(ip, ipaddress.IPv6Address) and ip not in ipaddress.ip_network("2000::/3")
    if str(entry.block) in _CARRY_IPV4:
        assert isinstance(ip, ipaddress.IPv6Address)
        return _expected_reserved(_carried(ip))
    return entry.reachable != "True"


def _samples(net: Network) -> list[IPAddress]:
    """The first, second, middle and last address of a block."""
    last = net.num_addresses - 1
    return [net[0], net[min(1, last)], net[last // 2], net[last]]


SAMPLES = sorted(
    {ip for e in REGISTRY for ip in _samples(e.block)}
    | {ipaddress.ip_address(a) for a in ("224.0.0.1", "239.255.255.250", "ff02::1", "4000::1")}
    | {ipaddress.ip_address(a) for a in ("1.1.1.1", "104.244.42.1", "2606:4700::1111")},
    key=lambda ip: (ip.version, int(ip)),
)


def test_the_registry_test_data_is_read_whole() -> None:
    assert len([e for e in REGISTRY if e.block.version == 4]) == 25
    assert len([e for e in REGISTRY if e.block.version == 6]) == 24
    assert {e.reachable for e in REGISTRY} == {"True", "False", "N/A"}


@pytest.mark.parametrize("ip", SAMPLES, ids=str)
def test_reserved_follows_the_registry(ip: IPAddress) -> None:
    assert (reserved_reason(ip) is not None) is _expected_reserved(ip)


@pytest.mark.parametrize("ip", SAMPLES, ids=str)
def test_the_classifier_and_the_control_share_the_definition(ip: IPAddress) -> None:
    text = str(ip)
    assert is_bogon(text) is is_reserved(text) is control_is_bogon(ip)


@pytest.mark.parametrize("ip", SAMPLES, ids=str)
def test_the_control_refuses_every_reserved_and_special_purpose_address(ip: IPAddress) -> None:
    refused = refusal_reason(ip) is not None
    if is_reserved(str(ip)):
        assert refused
    entry = _governing(ip)
    if entry is not None and str(entry.block) not in {"::ffff:0:0/96", "64:ff9b::/96"}:
        # Even globally reachable special-purpose services (anycast relays, AS112): a control
        # has no business there. Mapped and NAT64 addresses are judged as their IPv4 address.
        assert refused


@pytest.mark.parametrize(
    ("address", "reserved"),
    [
        # Where the classifier's and the control's definitions used to disagree.
        ("192.0.0.8", True),
        ("192.0.0.9", False),  # PCP anycast: globally reachable
        ("192.0.0.255", True),
        ("192.88.99.1", True),  # deprecated 6to4 relay anycast
        ("2002:a00:1::1", True),  # 6to4 around 10.0.0.1
        ("2002:808:808::1", False),  # 6to4 around 8.8.8.8
        ("2001:20::1", False),  # ORCHIDv2: globally reachable
        ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", False),  # Teredo, client 8.8.8.8
        ("::ffff:10.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        ("64:ff9b::a9fe:a9fe", True),  # NAT64 around 169.254.169.254
        ("64:ff9b:1::808:808", True),  # local-use translation prefix
        ("3fff::1", True),  # documentation (2024)
        ("5f00::1", True),  # SRv6 SIDs
        ("4000::1", True),  # outside 2000::/3
        ("not an address", False),
        ("x.com", False),
    ],
)
def test_formerly_disputed_addresses(address: str, reserved: bool) -> None:
    assert is_reserved(address) is reserved
    assert is_bogon(address) is reserved
