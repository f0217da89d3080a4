"""Redirect chains are judged by their whole chain, and a fault of the probe itself is never
the network's: OONI-format fixtures (data/redirects, web_connectivity v0.5 shape, where only
the input has a control) and reachwatch-format measurements (a control per hop)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify import classify

DATA = Path(__file__).parent / "data" / "redirects"
T, X = "104.244.42.1", "104.244.42.65"

# file -> (verdict, technique): https://twitter.com/ answers 301 -> https://x.com/ over an
# authenticated TLS session; what happens at x.com decides.
EXPECTED = {
    "redirect_into_sni_reset": ("blocked", "tls.reset"),
    "redirect_into_nxdomain": ("blocked", "dns.nxdomain"),
    "redirect_into_tcp_refused": ("blocked", "tcp.reset"),
    "redirect_into_tcp_timeout": ("blocked", "tcp.timeout"),
    "redirect_into_host_down": ("down", None),
    "redirect_into_nxdomain_everywhere": ("down", None),
    "redirect_failed_request_v04": ("blocked", "tls.reset"),
    "redirect_followed_ok": ("accessible", None),
    "redirect_not_followed": ("inconclusive", None),
}


def test_every_fixture_has_an_expectation() -> None:
    assert sorted(p.stem for p in DATA.glob("*.json")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_ooni_redirect_chain_is_judged_by_its_last_hop(name: str) -> None:
    measurement = orjson.loads((DATA / f"{name}.json").read_bytes())
    result = classify(measurement)
    assert (result.verdict, result.technique) == EXPECTED[name], result.to_json()


def test_the_blocking_observation_names_the_hops_host() -> None:
    result = classify(orjson.loads((DATA / "redirect_into_sni_reset.json").read_bytes()))
    (blocked,) = [o for o in result.observations if o.verdict == "blocked"]
    assert (blocked.host, blocked.address, blocked.layer) == ("x.com", f"{X}:443", "tls")


def test_a_first_hop_that_works_never_makes_a_dead_last_hop_accessible() -> None:
    """Whatever failed at the hop, with the control down too, the verdict is never
    `accessible` and never `blocked` (the failure is everyone's)."""
    for name in ("redirect_into_host_down", "redirect_into_nxdomain_everywhere"):
        measurement = orjson.loads((DATA / f"{name}.json").read_bytes())
        assert classify(measurement).verdict == "down"


def _chain(build: Any, **hop_control: Any) -> Any:
    """reachwatch format: twitter.com -> 301 -> x.com, x.com measured, with the control's own
    answer for the hop (x_redirect_controls)."""
    m = build("https://twitter.com/").dns([T]).control_dns([T])
    m.tcp(T).control_tcp(T).tls(T).control_tls(T)
    m.dns([X], host="x.com").tcp(X)
    control = {
        "dns": {"failure": None, "addrs": [X]},
        "tcp_connect": {f"{X}:443": {"status": True, "failure": None}},
        "tls_handshake": {f"{X}:443": {"server_name": "x.com", "status": True, "failure": None}},
        "http_request": {"failure": None, "status_code": 200, "body_length": 4000, "title": "X"},
    }
    control.update(hop_control)
    m.set(
        x_redirect_controls=[{"url": "https://x.com/", "control": control, "control_failure": None}]
    )
    return m


def _redirect(m: Any, final: dict[str, Any]) -> Any:
    hop = {
        "address": f"{T}:443",
        "failure": None,
        "request": {"method": "GET", "url": "https://twitter.com/", "headers": {}},
        "response": {"code": 301, "headers": {"Location": "https://x.com/"}, "body": ""},
    }
    m.tk["requests"] = [final, hop]
    return m


def _failed_request(failure: str, address: str | None = f"{X}:443") -> dict[str, Any]:
    return {
        "address": address,
        "failure": failure,
        "request": {"method": "GET", "url": "https://x.com/", "headers": {}},
        "response": {"code": 0, "headers": {}, "body": None},
    }


def test_hop_reset_where_the_hops_own_control_handshakes_is_blocked(build: Any) -> None:
    m = _chain(build).tls(X, "connection_reset", sni="x.com")
    _redirect(m, _failed_request("connection_reset"))
    result = classify(m.build())
    assert (result.verdict, result.technique) == ("blocked", "tls.reset")
    assert result.layers["tls"].rule == "tls.reset_probe_only"


def test_hop_reset_where_the_hops_own_control_is_reset_too_is_down(build: Any) -> None:
    failed = {"server_name": "x.com", "status": False, "failure": "connection_reset"}
    m = _chain(
        build,
        tls_handshake={f"{X}:443": failed},
        http_request={"failure": "connection_reset", "status_code": -1, "body_length": -1},
    )
    m.tls(X, "connection_reset", sni="x.com")
    _redirect(m, _failed_request("connection_reset"))
    # The input's control reports a fetch that worked (say, another address of x.com): the
    # hop's own control, asked about the probe's endpoint, decides.
    assert classify(m.build()).verdict == "down"


def test_hop_nxdomain_where_the_hops_control_resolves_is_blocked(build: Any) -> None:
    m = build("https://twitter.com/").dns([T]).control_dns([T])
    m.tcp(T).control_tcp(T).tls(T).control_tls(T)
    m.dns([], failure="dns_nxdomain_error", host="x.com")
    control = {"dns": {"failure": None, "addrs": [X]}, "tcp_connect": {}, "http_request": {}}
    m.set(
        x_redirect_controls=[{"url": "https://x.com/", "control": control, "control_failure": None}]
    )
    _redirect(m, _failed_request("dns_nxdomain_error", None))
    result = classify(m.build())
    assert (result.verdict, result.technique) == ("blocked", "dns.nxdomain")


def test_hop_nxdomain_where_the_hops_control_gets_nxdomain_too_is_down(build: Any) -> None:
    m = build("https://twitter.com/").dns([T]).control_dns([T])
    m.tcp(T).control_tcp(T).tls(T).control_tls(T)
    m.dns([], failure="dns_nxdomain_error", host="x.com")
    control = {"dns": {"failure": "dns_nxdomain_error", "addrs": []}, "tcp_connect": {}}
    m.set(
        x_redirect_controls=[{"url": "https://x.com/", "control": control, "control_failure": None}]
    )
    _redirect(m, _failed_request("dns_nxdomain_error", None))
    assert classify(m.build()).verdict == "down"


def test_a_hops_own_control_wins_over_the_inputs_fetch(build: Any) -> None:
    """The input's control fetched the chain, but the hop's own control could not connect to
    the probe's address for the hop: not the probe's path alone, so not blocked."""
    m = _chain(build, tcp_connect={f"{X}:443": {"status": False, "failure": "connection_refused"}})
    m.tk["tcp_connect"][-1]["status"] = {
        "success": False,
        "failure": "connection_refused",
        "blocked": None,
    }
    _redirect(m, _failed_request("connection_refused"))
    result = classify(m.build())
    assert result.verdict != "blocked"
    assert [o.rule for o in result.observations if o.host == "x.com" and o.layer == "tcp"] == [
        "tcp.fails_for_control_too"
    ]


@pytest.mark.parametrize("layer", ["tcp", "tls", "http", "quic"])
def test_a_probe_fault_is_inconclusive_however_well_the_control_did(
    healthy: Any, layer: str
) -> None:
    fault = "x_probe_fault: TypeError: 2-tuple is expected"
    m = healthy()
    if layer == "tcp":
        m.tk["tcp_connect"][0]["status"] = {"success": False, "failure": fault, "blocked": None}
        m.tk["tls_handshakes"] = []
        m.tk["requests"] = []
    elif layer == "tls":
        m.tk["tls_handshakes"][0]["failure"] = fault
        m.tk["requests"] = []
    elif layer == "http":
        m.tk["requests"][0].update(failure=fault, response={"code": 0, "headers": {}})
    else:
        m.quic("10.0.2.10", fault).control_quic("10.0.2.10")
    result = classify(m.build())
    assert result.layers[layer].verdict == "inconclusive"
    assert result.layers[layer].rule == f"{layer}.probe_fault"
    assert result.verdict != "blocked"


def test_a_fault_of_the_control_itself_is_no_control_evidence(healthy: Any) -> None:
    """The control's QUIC failing with its own fault says nothing of the endpoint: the probe's
    QUIC failure then has no control to compare with (not `down`, not `blocked`)."""
    m = healthy().quic("10.0.2.10", "generic_timeout_error")
    m.tk["control"]["quic_handshake"]["10.0.2.10:443"] = {
        "status": False,
        "failure": "x_probe_fault: TypeError: 2-tuple is expected",
    }
    assert classify(m.build()).layers["quic"].rule == "quic.no_control"
