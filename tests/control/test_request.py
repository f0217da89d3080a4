"""Parsing and bounding control requests, and the --resolver syntax."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from reachwatch.control import parse_resolver
from reachwatch.control._request import BadRequest, parse_endpoint, parse_request


def test_an_ooni_request_parses() -> None:
    req = parse_request(
        {
            "http_request": "https://X.com/home",
            "http_request_headers": {"User-Agent": ["reachwatch"], "Accept": "*/*"},
            "tcp_connect": ["104.244.42.1:443", "[2606:4700::1]:443", "104.244.42.1:443"],
            "x_quic": True,
            "unknown_key_from_a_newer_client": 1,
        },
        max_endpoints=32,
    )
    assert (req.scheme, req.host, req.port) == ("https", "x.com", 443)
    assert [str(e) for e in req.endpoints] == ["104.244.42.1:443", "[2606:4700::1]:443"]
    assert req.quic is True
    assert req.throughput is False


def test_punycode_and_trailing_dot_hosts_are_names() -> None:
    for url in ("https://xn--bcher-kva.example/", "https://x.com./", "http://_dmarc.x.com/"):
        assert parse_request({"http_request": url}, max_endpoints=1).url == url


def test_ip_literal_hosts_and_explicit_ports() -> None:
    req = parse_request({"http_request": "http://[::1]:8080/x"}, max_endpoints=1)
    assert (req.host, req.port, req.host_ip) == ("::1", 8080, ipaddress.ip_address("::1"))
    assert req.endpoints == ()


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ([], "JSON object"),
        ({}, "URL string"),
        ({"http_request": "ftp://x.com/"}, "http:// or https://"),
        ({"http_request": "file:///etc/passwd"}, "http:// or https://"),
        ({"http_request": "https:///nohost"}, "no host"),
        ({"http_request": "http://[::1/"}, "not a valid URL"),
        ({"http_request": "https://x.com:99999/"}, "invalid port"),
        ({"http_request": "https://u:p@x.com/"}, "credentials"),
        ({"http_request": "https://bücher.example/"}, "not a DNS name"),
        ({"http_request": "https://" + "a" * 64 + ".com/"}, "not a DNS name"),
        ({"http_request": "https://a..com/"}, "not a DNS name"),
        ({"http_request": "https://-a.com/"}, "not a DNS name"),
        ({"http_request": "https://x.com/" + "a" * 3000}, "longer than"),
        ({"http_request": "https://x.com/", "tcp_connect": "1.1.1.1:443"}, "list"),
        ({"http_request": "https://x.com/", "tcp_connect": ["x.com:443"]}, "IP address"),
        ({"http_request": "https://x.com/", "tcp_connect": ["1.1.1.1"]}, "ip:port"),
        ({"http_request": "https://x.com/", "tcp_connect": ["1.1.1.1:0"]}, "valid port"),
        ({"http_request": "https://x.com/", "tcp_connect": ["::1:443"]}, "IPv6 addresses"),
        ({"http_request": "https://x.com/", "x_quic": "yes"}, "true or false"),
        ({"http_request": "https://x.com/", "http_request_headers": {"A": [1]}}, "strings"),
    ],
)
def test_bad_requests_say_what_is_wrong(doc: Any, message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_request(doc, max_endpoints=4)


def test_too_many_addresses() -> None:
    doc = {"http_request": "https://x.com/", "tcp_connect": [f"1.1.1.{i}:443" for i in range(5)]}
    with pytest.raises(BadRequest, match="more than 4"):
        parse_request(doc, max_endpoints=4)


def test_endpoint_round_trip() -> None:
    for text in ("1.2.3.4:80", "[2001:db8::1]:443"):
        assert str(parse_endpoint(text)) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("192.0.2.53", ("192.0.2.53", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
    ],
)
def test_resolver_syntax(text: str, expected: tuple[str, int]) -> None:
    assert parse_resolver(text) == expected


@pytest.mark.parametrize("text", ["dns.google", "1.2.3.4:x", "[::1]5353", "1.2.3.4:70000"])
def test_bad_resolvers(text: str) -> None:
    with pytest.raises(ValueError):
        parse_resolver(text)
