"""What classify() refuses, and how it names what it judges."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from reachwatch.classify import SUPPORTED_TESTS, InvalidMeasurement, Unsupported, classify


@pytest.mark.parametrize("test_name", ["tor", "dns_consistency", "http_requests", "openvpn"])
def test_other_tests_are_unsupported(healthy: Any, test_name: str) -> None:
    m = healthy().build()
    m["test_name"] = test_name
    with pytest.raises(Unsupported):
        classify(m)


def test_supported_tests() -> None:
    assert {
        "web_connectivity",
        "whatsapp",
        "telegram",
        "signal",
        "facebook_messenger",
        "urlgetter",
    } == SUPPORTED_TESTS


def _broken(healthy: Any, change: Any) -> dict[str, Any]:
    m: dict[str, Any] = healthy().build()
    change(m)
    return m


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda m: m.update(test_keys=None), "test_keys is null"),
        (lambda m: m.pop("test_keys"), "test_keys is missing"),
        (lambda m: m.update(test_keys=[1, 2]), "test_keys is list"),
        (lambda m: m.pop("test_name"), "no test_name"),
        (lambda m: m.update(test_name=7), "no test_name"),
        (lambda m: m.update(probe_cc=586), "probe_cc is int"),
        (lambda m: m["test_keys"].update(queries={"a": 1}), "queries is not a list"),
        (lambda m: m["test_keys"].update(tcp_connect=["x"]), "tcp_connect is not a list"),
        (lambda m: m["test_keys"]["tcp_connect"][0].update(status=None), "status"),
        (lambda m: m["test_keys"]["tcp_connect"][0].update(port="https"), "port"),
        (lambda m: m["test_keys"]["requests"][0].update(failure=3), "failure is int"),
        (lambda m: m["test_keys"]["control"].update(tcp_connect=[]), "control.tcp_connect"),
        (lambda m: m["test_keys"].update(control="yes"), "control is str"),
    ],
)
def test_malformed_measurements_are_invalid(healthy: Any, change: Any, message: str) -> None:
    with pytest.raises(InvalidMeasurement, match=message):
        classify(_broken(healthy, change))


def test_not_a_mapping_is_invalid() -> None:
    with pytest.raises(InvalidMeasurement):
        classify([1, 2, 3])  # type: ignore[arg-type]


def test_id_is_the_measurement_uid_when_present(healthy: Any) -> None:
    m = healthy().build()
    m["measurement_uid"] = "20240218100000.000000_PK_webconnectivity_0123456789abcdef"
    assert classify(m).id == m["measurement_uid"]


def test_id_is_a_stable_content_hash_otherwise(healthy: Any) -> None:
    m = healthy().build()
    reordered = dict(reversed(list(copy.deepcopy(m).items())))
    first = classify(m).id
    assert first.startswith("c-")
    assert classify(reordered).id == first
    m["probe_asn"] = "AS59257"
    assert classify(m).id != first


def test_json_shape_of_design(healthy: Any) -> None:
    doc = classify(healthy().build()).to_json()
    assert set(doc) == {
        "id",
        "input",
        "test_name",
        "probe_cc",
        "probe_asn",
        "measurement_start_time",
        "verdict",
        "technique",
        "layers",
    }
    assert doc["layers"]["dns"] == {
        "verdict": "ok",
        "rule": "dns.matches_control",
        "loni": [0.0, 0.0, 1.0],
    }
    assert "quic" not in doc["layers"]  # not measured: absent, not ok


def test_observations_are_per_address(healthy: Any) -> None:
    m = healthy().tcp("10.0.2.11").control_tcp("10.0.2.11")
    c = classify(m.build())
    tcp = sorted(o.address or "" for o in c.observations if o.layer == "tcp")
    assert tcp == ["10.0.2.10:443", "10.0.2.11:443"]
    assert all(o.host == "x.com" for o in c.observations)


def test_caller_given_id_wins(healthy: Any) -> None:
    m = healthy().build()
    m["measurement_uid"] = "uid-from-ooni"
    assert classify(m, measurement_id="r-ingest-id").id == "r-ingest-id"
