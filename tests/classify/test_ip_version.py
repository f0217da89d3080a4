"""ip_version() agrees with the standard library's ipaddress on any string."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from reachwatch.classify._net import ip_version


def _reference(text: str) -> int:
    try:
        return ipaddress.ip_address(text).version
    except ValueError:
        return 0


# Characters that make addresses, and look-alikes that must not: other scripts' digits,
# superscripts, white space, a scope separator, a prefix slash.
_ALPHABET = "0123456789.:abcdefABCDEF%/ x١²٣\t"


@given(st.text(alphabet=_ALPHABET, max_size=45))
def test_agrees_with_ipaddress_on_any_string(text: str) -> None:
    ip_version.cache_clear()
    assert ip_version(text) == _reference(text)


@given(st.ip_addresses())
def test_every_address_is_recognised(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    assert ip_version(str(address)) == address.version


def test_edge_cases() -> None:
    cases = [
        "1.2.3.4",
        "255.255.255.255",
        "256.1.1.1",
        "01.2.3.4",
        "0.0.0.0",
        "1.2.3",
        "1.2.3.4.5",
        "1..3.4",
        "١.2.3.4",
        "².2.3.4",
        " 1.2.3.4",
        "1.2.3.4/32",
        "::1",
        "fe80::1%eth0",
        "::ffff:1.2.3.4",
        "1:2",
        "",
        "example.com",
        "2001:db8::",
        ":::",
    ]
    for text in cases:
        assert ip_version(text) == _reference(text), text
