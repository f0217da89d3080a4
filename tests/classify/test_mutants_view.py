"""How a measurement is read before it is judged: OONI's own page comparison, response headers
as pairs or lists, base64 bodies, the control's title and ASNs. Each test pins a behaviour
mutation testing found no test of tests/classify checking."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from reachwatch.classify import InvalidMeasurement, classify

IP = "104.244.42.1"
SURF_SAFELY = "This website is prohibited for viewership from within Pakistan."


def _http(m: Any) -> str:
    return str(classify(m.build()).layers["http"].rule)


def _cut(healthy: Any, **matches: Any) -> Any:
    """A plain-HTTP page whose stored body was cut, with OONI's comparison flags."""
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body="abc")
    m.set(**matches)
    return m


@pytest.mark.parametrize(
    "flags",
    [
        {"status_code_match": True, "body_length_match": True},
        {"status_code_match": True, "headers_match": True, "body_length_match": False},
        {"status_code_match": True, "title_match": True, "headers_match": False},
    ],
)
def test_ooni_says_the_page_matched_when_the_status_and_any_other_check_did(
    healthy: Any, flags: dict[str, Any]
) -> None:
    assert _http(_cut(healthy, **flags)) == "http.matches_control"


@pytest.mark.parametrize(
    "flags",
    [
        {"status_code_match": True, "body_length_match": False, "title_match": False},
        {"status_code_match": False, "body_length_match": True, "title_match": True},
    ],
)
def test_ooni_says_the_page_did_not_match(healthy: Any, flags: dict[str, Any]) -> None:
    assert _http(_cut(healthy, **flags)) != "http.matches_control"


def test_without_ooni_flags_the_page_is_compared_by_reachwatch(healthy: Any) -> None:
    assert _http(_cut(healthy, status_code_match=True)) != "http.matches_control"
    assert _http(_cut(healthy, body_length_match=True)) != "http.matches_control"


@pytest.mark.parametrize(
    "headers",
    [
        {"headers_list": [["Location", "http://10.10.34.35/"], ["Location", "/elsewhere"]]},
        # Entries that are not pairs are skipped; the list wins over the mapping.
        {"headers_list": [["X", 1, 2], "junk", ["LOCATION", "http://10.10.34.35/"]], "headers": {}},
        {"headers": {"LOCATION": ["http://10.10.34.35/", "http://93.184.216.34/"]}},
        {"headers": {"Location": "http://10.10.34.35/"}},
    ],
)
def test_response_headers_are_read_in_every_layout_by_lower_case_name(
    healthy: Any, headers: Any
) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(status=302, body="")
    response = m.tk["requests"][0]["response"]
    del response["headers"]
    response.update(headers)
    assert _http(m) == "http.redirect_to_private_address"


def test_a_base64_body_is_decoded_before_it_is_matched(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http()
    data = base64.b64encode(SURF_SAFELY.encode()).decode()
    m.tk["requests"][0]["response"]["body"] = {"format": "base64", "data": data}
    c = classify(m.build())
    assert (c.layers["http"].rule, c.technique) == ("http.blockpage_fingerprint", "http.blockpage")


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("body", 42, "response body is int"),
        ("headers", "Location: x", "response headers are not an object"),
    ],
)
def test_a_response_of_the_wrong_shape_is_invalid(
    healthy: Any, key: str, value: Any, message: str
) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"][0]["response"][key] = value
    with pytest.raises(InvalidMeasurement, match=message):
        classify(m.build())


def test_the_control_title_is_compared_with_its_spaces_folded(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body="<html><head><title>Omega site</title></head></html>")
    m.tk["requests"][0]["response"]["x_body_length"] = 100
    m.tk["control"]["http_request"].update({"body_length": 10_000, "title": " Omega\n  site "})
    assert _http(m) == "http.matches_control"


@pytest.mark.parametrize(("asn", "rule"), [(0, "dns.differs_unconfirmed"), (1, "dns.same_asn")])
def test_an_asn_of_zero_is_no_asn(build: Any, asn: int, rule: str) -> None:
    other = "104.244.42.65"
    m = build().dns([other]).control_dns([IP]).asn(IP, asn).asn(other, asn)
    assert classify(m.build()).layers["dns"].rule == rule
