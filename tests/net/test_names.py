"""Hosts from URLs and endpoints: one definition for the probe, the control, the classifier and
the lab."""

from __future__ import annotations

import pytest

from reachwatch.net import endpoint, endpoint_ip, url_host


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://X.com/home", "x.com"),
        ("http://[2001:db8::1]:8080/", "2001:db8::1"),
        ("  https://t.co/abc  ", "t.co"),  # a Location header with spaces around it
        ("https://user:pw@example.org:443/", "example.org"),
        ("/relative/path", None),
        ("http://[::1/", None),  # unclosed bracket: not a URL
        ("", None),
    ],
)
def test_url_host(url: str, host: str | None) -> None:
    assert url_host(url) == host


@pytest.mark.parametrize(("ip", "text"), [("1.2.3.4", "1.2.3.4:443"), ("::1", "[::1]:443")])
def test_endpoints_round_trip(ip: str, text: str) -> None:
    assert endpoint(ip, 443) == text
    assert endpoint_ip(text) == ip
