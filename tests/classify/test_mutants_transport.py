"""What rules out SNI filtering of a reset handshake (another connection with the same name to
the same address that got through; the control reset alike), and what does not. Each test pins
a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify

IP = "104.244.42.1"
OTHER = "104.244.42.2"


def _sni_reset(build: Any) -> Any:
    """The name's handshake reset, a decoy name's handshake through: SNI filtering, unless
    something else rules it out."""
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    return m.tls(IP, "connection_reset").tls(IP, None, decoy=True)


def _tls(m: Any) -> tuple[str, str | None, str | None]:
    c = classify(m.build())
    (o,) = [o for o in c.observations if o.layer == "tls" and o.rule != "tls.handshake_ok"]
    return o.rule, c.technique, o.failure


def test_sni_filtering_names_the_reset_it_saw(build: Any) -> None:
    assert _tls(_sni_reset(build)) == (
        "tls.reset_after_hello_decoy_ok",
        "tls.reset",
        "connection_reset",
    )


def test_a_throughput_sample_for_the_name_at_the_address_rules_it_out(build: Any) -> None:
    m = _sni_reset(build)
    m.tk["x_throughput"] = {"address": f"{IP}:443", "status_code": 200}
    assert _tls(m)[0] == "tls.same_name_got_through"


@pytest.mark.parametrize(
    "sample",
    [
        {"address": f"{OTHER}:443", "status_code": 200},
        {"address": f"{IP}:443", "status_code": 0},
        {"address": f"{IP}:443", "status_code": "200"},
        {"address": None, "status_code": 200},
        {"status_code": 200},
    ],
)
def test_a_sample_that_got_nothing_at_the_address_does_not(
    build: Any, sample: dict[str, Any]
) -> None:
    m = _sni_reset(build)
    m.tk["x_throughput"] = sample
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"


def test_a_page_for_another_name_at_the_address_does_not(build: Any) -> None:
    m = _sni_reset(build)
    m.http(url="https://other.example/", address=f"{IP}:443")
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"


def test_a_plain_http_page_at_the_address_does_not(build: Any) -> None:
    m = _sni_reset(build)
    m.http(url="http://x.com/", address=f"{IP}:443")
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"


def test_a_failed_https_fetch_at_the_address_does_not(build: Any) -> None:
    m = _sni_reset(build)
    m.http(failure="connection_reset", address=f"{IP}:443")
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"


def test_a_control_handshake_reset_alike_makes_it_the_servers(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP)
    m.control_tls(IP, ok=False, failure="connection_reset")
    m.tls(IP, "connection_reset").tls(IP, None, decoy=True)
    rule = _tls(m)[0]
    assert rule in ("tls.control_reset_alike", "tls.fails_for_control_too")
    assert classify(m.build()).verdict != "blocked"


def test_a_control_refused_is_not_reset_alike(build: Any) -> None:
    m = _sni_reset(build).control_http(failure="connection_refused")
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"
    m = _sni_reset(build)
    m.tk["control"]["x_throughput"] = {"failure": 5, "samples": []}
    assert _tls(m)[0] == "tls.reset_after_hello_decoy_ok"


@pytest.mark.parametrize(
    ("decoy_failure", "technique"),
    [("generic_timeout_error", "tcp.timeout"), ("connection_reset", "tcp.reset")],
)
def test_any_name_failing_at_the_address_is_blocking_by_address(
    build: Any, decoy_failure: str, technique: str
) -> None:
    """The decoy name fails too while the control gets through: the address is blocked, and
    the technique follows how the decoy's handshake ended."""
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, "connection_reset").tls(IP, decoy_failure, decoy=True)
    assert _tls(m) == ("tls.decoy_fails_too", technique, "connection_reset")
