"""Probe-format measurements for every scenario the lab stages, judged by classify()."""

from __future__ import annotations

from typing import Any

from reachwatch.classify import classify

IP = "10.0.2.10"  # the platform's server in the lab's "internet" (private space, like the lab)
IP6 = "fd00:2::10"


def verdict(m: Any) -> tuple[str, str | None]:
    c = classify(m.build())
    return c.verdict, c.technique


def rules(m: Any) -> dict[str, str]:
    return {name: lv.rule for name, lv in classify(m.build()).layers.items()}


def test_everything_reachable_is_accessible(healthy: Any) -> None:
    m = healthy()
    assert verdict(m) == ("accessible", None)
    assert rules(m) == {
        "dns": "dns.matches_control",
        "tcp": "tcp.connected",
        "tls": "tls.handshake_ok",
        "http": "http.tls_authenticated",
    }


def test_dns_nxdomain(build: Any) -> None:
    m = build().dns([], failure="dns_nxdomain_error").dns([IP], engine="doh")
    m.control_dns([IP])
    assert verdict(m) == ("blocked", "dns.nxdomain")
    assert rules(m)["dns"] == "dns.nxdomain_probe_only"


def test_dns_nxdomain_without_control_but_doh_resolving(build: Any) -> None:
    m = build(control=False).dns([], failure="dns_nxdomain_error").dns([IP], engine="doh")
    assert verdict(m) == ("blocked", "dns.nxdomain")
    assert rules(m)["dns"] == "dns.nxdomain_doh_ok"


def test_dns_nxdomain_everywhere_is_down(build: Any) -> None:
    m = build().dns([], failure="dns_nxdomain_error").control_dns([], "dns_name_error")
    assert verdict(m) == ("down", None)
    assert rules(m)["dns"] == "dns.fails_for_control_too"


def test_dns_bogon(build: Any) -> None:
    m = build().dns(["127.0.0.1"]).dns([IP], engine="doh").control_dns([IP])
    m.tcp("127.0.0.1", failure="connection_refused").control_tcp("127.0.0.1", ok=False)
    assert verdict(m) == ("blocked", "dns.bogon")
    # The refused connection to the forged address is DNS's doing, not TCP blocking.
    assert rules(m)["tcp"] == "tcp.address_from_tampered_dns"


def test_private_answer_is_bogon_when_the_control_resolves_public_addresses(build: Any) -> None:
    m = build().dns(["10.10.10.10"]).control_dns(["104.244.42.1"])
    assert verdict(m) == ("blocked", "dns.bogon")


def test_dns_injected_blockpage_server(build: Any, surf_safely: str) -> None:
    forged = "10.0.9.9"
    m = build("http://x.com/").dns([forged]).dns([IP], engine="doh").control_dns([IP])
    m.tcp(forged, 80).control_tcp(forged, port=80)
    m.http(body=surf_safely, address=f"{forged}:80")
    assert verdict(m) == ("blocked", "dns.injected")
    assert rules(m)["dns"] == "dns.answer_not_the_site"


def test_dns_poisoned_but_doh_ok(build: Any) -> None:
    """The system resolver answers an address that is not the site (the control cannot
    connect to it while its own addresses work); DoH answers the right one."""
    poisoned = "10.0.9.99"
    m = build().dns([poisoned]).dns([IP], engine="doh").control_dns([IP])
    m.tcp(poisoned, failure="generic_timeout_error").control_tcp(poisoned, ok=False)
    m.tcp(IP).control_tcp(IP).tls(IP).control_tls(IP)
    assert verdict(m) == ("blocked", "dns.injected")
    assert rules(m)["tcp"] == "tcp.connected"


def test_dns_answer_with_wrong_certificate_is_injected(build: Any) -> None:
    forged = "10.0.9.9"
    m = build().dns([forged]).control_dns([IP])
    m.tcp(forged).tls(forged, "ssl_unknown_authority").control_tls(IP)
    assert verdict(m) == ("blocked", "dns.injected")
    assert rules(m)["tls"] == "tls.address_from_tampered_dns"


def test_dns_timeout(build: Any) -> None:
    m = build().dns([], failure="generic_timeout_error").dns([IP], engine="doh")
    m.control_dns([IP])
    assert verdict(m) == ("blocked", "dns.timeout")


def test_tcp_timeout(healthy: Any, build: Any) -> None:
    m = build().dns([IP]).control_dns([IP])
    m.tcp(IP, failure="generic_timeout_error").control_tcp(IP)
    assert verdict(m) == ("blocked", "tcp.timeout")
    assert rules(m)["tcp"] == "tcp.timeout_probe_only"


def test_tcp_reset(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP])
    m.tcp(IP, failure="connection_refused").control_tcp(IP)
    assert verdict(m) == ("blocked", "tcp.reset")
    assert rules(m)["tcp"] == "tcp.refused_probe_only"


def test_tls_reset_after_client_hello_with_decoy_ok(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, "connection_reset").tls(IP, None, decoy=True)
    m.http(failure="connection_reset")
    assert verdict(m) == ("blocked", "tls.reset")
    assert rules(m)["tls"] == "tls.reset_after_hello_decoy_ok"
    # The fetch failed in TLS, judged there; the page was not loaded, whatever else worked.
    assert rules(m)["http"] == "http.failed_below_http"


def test_tls_reset_decoy_ok_even_without_control(build: Any) -> None:
    m = build(control=False).dns([IP]).tcp(IP)
    m.tls(IP, "connection_reset").tls(IP, "ssl_invalid_hostname", decoy=True)
    assert verdict(m) == ("blocked", "tls.reset")


def test_tls_and_decoy_both_reset_is_ip_level(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, "connection_reset").tls(IP, "connection_reset", decoy=True)
    assert verdict(m) == ("blocked", "tcp.reset")
    assert rules(m)["tls"] == "tls.decoy_fails_too"


def test_tls_timeout(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, "generic_timeout_error").tls(IP, None, decoy=True)
    assert verdict(m) == ("blocked", "tls.timeout")
    assert rules(m)["tls"] == "tls.timeout_decoy_ok"


def test_tls_mitm(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    m.tls(IP, "ssl_unknown_authority").tls(IP, "ssl_unknown_authority", decoy=True)
    assert verdict(m) == ("blocked", "tls.mitm")
    assert rules(m)["tls"] == "tls.certificate_invalid_probe_only"


def test_tls_certificate_error_for_the_control_too_is_down(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP)
    m.tls(IP, "ssl_invalid_hostname").control_tls(IP, ok=False, failure="ssl_invalid_hostname")
    assert verdict(m) == ("down", None)


def test_http_blockpage(healthy: Any, surf_safely: str) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body=surf_safely, address=f"{IP}:80")
    assert verdict(m) == ("blocked", "http.blockpage")
    assert rules(m)["http"] == "http.blockpage_fingerprint"


def test_blockpage_text_over_https_is_not_a_blockpage(healthy: Any, surf_safely: str) -> None:
    """A page about Pakistan's blockpage, fetched over authenticated TLS, is the site's."""
    m = healthy()
    m.tk["requests"] = []
    m.http(body=surf_safely)
    assert verdict(m) == ("accessible", None)


def test_quic_blocked(healthy: Any) -> None:
    m = healthy().quic(IP, "generic_timeout_error").control_quic(IP)
    assert verdict(m) == ("blocked", "quic.blocked")
    assert rules(m)["quic"] == "quic.fails_probe_only"


def test_quic_failing_for_the_control_too_is_not_blocking(healthy: Any) -> None:
    m = healthy().quic(IP, "generic_timeout_error").control_quic(IP, ok=False)
    assert verdict(m) == ("accessible", None)
    assert rules(m)["quic"] == "quic.fails_for_control_too"


def test_throttled_plateau(healthy: Any) -> None:
    # 20 kB/s for 5 s, steadily, while the control gets 2 MB/s.
    samples = [[t * 0.5, 10_000.0 * t] for t in range(11)]
    m = healthy().throughput(samples, control_rate=2_000_000)
    assert verdict(m) == ("blocked", "throttled")
    assert rules(m)["throughput"] == "throughput.throttled_plateau"


def test_single_stall_is_not_throttling(healthy: Any) -> None:
    # Fast, then one 5 s stall, then fast again: slow on average, but no plateau.
    samples = [[0.0, 0.0], [0.1, 200_000.0], [5.1, 200_000.0], [5.2, 400_000.0]]
    m = healthy().throughput(samples, control_rate=2_000_000)
    assert verdict(m) == ("accessible", None)
    assert rules(m)["throughput"] == "throughput.slow_unsteady"


def test_merely_slow_is_ok(healthy: Any) -> None:
    samples = [[t * 0.5, 250_000.0 * t] for t in range(11)]  # 500 kB/s vs 2 MB/s
    m = healthy().throughput(samples, control_rate=2_000_000)
    assert rules(m)["throughput"] == "throughput.comparable"


def test_server_down_is_down_never_blocked(build: Any) -> None:
    m = build().dns([IP]).control_dns([IP])
    m.tcp(IP, failure="connection_refused").control_tcp(IP, ok=False)
    m.http(failure="connection_refused").control_http(failure="connection_refused")
    assert verdict(m) == ("down", None)
    assert rules(m)["tcp"] == "tcp.fails_for_control_too"


def test_no_ipv6_is_accessible(healthy: Any) -> None:
    m = healthy().dns([IP6], query_type="AAAA").set(x_ipv6_capable=False)
    m.tk["control"]["dns"]["addrs"].append(IP6)
    m.tcp(IP6, failure="network_unreachable").control_tcp(IP6)
    assert verdict(m) == ("accessible", None)
    obs = [o for o in classify(m.build()).observations if o.address == f"[{IP6}]:443"]
    assert [o.rule for o in obs] == ["tcp.ipv6_unavailable"]


def test_ipv6_capability_inferred_from_unreachable_failures(healthy: Any) -> None:
    m = healthy().tcp(IP6, failure="host_unreachable").control_tcp(IP6)
    del m.tk["x_ipv6_capable"]
    assert verdict(m) == ("accessible", None)


def test_ipv6_failing_on_an_ipv6_network_is_blocking(healthy: Any) -> None:
    m = healthy().tcp(IP6, failure="generic_timeout_error").control_tcp(IP6)
    assert verdict(m) == ("blocked", "tcp.timeout")


def test_no_control_is_inconclusive_where_a_control_is_needed(build: Any) -> None:
    m = build(control=False).dns([IP]).tcp(IP, failure="generic_timeout_error")
    assert verdict(m) == ("inconclusive", None)
    assert rules(m) == {"dns": "dns.no_control", "tcp": "tcp.no_control"}


def test_no_network_at_all_is_inconclusive(build: Any) -> None:
    m = build(control=False).dns([], failure="generic_timeout_error")
    assert verdict(m) == ("inconclusive", None)


def test_page_timing_out_under_throttling_is_throttling(healthy: Any) -> None:
    samples = [[t * 0.5, 8_000.0 * t] for t in range(11)]  # 16 kB/s, steadily
    m = healthy().throughput(samples, control_rate=2_000_000)
    m.tk["requests"] = []
    m.http(failure="generic_timeout_error", address=f"{IP}:443")
    assert verdict(m) == ("blocked", "throttled")
    assert rules(m)["http"] == "http.timeout_while_throttled"


def test_ipv6_answers_a_control_without_ipv6_cannot_reach_are_not_forged(healthy: Any) -> None:
    """The control's IPv4 works, its IPv6 does not: the probe's AAAA answers stay the site's."""
    m = healthy().dns([IP6], query_type="AAAA").set(x_ipv6_capable=False)
    m.tcp(IP6, failure="network_unreachable").control_tcp(IP6, ok=False)
    assert verdict(m) == ("accessible", None)
    assert rules(m)["dns"] != "dns.answer_not_the_site"
