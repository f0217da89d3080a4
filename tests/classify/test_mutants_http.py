"""HTTP rules at their edges: which responses can redirect into private space, when another
page in another status or without a known size differs from the control's, and what makes a
reset of a plain-HTTP fetch the server's own doing. Each test pins a behaviour mutation testing
found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify

IP = "10.0.2.10"


def _plain(healthy: Any, **http: Any) -> Any:
    m = healthy("http://x.com/", ip=IP)
    m.tk["requests"] = []
    m.http(address=f"{IP}:80", **http)
    return m


def _http_rule(m: Any) -> str:
    return str(classify(m.build()).layers["http"].rule)


@pytest.mark.parametrize("status", [300, 302, 399])
def test_a_3xx_into_private_space_is_blocked(healthy: Any, status: int) -> None:
    m = _plain(healthy, status=status, headers={"location": "http://10.10.34.35/"}, body="")
    c = classify(m.build())
    assert (c.layers["http"].rule, c.verdict) == ("http.redirect_to_private_address", "blocked")


@pytest.mark.parametrize("status", [200, 299, 400])
def test_only_a_3xx_redirects_into_private_space(healthy: Any, status: int) -> None:
    m = _plain(healthy, status=status, headers={"location": "http://10.10.34.35/"}, body="")
    assert _http_rule(m) != "http.redirect_to_private_address"


def test_a_redirect_to_a_public_address_is_not_one_into_private_space(healthy: Any) -> None:
    m = _plain(healthy, status=302, headers={"location": "http://93.184.216.34/"}, body="")
    assert _http_rule(m) != "http.redirect_to_private_address"


def _titled(title: str, length: int = 10_000) -> str:
    head = f"<html><head><title>{title}</title></head><body>"
    return head + "x" * (length - len(head))


def test_another_page_in_another_status_differs_whatever_its_size(healthy: Any) -> None:
    m = _plain(healthy, status=403, body=_titled("Access denied"))
    m.tk["control"]["http_request"].update({"body_length": 10_000, "title": "Omega site"})
    assert _http_rule(m) == "http.differs_from_control"


def test_another_page_of_unknown_size_differs_by_its_title(healthy: Any) -> None:
    m = _plain(healthy, body=_titled("Access denied"))
    m.tk["control"]["http_request"].update({"body_length": 0, "title": "Omega site"})
    assert _http_rule(m) == "http.differs_from_control"


def test_the_same_page_of_unknown_size_matches_by_its_title(healthy: Any) -> None:
    m = _plain(healthy, body=_titled("Omega site"))
    m.tk["control"]["http_request"].update({"body_length": 0, "title": "Omega site"})
    assert _http_rule(m) == "http.matches_control"


def _reset(healthy: Any) -> Any:
    return _plain(healthy, failure="connection_reset")


def test_a_plain_http_reset_alone_is_blocking(healthy: Any) -> None:
    c = classify(_reset(healthy).build())
    assert (c.layers["http"].rule, c.technique) == ("http.reset_probe_only", "http.reset")


def test_a_reset_while_the_throughput_sample_got_a_page_there_is_the_servers(
    healthy: Any,
) -> None:
    m = _reset(healthy)
    m.tk["x_throughput"] = {"address": f"{IP}:80", "status_code": 200}
    assert _http_rule(m) == "http.reset_not_consistent"


@pytest.mark.parametrize(
    "sample",
    [
        {"address": f"{IP}:80", "status_code": 0},
        {"address": "10.0.2.99:80", "status_code": 200},
        {"address": f"{IP}:80", "status_code": "200"},
        {"address": None, "status_code": 200},
        {"status_code": 200},
    ],
)
def test_a_sample_that_got_nothing_there_does_not_excuse_a_reset(
    healthy: Any, sample: dict[str, Any]
) -> None:
    m = _reset(healthy)
    m.tk["x_throughput"] = sample
    assert _http_rule(m) == "http.reset_probe_only"


def test_a_reset_while_another_request_got_a_page_from_that_address_is_the_servers(
    healthy: Any,
) -> None:
    m = _reset(healthy)
    m.http(url="http://x.com/other", address=f"{IP}:80")
    assert _http_rule(m) == "http.reset_not_consistent"
    other = _reset(healthy)
    other.http(url="http://x.com/other", address="10.0.2.99:80")
    assert _http_rule(other) == "http.reset_probe_only"
