"""The address policy: what the control refuses to connect to, and why."""

from __future__ import annotations

import ipaddress

import pytest

from reachwatch.control import refusal_reason
from reachwatch.control._safety import AddressPolicy


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "cgnat"),
        ("169.254.169.254", "link_local"),
        ("198.18.0.1", "benchmark"),
        ("198.19.255.255", "benchmark"),
        ("224.0.0.251", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("0.0.0.0", "unspecified"),
        ("192.0.2.10", "documentation"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link_local"),
        ("fd00::1", "private"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("2002:a00:1::1", "private"),  # 6to4 around 10.0.0.1
        ("64:ff9b::a9fe:a9fe", "link_local"),  # NAT64 around 169.254.169.254
        ("::127.0.0.1", "reserved"),  # IPv4-compatible, deprecated
    ],
)
def test_non_public_addresses_are_refused_with_a_reason(address: str, reason: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["1.1.1.1", "104.244.42.1", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"]
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal_reason(ipaddress.ip_address(address)) is None


def test_policy_refuses_ports_other_than_web_ports_unless_told() -> None:
    public = ipaddress.ip_address("1.1.1.1")
    default = AddressPolicy(allow_private=False)
    assert default.refuse(public, 443) is None
    assert default.refuse(public, 80) is None
    assert default.refuse(public, 22) == "x_refused_port"
    assert AddressPolicy(allow_private=False, ports=frozenset({8443})).refuse(public, 8443) is None


def test_allow_private_lets_labs_reach_anything() -> None:
    lab = AddressPolicy(allow_private=True)
    assert lab.refuse(ipaddress.ip_address("127.0.0.1"), 8443) is None
    assert lab.refuse(ipaddress.ip_address("10.0.0.1"), 443) is None
    strict = AddressPolicy(allow_private=False)
    assert strict.refuse(ipaddress.ip_address("10.0.0.1"), 443) == "x_refused_address"
