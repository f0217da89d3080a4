"""When the control's answer is unusable (it resolved nothing and reached nothing, though the
name resolves for the probe), and an old probe's fetch failure recorded without its request.
Each test pins a behaviour mutation testing found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import InvalidMeasurement, classify, control_broken

IP = "104.244.42.1"


def _blind(build: Any, failure: str = "dns_server_failure") -> Any:
    """The probe resolved and fetched; the control resolved nothing and reached nothing."""
    m = build().dns([IP]).tcp(IP).tls(IP).http(address=f"{IP}:443")
    m.control_dns([], failure=failure).control_http(failure="dns_lookup_error")
    return m


def test_a_control_that_resolved_and_reached_nothing_is_broken(build: Any) -> None:
    tk = _blind(build).build()["test_keys"]
    why = control_broken(tk)
    assert why is not None and "dns_server_failure" in why
    # It is judged as no control at all.
    alone = build(control=False).dns([IP]).tcp(IP).tls(IP).http(address=f"{IP}:443")
    blind = classify(_blind(build).build())
    assert {k: v.rule for k, v in blind.layers.items()} == {
        k: v.rule for k, v in classify(alone.build()).layers.items()
    }


@pytest.mark.parametrize("failure", ["dns_nxdomain_error", "dns_no_answer"])
def test_a_control_told_the_name_does_not_exist_has_a_network(build: Any, failure: str) -> None:
    assert control_broken(_blind(build, failure).build()["test_keys"]) is None


@pytest.mark.parametrize("step", ["tcp", "tls", "http"])
def test_a_control_that_reached_anything_is_not_broken(build: Any, step: str) -> None:
    m = _blind(build)
    if step == "tcp":
        m.control_tcp(IP)
    elif step == "tls":
        m.control_tls(IP)
    else:
        m.control_http()
    assert control_broken(m.build()["test_keys"]) is None


def test_a_name_the_probe_could_not_resolve_either_excuses_the_control(build: Any) -> None:
    m = build().dns([IP], failure="dns_server_failure")
    m.control_dns([], failure="dns_server_failure").control_http(failure="dns_lookup_error")
    assert control_broken(m.build()["test_keys"]) is None
    m = build().dns([], failure="dns_server_failure")
    m.control_dns([], failure="dns_server_failure").control_http(failure="dns_lookup_error")
    assert control_broken(m.build()["test_keys"]) is None


def test_no_control_or_a_failed_control_request_is_not_broken(build: Any) -> None:
    assert control_broken(build(control=False).dns([IP]).build()["test_keys"]) is None
    tk = _blind(build).build()["test_keys"]
    tk["control_failure"] = "connection_refused"
    assert control_broken(tk) is None


def test_control_addresses_that_are_not_a_list_are_invalid(build: Any) -> None:
    tk = _blind(build).build()["test_keys"]
    tk["control"]["dns"]["addrs"] = "104.244.42.1"
    with pytest.raises(InvalidMeasurement, match=r"control\.dns\.addrs is not a list"):
        control_broken(tk)


def test_a_fetch_failure_recorded_without_its_request_is_judged(healthy: Any) -> None:
    m = healthy()
    m.tk["requests"] = []
    m.tk["http_experiment_failure"] = "generic_timeout_error"
    c = classify(m.build())
    (o,) = [o for o in c.observations if o.layer == "http"]
    assert (o.host, o.failure) == ("x.com", "generic_timeout_error")
    assert c.verdict != "accessible"
    m.tk["http_experiment_failure"] = ""
    assert "http" not in classify(m.build()).layers
