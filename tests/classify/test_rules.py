"""One test per rule the scenarios do not already pin down: DNS answers that differ without
being blocking, HTTP comparisons, OONI v0.4 shapes, app tests and urlgetter."""

from __future__ import annotations

from typing import Any

from reachwatch.classify import RULES, TECHNIQUES, classify

IP = "104.244.42.1"  # X's network in the public Internet (AS13414)
CDN = "151.101.0.1"


def layers(m: Any) -> dict[str, tuple[str, str]]:
    return {k: (v.verdict, v.rule) for k, v in classify(m.build()).layers.items()}


def test_every_rule_names_its_layer_and_a_known_verdict() -> None:
    for rule, (verdict, loni) in RULES.items():
        assert rule.split(".")[0] in ("dns", "tcp", "tls", "http", "quic", "throughput")
        assert verdict in ("ok", "blocked", "down", "inconclusive")
        assert len(loni) == 3 and all(0.0 <= x <= 1.0 for x in loni)
    assert "http.timeout" in TECHNIQUES


def test_differing_answer_in_the_same_asn_is_ok(build: Any) -> None:
    m = build().dns(["104.244.42.65"]).control_dns([IP]).asn(IP, 13414)
    m.asn("104.244.42.65", 13414)
    assert layers(m)["dns"] == ("ok", "dns.same_asn")


def test_differing_answer_validated_by_tls_is_ok(build: Any) -> None:
    m = build().dns(["93.184.216.34"]).control_dns([IP]).tcp("93.184.216.34").tls("93.184.216.34")
    assert layers(m)["dns"] == ("ok", "dns.tls_validated")


def test_differing_answer_in_a_cdn_is_ok(build: Any) -> None:
    m = build().dns([CDN]).control_dns([IP]).asn(CDN, 16509).asn(IP, 13414)  # CloudFront
    assert layers(m)["dns"] == ("ok", "dns.cdn_asn")


def test_differing_answer_in_the_platforms_own_network_is_ok(build: Any) -> None:
    m = build().dns(["199.16.156.1"]).control_dns([IP]).asn("199.16.156.1", 35995)
    assert layers(m)["dns"] == ("ok", "dns.platform_asn")


def test_local_answer_equal_to_doh_is_ok(build: Any) -> None:
    m = build().dns(["198.51.100.1"]).dns(["198.51.100.1"], engine="doh")
    m.control_dns([IP])
    # 198.51.100.0/24 is documentation space: private per the bogon rule, so use public ones.
    m.tk["queries"][0]["answers"][0]["ipv4"] = "203.0.114.1"
    m.tk["queries"][1]["answers"][0]["ipv4"] = "203.0.114.1"
    assert layers(m)["dns"] == ("ok", "dns.matches_doh")


def test_unexplained_differing_answer_is_inconclusive_not_blocked(build: Any) -> None:
    m = build().dns(["203.0.114.9"]).control_dns([IP])
    assert layers(m)["dns"] == ("inconclusive", "dns.differs_unconfirmed")
    assert classify(m.build()).verdict == "inconclusive"


def test_fingerprinted_answer_is_injected(build: Any) -> None:
    m = build().dns(["195.175.254.2"]).control_dns([IP])
    c = classify(m.build())
    assert (c.verdict, c.technique, c.layers["dns"].rule) == (
        "blocked",
        "dns.injected",
        "dns.fingerprint_address",
    )


def test_control_nxdomain_with_probe_answer_serving_a_page_is_down(build: Any) -> None:
    """Without a canary, a page at the answer for a nonexistent name is taken for an ISP
    search page (nothing tells it from a censor's unknown page but the canary)."""
    m = build("http://gone.example/").dns(["203.0.114.9"]).control_dns([], "dns_name_error")
    m.http(status=302, body="", headers={"Location": "http://search.isp.example/?q=gone"})
    assert layers(m)["dns"] == ("down", "dns.control_nxdomain")


def test_control_nxdomain_with_probe_answer_and_nothing_else_is_inconclusive(
    build: Any,
) -> None:
    m = build("http://gone.example/").dns(["203.0.114.9"]).control_dns([], "dns_name_error")
    assert layers(m)["dns"] == ("inconclusive", "dns.nonexistent_answer_unconfirmed")


def test_empty_aaaa_answer_is_not_judged(healthy: Any) -> None:
    m = healthy().dns([], query_type="AAAA", failure="dns_no_answer")
    assert layers(m)["dns"] == ("ok", "dns.matches_control")


def test_http_reset_after_connect(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(failure="connection_reset", address="10.0.2.10:80")
    c = classify(m.build())
    assert (c.verdict, c.technique, c.layers["http"].rule) == (
        "blocked",
        "http.reset",
        "http.reset_probe_only",
    )


def test_http_timeout_after_connect(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(failure="generic_timeout_error", address="10.0.2.10:80")
    assert classify(m.build()).technique == "http.timeout"


def test_http_page_unlike_the_controls_is_a_diff(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(status=403, body="<html><title>Forbidden by operator</title></html>")
    c = classify(m.build())
    assert (c.verdict, c.technique) == ("blocked", "http.diff")


def test_http_page_like_the_controls_is_ok(healthy: Any) -> None:
    m = healthy("http://x.com/")
    assert layers(m)["http"] == ("ok", "http.matches_control")


def test_redirect_into_private_space_is_a_blockpage(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(status=302, body="", headers={"Location": "http://192.168.1.1/blocked?u=x.com"})
    assert classify(m.build()).technique == "http.blockpage"


def test_v04_style_https_failure_without_handshakes_is_judged_at_tls(build: Any) -> None:
    """OONI v0.4 records no TLS handshakes: the fetch's own failure tells the TLS layer."""
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP)
    m.http(failure="connection_reset")
    c = classify(m.build())
    assert (c.verdict, c.technique, c.layers["tls"].rule) == (
        "blocked",
        "tls.reset",
        "tls.reset_probe_only",
    )


def test_ooni_probe_side_comparison_is_used_when_recorded(healthy: Any) -> None:
    """Stored bodies may be cut; OONI's own comparison was made on the whole page."""
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body="abc")  # the stored body was cut
    m.set(status_code_match=True, body_length_match=True, headers_match=True, title_match=True)
    assert layers(m)["http"] == ("ok", "http.matches_control")


def _app(test_name: str, test_keys: dict[str, Any]) -> dict[str, Any]:
    return {
        "test_name": test_name,
        "input": None,
        "probe_cc": "PK",
        "probe_asn": "AS17557",
        "measurement_start_time": "2024-02-18 10:00:00",
        "test_keys": test_keys,
    }


def test_telegram_blocked_when_ooni_says_so_and_connections_fail() -> None:
    tk = {
        "tcp_connect": [
            {
                "ip": "149.154.167.51",
                "port": 443,
                "status": {"success": False, "failure": "generic_timeout_error"},
            },
        ],
        "requests": [],
        "telegram_tcp_blocking": True,
        "telegram_http_blocking": False,
        "telegram_web_status": "ok",
    }
    c = classify(_app("telegram", tk))
    assert (c.verdict, c.technique, c.layers["tcp"].rule) == (
        "blocked",
        "tcp.timeout",
        "tcp.app_reports_blocked",
    )


def test_whatsapp_failures_without_ooni_flag_are_inconclusive() -> None:
    tk = {
        "tcp_connect": [
            {
                "ip": "157.240.1.53",
                "port": 5222,
                "status": {"success": False, "failure": "connection_reset"},
            },
        ],
        "registration_server_status": "ok",
        "whatsapp_endpoints_status": "ok",
        "whatsapp_web_status": "ok",
    }
    c = classify(_app("whatsapp", tk))
    assert (c.verdict, c.layers["tcp"].rule) == ("inconclusive", "tcp.no_control")


def test_signal_and_facebook_messenger_reachable_are_accessible() -> None:
    tk = {
        "queries": [
            {
                "hostname": "chat.signal.org",
                "engine": "system",
                "failure": None,
                "query_type": "A",
                "answers": [{"ipv4": "13.248.212.111"}],
            }
        ],
        "tcp_connect": [
            {"ip": "13.248.212.111", "port": 443, "status": {"success": True, "failure": None}}
        ],
        "tls_handshakes": [
            {"address": "13.248.212.111:443", "server_name": "chat.signal.org", "failure": None}
        ],
        "requests": [],
        "signal_backend_status": "ok",
    }
    assert classify(_app("signal", tk)).verdict == "accessible"
    tk["facebook_tcp_blocking"] = False
    tk["facebook_dns_blocking"] = False
    assert classify(_app("facebook_messenger", tk)).verdict == "accessible"


def test_urlgetter_without_control() -> None:
    tk = {
        "tcp_connect": [
            {
                "ip": "10.0.2.10",
                "port": 443,
                "status": {"success": False, "failure": "generic_timeout_error"},
            }
        ],
        "requests": [],
        "failure": "generic_timeout_error",
    }
    m = _app("urlgetter", tk)
    m["input"] = "https://x.com/"
    c = classify(m)
    assert (c.verdict, c.layers["tcp"].rule) == ("inconclusive", "tcp.no_control")
