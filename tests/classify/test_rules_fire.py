"""One measurement per rule no other test of this folder makes fire: each rule is reachable, and
says what its evidence looks like."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify, classify_censoredplanet

from .conftest import SURF_SAFELY

IP = "10.0.2.10"
IP2 = "10.0.2.11"
IP6 = "fd00:2::10"
FORGED = "10.10.34.34"  # in the DNS fingerprints (an Iranian filtering portal)


def rules(m: Any) -> dict[str, str]:
    return {name: lv.rule for name, lv in classify(m.build()).layers.items()}


def observed(m: Any) -> set[str]:
    return {o.rule for o in classify(m.build()).observations}


# --- dns -----------------------------------------------------------------------------------


def test_dns_failure_probe_only(build: Any) -> None:
    m = build().dns([], failure="dns_server_failure").control_dns([IP])
    assert rules(m)["dns"] == "dns.failure_probe_only"


def test_dns_no_answer_probe_only(build: Any) -> None:
    m = build().dns([], failure="dns_no_answer").control_dns([IP])
    assert rules(m)["dns"] == "dns.no_answer_probe_only"


def test_dns_timeout_doh_ok(build: Any) -> None:
    m = build(control=False).dns([], failure="generic_timeout_error").dns([IP], engine="doh")
    assert rules(m)["dns"] == "dns.timeout_doh_ok"


# --- tcp -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "rule"),
    [
        ("connection_reset", "tcp.reset_probe_only"),
        ("host_unreachable", "tcp.unreachable_probe_only"),
        ("unknown_failure: something odd", "tcp.other_probe_only"),
        ("ssl_invalid_certificate", "tcp.other_probe_only"),  # no certificate in a connect
    ],
)
def test_tcp_failures_where_the_control_connects(healthy: Any, failure: str, rule: str) -> None:
    m = healthy().tcp(IP2, failure=failure).control_tcp(IP2)
    assert rule in observed(m)


def test_tcp_no_control_for_endpoint(healthy: Any) -> None:
    m = healthy().tcp(IP2, failure="generic_timeout_error")
    assert "tcp.no_control_for_endpoint" in observed(m)


# --- tls -----------------------------------------------------------------------------------


def test_tls_timeout_probe_only(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP)
    m.tls(IP, "generic_timeout_error").control_tls(IP)
    assert rules(m)["tls"] == "tls.timeout_probe_only"


def test_tls_no_control(build: Any) -> None:
    m = build(control=False).dns([IP]).tcp(IP).tls(IP, "connection_reset")
    assert rules(m)["tls"] == "tls.no_control"


def test_tls_ipv6_unavailable(healthy: Any) -> None:
    m = healthy().set(x_ipv6_capable=False).tls(IP6, "generic_timeout_error")
    assert "tls.ipv6_unavailable" in observed(m)


# --- http ----------------------------------------------------------------------------------


def _plain(healthy: Any) -> Any:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    return m


@pytest.mark.parametrize(
    ("failure", "rule"),
    [
        ("connection_refused", "http.refused_probe_only"),
        ("host_unreachable", "http.unreachable_probe_only"),
    ],
)
def test_http_failures_after_connecting(healthy: Any, failure: str, rule: str) -> None:
    m = _plain(healthy).http(failure=failure, address=f"{IP}:80")
    assert rules(m)["http"] == rule


def test_http_control_failed(healthy: Any) -> None:
    m = healthy("http://x.com/").control_http(failure="generic_timeout_error")
    assert rules(m)["http"] == "http.control_failed"


def test_http_differs_weakly(healthy: Any) -> None:
    m = _plain(healthy).http(body="<html>a short page without a title</html>", address=f"{IP}:80")
    assert rules(m)["http"] == "http.differs_weakly"


def test_http_address_from_tampered_dns(build: Any) -> None:
    m = build().dns([FORGED]).control_dns([IP]).tcp(FORGED).tls(FORGED)
    m.http(address=f"{FORGED}:443")
    assert rules(m)["http"] == "http.address_from_tampered_dns"


def test_http_app_reports_blocked(build: Any) -> None:
    m = build("http://web.telegram.org/", control=False)
    m.http(failure="connection_reset", url="http://web.telegram.org/")
    record = dict(m.build(), test_name="telegram")
    record["test_keys"] = dict(record["test_keys"], telegram_http_blocking=True)
    c = classify(record)
    assert c.layers["http"].rule == "http.app_reports_blocked"


# --- quic ----------------------------------------------------------------------------------


def test_quic_handshake_ok(healthy: Any) -> None:
    assert rules(healthy().quic(IP))["quic"] == "quic.handshake_ok"


def test_quic_no_control(healthy: Any) -> None:
    assert rules(healthy().quic(IP, "generic_timeout_error"))["quic"] == "quic.no_control"


def test_quic_ipv6_unavailable(healthy: Any) -> None:
    m = healthy().set(x_ipv6_capable=False).quic(IP6, "generic_timeout_error")
    assert "quic.ipv6_unavailable" in observed(m)


def test_quic_address_from_tampered_dns(build: Any) -> None:
    m = build().dns([FORGED]).control_dns([IP]).quic(FORGED, "generic_timeout_error")
    assert "quic.address_from_tampered_dns" in observed(m)


# --- throughput ----------------------------------------------------------------------------


def _sample(size: int) -> dict[str, Any]:
    samples = [[0.5 * (i + 1), size * (i + 1) / 4] for i in range(4)] if size else []
    return {
        "url": "https://x.com/",
        "address": IP,
        "bytes": size,
        "seconds": 2.0,
        "samples": samples,
        "failure": None if size else "generic_timeout_error",
    }


def test_throughput_no_control(healthy: Any) -> None:
    m = healthy().set(x_throughput=_sample(40_000))
    assert rules(m)["throughput"] == "throughput.no_control"


def test_throughput_no_sample(healthy: Any) -> None:
    m = healthy().set(x_throughput=_sample(0))
    m.tk["control"]["x_throughput"] = _sample(4_000_000)
    assert rules(m)["throughput"] == "throughput.no_sample"


# --- Censored Planet -----------------------------------------------------------------------


def _hyperquack(trial: dict[str, Any]) -> dict[str, Any]:
    return {
        "vp": "192.0.2.7",
        "location": {"country_code": "PK"},
        "service": "https",
        "test_url": "x.com",
        "response": [
            {"matches_template": True, "control_url": "control-1.com", "start_time": ""},
            *[dict(trial, start_time="2024-02-18T10:00:00.5+05:00") for _ in range(4)],
        ],
        "anomaly": True,
        "controls_failed": False,
        "stateful_block": False,
    }


def test_hyperquack_blockpage_signature() -> None:
    page = {"status_line": "HTTP/1.1 200 OK", "headers": {}, "body": SURF_SAFELY}
    c = classify_censoredplanet(_hyperquack({"matches_template": False, "response": page}))
    assert c.layers["tls"].rule == "tls.cp_blockpage_signature"


def test_hyperquack_timeout_after_keyword() -> None:
    trial = {"matches_template": False, "error": "read: i/o timeout"}
    c = classify_censoredplanet(_hyperquack(trial))
    assert c.layers["tls"].rule == "tls.cp_timeout_after_keyword"


def test_satellite_fingerprint_address() -> None:
    record = {
        "vp": "192.0.2.53",
        "test_url": "x.com",
        "passed_liveness": True,
        "connect_error": False,
        "anomaly": True,
        "location": {"country_code": "IR"},
        "start_time": "2024-02-18 10:00:00.1 +0500 PKT",
        "response": [
            {
                "url": "x.com",
                "has_type_a": True,
                "rcode": 0,
                "error": "null",
                "response": {FORGED: {"matched": None}},
            }
        ],
    }
    c = classify_censoredplanet(record)
    assert c.layers["dns"].rule == "dns.sat_fingerprint_address"


def test_satellite_blockpage_at_answer() -> None:
    record = {
        "ip": "198.51.100.9",
        "keyword": "x.com",
        "fetched": True,
        "http": {"status_line": "HTTP/1.1 200 OK", "headers": {}, "body": SURF_SAFELY},
    }
    c = classify_censoredplanet(record)
    assert c.layers["dns"].rule == "dns.sat_blockpage_at_answer"


def test_dns_control_failed(build: Any) -> None:
    m = build().dns([IP]).control_dns([], failure="dns_server_failure")
    assert rules(m)["dns"] == "dns.control_failed"


def test_hyperquack_controls_failed() -> None:
    record = dict(_hyperquack({"matches_template": False}), service="http", controls_failed=True)
    c = classify_censoredplanet(record)
    assert c.layers["http"].rule == "http.cp_controls_failed"


def test_hyperquack_intermittent() -> None:
    trial = {"matches_template": False, "error": "read: connection reset by peer"}
    record = dict(_hyperquack(trial), service="http", anomaly=False)
    c = classify_censoredplanet(record)
    assert c.layers["http"].rule == "http.cp_intermittent"
    assert c.verdict == "accessible"
