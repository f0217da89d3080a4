"""From observations to the overall verdict: which stage says the site was reached when no
page was fetched (the connections at the input's port), where a redirect chain ended, and the
layer verdicts as they are published. Each test pins a behaviour mutation testing found no
test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import RULES, LayerVerdict, classify
from reachwatch.classify._combine import classified, layers_of, overall
from reachwatch.classify._rules import _observed, observe
from reachwatch.classify.verdicts import Observation

HOST = "x.com"


def _at(rule: str, address: str | None, host: str = HOST) -> Observation:
    return observe(rule, host, address, technique="tcp.reset", failure=None)


def _overall(obs: list[Observation], port: int | None, host: str | None = None) -> str:
    return overall(layers_of(obs), obs, port, host=host)[0]


def test_without_a_page_only_connections_to_the_inputs_port_say_it_was_reached() -> None:
    obs = [
        _at("tcp.connected", "10.0.2.10:443"),
        _at("tcp.fails_for_control_too", "10.0.2.10:80"),
    ]
    assert _overall(obs, 443) == "accessible"
    assert _overall(obs, 80) == "down"
    # No connection at that port at all: nothing says whether the site was reached.
    assert _overall(obs, 8443) == "inconclusive"


def test_an_observation_without_an_address_counts_for_any_port() -> None:
    assert _overall([_at("tcp.connected", None)], 8443) == "accessible"


def test_tls_at_the_port_speaks_before_tcp() -> None:
    obs = [
        _at("tcp.fails_for_control_too", "10.0.2.10:443"),
        _at("tls.handshake_ok", "10.0.2.10:443"),
    ]
    assert _overall(obs, 443) == "accessible"
    obs = [_at("tcp.connected", "10.0.2.10:443"), _at("tls.fails_for_control_too", "[::1]:443")]
    assert _overall(obs, 443) == "down"


def test_with_a_page_the_deepest_stage_speaks_whatever_the_port() -> None:
    obs = [
        _at("tcp.connected", "10.0.2.10:8443"),
        _at("http.fails_for_control_too", None),
    ]
    assert _overall(obs, 443) == "down"


def test_without_a_port_the_deepest_stage_speaks() -> None:
    obs = [_at("tcp.fails_for_control_too", "10.0.2.10:80"), _at("tls.handshake_ok", None)]
    assert _overall(obs, None) == "accessible"


def test_nothing_reached_and_dns_down_is_down_else_inconclusive() -> None:
    assert _overall([_at("dns.fails_for_control_too", None)], None) == "down"
    assert _overall([_at("dns.matches_control", None)], None) == "inconclusive"
    assert _overall([_at("dns.matches_control", None)], 443) == "inconclusive"


def test_only_the_hosts_own_steps_say_whether_the_chain_end_was_reached() -> None:
    obs = [
        _at("tls.handshake_ok", None),
        _at("tls.fails_for_control_too", None, host="end.example"),
    ]
    assert _overall(obs, None) == "accessible"
    assert _overall(obs, None, host="end.example") == "down"


def test_blocking_on_any_hop_wins_over_the_chain_end() -> None:
    obs = [
        _at("tcp.reset_probe_only", None),
        _at("tls.handshake_ok", None, host="end.example"),
    ]
    assert overall(layers_of(obs), obs, None, host="end.example") == ("blocked", "tcp.reset")


def test_classified_keeps_the_given_id_and_the_port() -> None:
    obs = [_at("tcp.connected", "10.0.2.10:443"), _at("tcp.fails_for_control_too", "[::1]:80")]
    record = {"input": "http://x.com/"}
    kwargs = {
        "record": record,
        "input": "http://x.com/",
        "test_name": "web_connectivity",
        "probe_cc": "PK",
        "probe_asn": "AS1",
        "start": "2024-02-18 10:00:00",
        "observations": obs,
    }
    c = classified(**kwargs, ident="id-1", port=80)  # type: ignore[arg-type]
    assert (c.id, c.verdict) == ("id-1", "down")
    derived = classified(**kwargs, port=443)  # type: ignore[arg-type]
    assert derived.verdict == "accessible"
    assert derived.id not in ("", "id-1") and derived.id == classified(**kwargs).id  # type: ignore[arg-type]


def test_a_layer_verdict_is_published_with_its_technique_only_when_it_has_one() -> None:
    blocked = LayerVerdict("blocked", "tcp.reset_probe_only", (0.9, 0.05, 0.05), "tcp.reset")
    assert (blocked.verdict, blocked.rule, blocked.loni, blocked.technique) == (
        "blocked",
        "tcp.reset_probe_only",
        (0.9, 0.05, 0.05),
        "tcp.reset",
    )
    assert blocked.to_json() == {
        "verdict": "blocked",
        "rule": "tcp.reset_probe_only",
        "loni": [0.9, 0.05, 0.05],
        "technique": "tcp.reset",
    }
    assert "technique" not in LayerVerdict("ok", "tcp.connected", (0.0, 0.0, 1.0)).to_json()


def test_every_rule_resolves_to_its_layer_verdict_and_whether_it_blocks() -> None:
    # _observed is what observe() caches; called directly so a warm cache cannot hide it.
    for rule, (verdict, loni) in RULES.items():
        assert _observed(rule) == (rule.split(".")[0], verdict, loni, verdict == "blocked")


def test_an_unknown_rule_is_a_programming_error_naming_the_rule() -> None:
    with pytest.raises(RuntimeError, match=r"'tcp\.no_such_rule' is not in RULES"):
        observe("tcp.no_such_rule", HOST)


def _no_fetch(build: Any, url: str) -> str:
    """Port 80 connects; port 443 fails for the control too; no page was fetched."""
    ip = "104.244.42.1"
    m = build(url).dns([ip]).control_dns([ip])
    m.tcp(ip, 80).control_tcp(ip, port=80)
    m.tcp(ip, 443, "generic_timeout_error").control_tcp(ip, ok=False, port=443)
    return str(classify(m.build()).verdict)


def test_without_a_fetch_the_inputs_own_port_says_whether_it_was_reached(build: Any) -> None:
    assert _no_fetch(build, "http://x.com/") == "accessible"
    assert _no_fetch(build, "https://x.com/") == "down"
    assert _no_fetch(build, "http://x.com:443/") == "down"
    assert _no_fetch(build, "https://x.com:80/") == "accessible"
