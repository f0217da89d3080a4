"""The probe end to end against a loopback world: every scenario reaches the right verdict.

The censor in conftest.py touches only the probe's traffic; the control (on loopback, allowed
to reach private addresses for the lab) sees the real servers.
"""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import Mapping
from typing import Any

from reachwatch.classify.verdicts import Classified
from reachwatch.formats.reachwatch import validate_measurement
from reachwatch.lab.servers import Endless, Large, Page, Redirect, Site, Truncated
from reachwatch.probe import ProbeOptions, ProbeRun, Target, probe

from .conftest import X_HOSTS, Censorship, World, WorldFactory


def run_probe(
    world: WorldFactory,
    censorship: Censorship | None = None,
    *,
    sites: Mapping[str, Site] | None = None,
    control: bool = True,
    aaaa: Mapping[str, str] | None = None,
    hosts: list[str] | None = None,
    scheme: str = "https",
    use_doh: bool = False,
    **overrides: Any,
) -> tuple[ProbeRun, World]:
    async def scenario() -> tuple[ProbeRun, World]:
        async with world.start(censorship, sites=sites, control=control, aaaa=aaaa) as lab:
            targets = lab.targets(hosts, scheme=scheme)
            if use_doh:
                overrides.setdefault("doh_url", lab.doh_url)
            return await probe(targets, lab.options(**overrides)), lab

    result = asyncio.run(asyncio.wait_for(scenario(), 90))
    for measurement in result[0].measurements:
        validate_measurement(measurement)
        assert measurement["probe_ip"] == "127.0.0.1"
    return result


def by_host(run: ProbeRun) -> dict[str, Classified]:
    return {v.input.split("/")[2]: v for v in run.verdicts if v.input}


def keys_of(run: ProbeRun, host: str) -> dict[str, Any]:
    return next(m["test_keys"] for m in run.measurements if m["input"].split("/")[2] == host)


def test_everything_reachable_is_accessible(world: WorldFactory) -> None:
    # The sample stops at its 256 KiB cap as soon as the bytes are in; the lab's 0.5 s
    # deadline (which keeps the throttling cases short) can pass before the first byte on a
    # loaded CI machine, which is what this test must not confuse with a failure.
    run, lab = run_probe(world, use_doh=True, throughput_seconds=5.0)
    verdicts = by_host(run)
    assert set(verdicts) == set(X_HOSTS)
    for host, verdict in verdicts.items():
        assert verdict.verdict == "accessible", (host, verdict.to_json())
    keys = keys_of(run, "x.com")
    assert keys["control_failure"] is None
    assert keys["accessible"] is True and keys["blocking"] is False
    assert keys["x_reachwatch"]["verdict"] == "accessible"
    assert keys["requests"][0]["response"]["x_title"] == "x.com lab page"
    assert keys["x_quic_handshakes"][0]["failure"] is None
    assert keys["x_throughput"]["bytes"] > 0
    engines = {(q["engine"], q["query_type"]): q["failure"] for q in keys["queries"]}
    assert engines[("udp", "A")] is None and engines[("doh", "A")] is None
    assert {q["resolver_address"] for q in keys["queries"] if q["engine"] == "doh"} == {lab.doh_url}
    assert not run.no_network


def test_nxdomain_for_one_host_is_dns_blocking(world: WorldFactory) -> None:
    run, _ = run_probe(world, Censorship(nxdomain=frozenset({"t.co"})), hosts=["t.co", "x.com"])
    verdicts = by_host(run)
    assert (verdicts["t.co"].verdict, verdicts["t.co"].technique) == ("blocked", "dns.nxdomain")
    assert verdicts["x.com"].verdict == "accessible"
    keys = keys_of(run, "t.co")
    assert {q["failure"] for q in keys["queries"]} == {"dns_nxdomain_error"}
    assert keys["blocking"] == "dns" and keys["accessible"] is False


def test_reset_after_client_hello_for_one_sni_is_tls_reset(world: WorldFactory) -> None:
    censorship = Censorship(reset_snis=frozenset({"x.com"}))
    run, _ = run_probe(world, censorship, hosts=["x.com", "api.x.com"])
    verdicts = by_host(run)
    assert (verdicts["x.com"].verdict, verdicts["x.com"].technique) == ("blocked", "tls.reset")
    assert verdicts["api.x.com"].verdict == "accessible"
    handshakes = keys_of(run, "x.com")["tls_handshakes"]
    real = [h for h in handshakes if not h["x_decoy_sni"]]
    decoy = [h for h in handshakes if h["x_decoy_sni"]]
    # Every handshake naming the site is reset, the first and each repeat: consistently.
    retries = ProbeOptions().sni_retries
    assert [h["failure"] for h in real] == ["connection_reset"] * (1 + retries)
    # The same address completes a handshake for another name: the SNI is what is filtered.
    assert [h["failure"] for h in decoy] == [None]


def test_nonexistent_name_canary_is_recorded_once_per_run(world: WorldFactory) -> None:
    run, _ = run_probe(world, hosts=["x.com", "api.x.com"])
    canaries = [keys_of(run, host)["x_nxdomain_canary"] for host in ("x.com", "api.x.com")]
    assert canaries[0] == canaries[1] and canaries[0]
    names = {q["hostname"] for q in canaries[0]}
    assert len(names) == 1 and next(iter(names)).startswith("rw-canary-")
    assert all(q["failure"] and not q["answers"] for q in canaries[0])  # an honest resolver


def test_handshake_never_finished_is_tls_timeout(world: WorldFactory) -> None:
    run, _ = run_probe(world, Censorship(stall_snis=frozenset({"api.x.com"})), hosts=["api.x.com"])
    verdict = by_host(run)["api.x.com"]
    assert (verdict.verdict, verdict.technique) == ("blocked", "tls.timeout")
    real = [h for h in keys_of(run, "api.x.com")["tls_handshakes"] if not h["x_decoy_sni"]]
    assert real[0]["failure"] == "generic_timeout_error"


def test_blockpage_where_the_control_gets_the_real_page(world: WorldFactory) -> None:
    censorship = Censorship(blockpage_hosts=frozenset({"x.com"}))
    run, _ = run_probe(world, censorship, hosts=["x.com"], scheme="http")
    verdict = by_host(run)["x.com"]
    assert (verdict.verdict, verdict.technique) == ("blocked", "http.blockpage")
    keys = keys_of(run, "x.com")
    assert keys["requests"][0]["response"]["x_title"] == "Surf Safely"
    assert keys["control"]["http_request"]["title"] == "x.com lab page"


def test_redirect_chain_is_followed_and_accessible(world: WorldFactory) -> None:
    chain: dict[str, Site] = {
        "x.com": {
            "/": Redirect(3, "/home"),
            "/hop/1": Redirect(3, "/home"),
            "/hop/2": Redirect(3, "/home"),
            "/home": Page("X home"),
        }
    }
    run, _ = run_probe(world, sites=chain, hosts=["x.com"])
    assert by_host(run)["x.com"].verdict == "accessible"
    requests = keys_of(run, "x.com")["requests"]
    assert [r["response"]["code"] for r in requests] == [200, 302, 302, 302]
    assert requests[0]["response"]["x_title"] == "X home"


def test_redirect_to_another_host_is_resolved_and_followed(world: WorldFactory) -> None:
    sites: dict[str, Site] = {"t.co": Redirect(1, "https://x.com/landing")}
    run, lab = run_probe(world, sites=sites, hosts=["t.co"])
    requests = keys_of(run, "t.co")["requests"]
    assert [r["request"]["url"] for r in requests] == ["https://x.com/landing", "https://t.co/"]
    # The second hop went to x.com's own address, found through the probe's resolver.
    assert requests[0]["address"] == f"{lab.addresses['x.com']}:443"
    assert requests[0]["response"]["x_title"] == "x.com lab page"
    assert by_host(run)["t.co"].verdict == "accessible"


def test_truncated_body_for_everyone_is_down(world: WorldFactory) -> None:
    broken: dict[str, Site] = {"x.com": Truncated(declared=200_000, sent=2_000)}
    run, _ = run_probe(world, sites=broken, hosts=["x.com"])
    verdict = by_host(run)["x.com"]
    # The server itself breaks the body, for the control too: down, not blocked.
    assert (verdict.verdict, verdict.layers["http"].verdict) == ("down", "down"), verdict.to_json()
    request = keys_of(run, "x.com")["requests"][0]
    assert request["failure"] == "eof_error"
    assert request["response"]["x_body_length"] == 2_000


def test_endless_body_is_capped_and_memory_stays_flat(world: WorldFactory) -> None:
    endless: dict[str, Site] = {"x.com": Endless()}
    tracemalloc.start()
    try:
        run, _ = run_probe(world, sites=endless, hosts=["x.com"], throughput=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    request = keys_of(run, "x.com")["requests"][0]
    assert request["failure"] is None
    assert request["response"]["body_is_truncated"] is True
    assert len(request["response"]["body"]) == 512 * 1024
    # The body never grows past the cap: the whole run (servers, control and all) stays small
    # although the server would send gigabytes in the seconds the probe allows.
    assert peak < 24 * 1024 * 1024, peak
    assert by_host(run)["x.com"].verdict == "accessible"


def test_control_down_leaves_what_needs_it_inconclusive(world: WorldFactory) -> None:
    censorship = Censorship(reset_snis=frozenset({"x.com"}))
    run, _ = run_probe(
        world,
        censorship,
        control=False,
        hosts=["x.com"],
        control_url="http://127.0.0.1:9/",  # discard port: nothing listens there
    )
    keys = keys_of(run, "x.com")
    assert keys["control"] == {}
    assert keys["control_failure"].startswith("x_control_unavailable")
    assert by_host(run)["x.com"].verdict == "inconclusive"


def test_without_a_control_a_reset_is_never_called_blocked(world: WorldFactory) -> None:
    run, _ = run_probe(
        world, Censorship(reset_snis=frozenset({"x.com"})), control=False, hosts=["x.com"]
    )
    assert keys_of(run, "x.com")["control_failure"] == "x_no_control"
    assert by_host(run)["x.com"].verdict == "inconclusive"


def test_ipv6_addresses_are_not_measured_without_ipv6(world: WorldFactory) -> None:
    # Measuring from an IPv4 address stands for a network without IPv6: the AAAA answer is
    # recorded, left unmeasured, and never counts as TCP blocking.
    run, _ = run_probe(world, hosts=["x.com"], aaaa={"x.com": "::1"})
    keys = keys_of(run, "x.com")
    assert any(a.get("ipv6") == "::1" for q in keys["queries"] for a in q["answers"])
    assert keys["x_unmeasured_addresses"] == ["::1"]
    assert all(":" not in entry["ip"] for entry in keys["tcp_connect"])
    assert by_host(run)["x.com"].verdict == "accessible"


def test_url_with_an_address_skips_dns(world: WorldFactory) -> None:
    async def scenario() -> ProbeRun:
        async with world.start() as lab:
            address = lab.addresses["x.com"]
            return await probe([Target(f"http://{address}/")], lab.options())

    run = asyncio.run(asyncio.wait_for(scenario(), 60))
    (measurement,) = run.measurements
    validate_measurement(measurement)
    keys = measurement["test_keys"]
    assert keys["queries"] == []
    assert [entry["status"]["success"] for entry in keys["tcp_connect"]] == [True]
    assert keys["requests"][0]["response"]["code"] == 404  # the lab server knows no such site


def test_throttled_download_is_throttling(world: WorldFactory) -> None:
    # 512 kbit/s: throttling as censors practise it (above 1 Mbit/s nothing is called throttled,
    # so that a probe's own slow link never reads as censorship).
    censorship = Censorship(throttle_snis=frozenset({"pbs.twimg.com"}), throttle_rate=64 * 1024)
    run, _ = run_probe(world, censorship, sites=_MEDIA, hosts=["pbs.twimg.com"], **_SAMPLING)
    verdict = by_host(run)["pbs.twimg.com"]
    assert (verdict.verdict, verdict.technique) == ("blocked", "throttled"), verdict.to_json()
    keys = keys_of(run, "pbs.twimg.com")
    probe_rate = keys["x_throughput"]["bytes"] / keys["x_throughput"]["seconds"]
    control = keys["control"]["x_throughput"]
    assert control["bytes"] / control["seconds"] > 10 * probe_rate
    assert len(keys["x_throughput"]["samples"]) > 4
    # The page fetch itself recorded the slow arrivals the verdict rests on.
    arrivals = keys["requests"][0]["x_arrivals"]
    assert len(arrivals) >= 4 and arrivals[-1][0] - arrivals[0][0] >= 1.0


def test_slow_for_everyone_is_not_throttling(world: WorldFactory) -> None:
    censorship = Censorship(
        throttle_snis=frozenset({"pbs.twimg.com"}), throttle_rate=1_000_000, everyone=True
    )
    run, _ = run_probe(world, censorship, sites=_MEDIA, hosts=["pbs.twimg.com"], **_SAMPLING)
    verdict = by_host(run)["pbs.twimg.com"]
    assert verdict.verdict == "accessible", verdict.to_json()
    assert verdict.layers["throughput"].verdict == "ok"


_MEDIA: dict[str, Site] = {"pbs.twimg.com": Large(16 << 20)}
_SAMPLING: dict[str, Any] = {
    "throughput_seconds": 2.0,
    "throughput_bytes": 8 << 20,
    "http_timeout": 5.0,
}


def test_forged_dns_answer_is_dns_injection(world: WorldFactory) -> None:
    censorship = Censorship(forged=frozenset({"x.com"}))
    run, _ = run_probe(world, censorship, hosts=["x.com"], scheme="http")
    verdict = by_host(run)["x.com"]
    # The forged address serves the censor's blockpage (the rule); it is a loopback address
    # in this world, and a loopback answer is a bogon whatever it serves (the technique).
    assert (verdict.verdict, verdict.technique) == ("blocked", "dns.bogon")
    assert verdict.layers["dns"].rule == "dns.answer_not_the_site"
    # The HTTP layer sees the blockpage too.
    assert verdict.layers["http"].technique == "http.blockpage"


def test_quic_dropped_for_the_probe_only_is_quic_blocking(world: WorldFactory) -> None:
    censorship = Censorship(quic_blocked=frozenset({"video.twimg.com"}))
    run, _ = run_probe(world, censorship, hosts=["video.twimg.com"])
    verdict = by_host(run)["video.twimg.com"]
    assert verdict.layers["quic"].verdict == "blocked", verdict.to_json()
    assert verdict.layers["quic"].technique == "quic.blocked"
    keys = keys_of(run, "video.twimg.com")
    assert [q["failure"] for q in keys["x_quic_handshakes"]] == ["generic_timeout_error"]
    assert [q["status"] for q in keys["control"]["quic_handshake"].values()] == [True]


def test_redirect_to_a_host_that_does_not_resolve_fails_with_its_dns_failure(
    world: WorldFactory,
) -> None:
    sites: dict[str, Site] = {"t.co": Redirect(1, "https://gone.invalid/")}
    run, _ = run_probe(world, sites=sites, hosts=["t.co"])
    requests = keys_of(run, "t.co")["requests"]
    assert requests[0]["request"]["url"] == "https://gone.invalid/"
    assert requests[0]["failure"] == "dns_nxdomain_error"


def _hop_entries(keys: dict[str, Any], host: str) -> dict[str, list[dict[str, Any]]]:
    return {
        "queries": [q for q in keys["queries"] if q["hostname"] == host],
        "tls": [t for t in keys["tls_handshakes"] if t["server_name"] == host],
        "controls": [c for c in keys["x_redirect_controls"] if host in c["url"]],
    }


def _redirected(
    world: WorldFactory, censorship: Censorship, location: str = "https://x.com/"
) -> tuple[Classified, dict[str, Any], World]:
    """t.co redirects to `location` on x.com; the verdict and test_keys of t.co."""
    sites: dict[str, Site] = {"t.co": Redirect(1, location)}
    run, lab = run_probe(world, censorship, sites=sites, hosts=["t.co"])
    return by_host(run)["t.co"], keys_of(run, "t.co"), lab


def test_redirect_into_an_sni_filtered_host_is_blocked_at_that_hop(world: WorldFactory) -> None:
    censorship = Censorship(reset_snis=frozenset({"x.com"}))
    verdict, keys, lab = _redirected(world, censorship, "https://x.com/landing")
    assert (verdict.verdict, verdict.technique) == ("blocked", "tls.reset"), verdict.to_json()
    hop = _hop_entries(keys, "x.com")
    # The hop's host was measured as the input's own: DNS, then TLS with its SNI and a decoy.
    assert hop["queries"] and all(
        q["failure"] is None for q in hop["queries"] if q["query_type"] == "A"
    )
    # Reset every time: the first handshake and each retry (a flaky origin lets one through).
    assert hop["tls"] and {t["failure"] for t in hop["tls"]} == {"connection_reset"}
    decoys = [t for t in keys["tls_handshakes"] if t["x_decoy_sni"]]
    assert [t["address"] for t in decoys] == [f"{lab.addresses['x.com']}:443"]
    assert [t["failure"] for t in decoys] == [None]
    # The chain in OONI's order, the hop stopped by its TLS failure at that address.
    assert [(r["request"]["url"], r["failure"]) for r in keys["requests"]] == [
        ("https://x.com/landing", "connection_reset"),
        ("https://t.co/", None),
    ]
    assert keys["requests"][0]["address"] == f"{lab.addresses['x.com']}:443"
    # The control was asked about the hop with the probe's endpoint, and handshook there.
    (control,) = hop["controls"]
    assert control["control"]["tls_handshake"][f"{lab.addresses['x.com']}:443"]["status"] is True


def test_redirect_into_an_nxdomain_host_is_blocked_by_dns(world: WorldFactory) -> None:
    verdict, keys, _ = _redirected(world, Censorship(nxdomain=frozenset({"x.com"})))
    assert (verdict.verdict, verdict.technique) == ("blocked", "dns.nxdomain"), verdict.to_json()
    hop = _hop_entries(keys, "x.com")
    assert {q["failure"] for q in hop["queries"]} == {"dns_nxdomain_error"}
    assert keys["requests"][0]["failure"] == "dns_nxdomain_error"
    assert hop["controls"][0]["control"]["dns"]["failure"] is None


def test_redirect_into_a_host_reset_for_everyone_is_down(world: WorldFactory) -> None:
    censorship = Censorship(reset_snis=frozenset({"x.com"}), everyone=True)
    verdict, keys, _ = _redirected(world, censorship)
    assert verdict.verdict == "down", verdict.to_json()
    assert keys["requests"][0]["failure"] == "connection_reset"
