"""Classes of cases a classifier fitted to its own examples got wrong: a failed fetch, a
server's own faults, a CDN's bot challenge, answers for names that do not exist, reserved
answers, and a control that cannot work. Each is a rule, tested both ways."""

from __future__ import annotations

from typing import Any

from reachwatch.classify import classify, control_broken

IP = "104.244.42.1"  # a public address of the site (AS13414)
OTHER = "104.244.42.65"
CANARY = "rw-canary-0123456789abcdef.com"


def verdict(m: Any) -> tuple[str, str | None]:
    c = classify(m.build())
    return c.verdict, c.technique


def rules(m: Any) -> dict[str, str]:
    return {name: lv.rule for name, lv in classify(m.build()).layers.items()}


# --- a failed fetch is never accessible -------------------------------------------------


def _lookup_failed_fetch(build: Any, failure: str) -> Any:
    """The system resolver failed; the UDP resolver's address handshakes fine; the fetch
    (which asks the system resolver, as a browser does) failed in its lookup."""
    m = build().dns([], failure=failure).dns([IP], engine="udp").control_dns([IP])
    m.tcp(IP).control_tcp(IP).tls(IP).control_tls(IP)
    return m.http(failure=failure)


def test_a_fetch_whose_lookup_failed_is_dns_blocking_when_the_control_fetched(
    build: Any,
) -> None:
    m = _lookup_failed_fetch(build, "android_dns_cache_no_data")
    assert verdict(m) == ("blocked", "dns.nxdomain")
    assert rules(m)["dns"] == "dns.fetch_lookup_failed"


def test_a_fetch_whose_lookup_timed_out_is_dns_timeout(build: Any) -> None:
    m = _lookup_failed_fetch(build, "dns_server_failure")
    m.tk["requests"][0]["failure"] = "dns_timeout_error"
    assert verdict(m) == ("blocked", "dns.timeout")
    assert rules(m)["dns"] == "dns.fetch_lookup_failed"


def test_a_fetch_whose_lookup_failed_is_down_when_the_control_could_not_fetch(
    build: Any,
) -> None:
    m = _lookup_failed_fetch(build, "android_dns_cache_no_data").control_http(
        failure="generic_timeout_error"
    )
    assert verdict(m) == ("down", None)
    assert rules(m)["http"] == "http.fails_for_control_too"


def test_an_unexplained_lookup_failure_of_the_fetch_is_inconclusive(build: Any) -> None:
    m = _lookup_failed_fetch(build, "dns_server_failure")
    assert verdict(m) == ("inconclusive", None)
    assert rules(m)["http"] == "http.failed_below_http"


def test_a_fetch_failed_in_tls_at_one_address_is_not_accessible(build: Any) -> None:
    """The fetch's address failed its handshake (for the control too); another address
    handshook fine: the page was still not loaded."""
    m = build().dns([IP, OTHER]).control_dns([IP, OTHER])
    m.tcp(IP).tcp(OTHER).control_tcp(IP).control_tcp(OTHER)
    m.tls(IP, "generic_timeout_error").control_tls(IP, ok=False, failure="generic_timeout_error")
    m.tls(OTHER).control_tls(OTHER)
    m.http(failure="generic_timeout_error", address=f"{IP}:443")
    assert rules(m)["tls"] == "tls.handshake_ok"
    assert verdict(m) == ("inconclusive", None)


# --- a server's own faults are not censorship -------------------------------------------


def _sni_reset(build: Any) -> Any:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).control_tls(IP)
    return m.tls(IP, "connection_reset").tls(IP, None, decoy=True)


def test_consistent_resets_for_the_name_with_a_decoy_through_stay_sni_filtering(
    build: Any,
) -> None:
    m = _sni_reset(build).tls(IP, "connection_reset").tls(IP, "connection_reset")
    assert verdict(m) == ("blocked", "tls.reset")
    assert rules(m)["tls"] == "tls.reset_after_hello_decoy_ok"


def test_a_retry_with_the_same_name_that_gets_through_rules_out_sni_filtering(
    build: Any,
) -> None:
    m = _sni_reset(build).tls(IP, "connection_reset").tls(IP)
    assert verdict(m) != ("blocked", "tls.reset")
    assert rules(m)["tls"] == "tls.handshake_ok"


def test_a_page_fetched_with_the_same_name_at_the_address_rules_out_sni_filtering(
    build: Any,
) -> None:
    m = _sni_reset(build)
    m.tls(IP, port=8443).http(address=f"{IP}:443")  # the fetch's own handshake went through
    m.tk["tls_handshakes"].pop()
    c = classify(m.build())
    assert c.verdict != "blocked"
    tls = [o for o in c.observations if o.layer == "tls"]
    assert [o.rule for o in tls] == ["tls.same_name_got_through"]


def test_a_control_reset_the_same_way_makes_it_the_servers_fault(build: Any) -> None:
    m = _sni_reset(build)
    m.tk["control"]["x_throughput"] = {"failure": "connection_reset", "samples": []}
    assert verdict(m) == ("down", None)
    assert rules(m)["tls"] == "tls.control_reset_alike"
    m = _sni_reset(build).control_http(failure="connection_reset")
    assert rules(m)["tls"] == "tls.control_reset_alike"


def test_a_fetch_reset_after_the_names_handshake_went_through_is_not_blocking(
    build: Any,
) -> None:
    m = build().dns([IP]).control_dns([IP]).tcp(IP).control_tcp(IP).tls(IP).control_tls(IP)
    m.http(failure="connection_reset", address=f"{IP}:443")
    assert verdict(m) == ("inconclusive", None)
    assert rules(m)["http"] == "http.reset_not_consistent"


def test_a_plain_http_reset_with_nothing_through_stays_http_reset(healthy: Any) -> None:
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(failure="connection_reset", address="10.0.2.10:80")
    assert verdict(m) == ("blocked", "http.reset")


# --- a CDN's bot challenge is not a page difference -------------------------------------

CHALLENGE = (
    "<html><head><title>Just a moment...</title></head><body>Checking your browser before "
    "accessing x.com.<script src='/cdn-cgi/challenge-platform/h/b/orchestrate'></script>"
)


def _challenged(build: Any, answer: str) -> Any:
    m = build("http://x.com/").dns([answer]).control_dns([IP]).asn(IP, 13335)
    m.tcp(answer, 80).control_tcp(answer, port=80)
    return m.http(status=503, body=CHALLENGE, address=f"{answer}:80")


def test_a_challenge_from_the_controls_own_address_is_not_blocking(build: Any) -> None:
    m = _challenged(build, IP)
    assert verdict(m) == ("inconclusive", None)
    assert rules(m)["http"] == "http.cdn_challenge"


def test_a_challenge_from_the_controls_network_is_not_blocking(build: Any) -> None:
    m = _challenged(build, OTHER).asn(OTHER, 13335)
    assert rules(m)["http"] == "http.cdn_challenge"


def test_a_challenge_lookalike_from_another_network_stays_a_page_difference(
    build: Any,
) -> None:
    m = _challenged(build, "203.0.114.7").asn("203.0.114.7", 64500)
    assert verdict(m) == ("blocked", "http.diff")


def test_a_403_without_challenge_wording_stays_a_page_difference(build: Any) -> None:
    m = build("http://x.com/").dns([IP]).control_dns([IP]).tcp(IP, 80).control_tcp(IP, port=80)
    m.http(status=403, body="<html><title>Access to this site is denied</title></html>")
    assert verdict(m) == ("blocked", "http.diff")


def test_a_challenge_header_alone_is_wording_enough(build: Any) -> None:
    m = build("http://x.com/").dns([IP]).control_dns([IP]).tcp(IP, 80).control_tcp(IP, port=80)
    m.http(status=403, body="<html><title>x</title></html>", headers={"cf-mitigated": "challenge"})
    assert rules(m)["http"] == "http.cdn_challenge"


# --- answers for names that do not exist ------------------------------------------------


def _gone(build: Any, answer: str, canary: list[str] | None, failure: str | None = None) -> Any:
    """The control says NXDOMAIN; the probe's UDP resolver answers `answer`; the canary (a
    random nonexistent name) got `canary` from the same resolver (None: no canary)."""
    m = build("https://gone.example/").dns([answer], engine="udp")
    m.control_dns([], "dns_nxdomain_error")
    m.tcp(answer, failure="connection_refused").control_tcp(answer, ok=False)
    if canary is not None:
        entry = {
            "engine": "udp",
            "resolver_address": "",
            "hostname": CANARY,
            "query_type": "A",
            "failure": failure if not canary else None,
            "answers": [{"answer_type": "A", "ipv4": a} for a in canary],
        }
        m.set(x_nxdomain_canary=[entry])
    return m


def test_an_answer_for_a_dead_name_from_an_honest_resolver_is_tampering(build: Any) -> None:
    m = _gone(build, "203.0.114.7", [], "dns_nxdomain_error")
    assert verdict(m) == ("blocked", "dns.injected")
    assert rules(m)["dns"] == "dns.answer_for_nonexistent_name"
    assert rules(m)["tcp"] == "tcp.address_from_tampered_dns"


def test_a_resolver_answering_every_dead_name_alike_is_rewriting_not_censoring(
    build: Any,
) -> None:
    m = _gone(build, "203.0.114.7", ["203.0.114.7"])
    assert verdict(m) == ("down", None)
    assert rules(m)["dns"] == "dns.nxdomain_rewritten"


def test_a_rewriting_resolver_answering_this_name_differently_cannot_tell(build: Any) -> None:
    m = _gone(build, "203.0.114.7", ["198.51.100.80"])
    assert rules(m)["dns"] == "dns.nonexistent_answer_unconfirmed"
    assert verdict(m) == ("down", None)  # the answer refuses the control as well


def test_a_canary_that_timed_out_cannot_tell(build: Any) -> None:
    m = _gone(build, "203.0.114.7", [], "generic_timeout_error")
    assert rules(m)["dns"] == "dns.nonexistent_answer_unconfirmed"


def test_an_answer_that_passes_tls_for_the_name_is_the_site_after_all(build: Any) -> None:
    m = _gone(build, "203.0.114.7", [], "dns_nxdomain_error")
    m.tk["tcp_connect"] = []
    m.tcp("203.0.114.7").tls("203.0.114.7")
    assert verdict(m) != ("blocked", "dns.injected")
    assert rules(m)["dns"] != "dns.answer_for_nonexistent_name"


# --- reserved answers are bogons --------------------------------------------------------


def test_a_fingerprinted_private_answer_is_a_bogon_by_its_fingerprint(build: Any) -> None:
    m = build().dns(["10.10.34.35"]).control_dns([IP])
    c = classify(m.build())
    assert (c.verdict, c.technique, c.layers["dns"].rule) == (
        "blocked",
        "dns.bogon",
        "dns.fingerprint_address",
    )


def test_a_fingerprinted_private_answer_is_a_bogon_without_a_control_too(build: Any) -> None:
    m = build(control=False).dns(["10.10.34.35"])
    assert verdict(m) == ("blocked", "dns.bogon")


def test_a_private_answer_serving_a_blockpage_is_a_bogon(build: Any, surf_safely: str) -> None:
    forged = "10.0.9.9"
    m = build("http://x.com/").dns([forged]).control_dns([IP])
    m.tcp(forged, 80).control_tcp(forged, port=80)
    m.http(body=surf_safely, address=f"{forged}:80")
    assert verdict(m) == ("blocked", "dns.bogon")


def test_a_public_forged_answer_is_injected(build: Any) -> None:
    m = build().dns(["195.175.254.2"]).control_dns([IP])
    assert verdict(m) == ("blocked", "dns.injected")


# --- a control that cannot work ---------------------------------------------------------


def _offline_control(build: Any) -> Any:
    """The probe resolves, connects and fetches; the control resolved nothing (its resolver
    unreachable) and reached nothing."""
    m = build().dns([IP]).tcp(IP).tls(IP).http(address=f"{IP}:443")
    m.dns([IP], engine="udp").tcp(OTHER, failure="connection_reset")
    m.control_dns([], "network_unreachable").control_tcp(IP, ok=False).control_tcp(OTHER, ok=False)
    m.control_tls(IP, ok=False, failure="network_unreachable")
    return m.control_http(failure="network_unreachable")


def test_a_control_that_reaches_nothing_is_no_control(build: Any) -> None:
    m = _offline_control(build)
    assert control_broken(m.build()["test_keys"]) is not None
    c = classify(m.build())
    assert c.verdict == "accessible"  # the page came over authenticated TLS: no control needed
    assert all(lv.verdict != "down" for lv in c.layers.values())
    assert rules(m)["tcp"] == "tcp.connected"


def test_failures_against_a_broken_control_are_inconclusive_never_down(build: Any) -> None:
    m = build().dns([IP]).tcp(IP, failure="generic_timeout_error")
    m.control_dns([], "dns_server_failure").control_tcp(IP, ok=False)
    m.control_http(failure="dns_server_failure")
    assert control_broken(m.build()["test_keys"]) is not None
    assert verdict(m) == ("inconclusive", None)
    assert rules(m)["tcp"] == "tcp.no_control"


def test_a_control_that_resolved_the_name_is_not_broken(build: Any) -> None:
    """The site is down (the control resolves it but reaches nothing): that is `down`."""
    m = build().dns([IP]).tcp(IP, failure="generic_timeout_error").control_dns([IP])
    m.control_tcp(IP, ok=False).control_http(failure="generic_timeout_error")
    assert control_broken(m.build()["test_keys"]) is None
    assert verdict(m) == ("down", None)


def test_a_control_failing_a_name_nobody_resolves_is_not_broken(build: Any) -> None:
    m = build().dns([], failure="dns_server_failure").control_dns([], "dns_server_failure")
    m.control_http(failure="dns_server_failure")
    assert control_broken(m.build()["test_keys"]) is None
    assert verdict(m) == ("down", None)
