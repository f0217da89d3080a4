"""Measurement lines, target expansion and the run-level judgements, without a network."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify.verdicts import Classified
from reachwatch.formats.reachwatch import (
    InvalidFormat,
    build_measurement,
    measurement_schema,
    validate_measurement,
    write_measurements,
)
from reachwatch.probe import TargetError, expand_targets, is_no_network
from reachwatch.probe._run import ooni_summary

X_URLS = 8


def minimal_keys(**changes: Any) -> dict[str, Any]:
    keys: dict[str, Any] = {
        "queries": [],
        "tcp_connect": [],
        "tls_handshakes": [],
        "requests": [],
        "control": {},
        "control_failure": "x_no_control",
        "blocking": None,
        "accessible": None,
        "x_ipv6_capable": False,
        "x_unmeasured_addresses": [],
        "x_quic_handshakes": [],
        "x_throughput": None,
        "x_reachwatch": None,
    }
    keys.update(changes)
    return keys


def line(**changes: Any) -> dict[str, Any]:
    return build_measurement(
        input_url="https://x.com/",
        test_keys=minimal_keys(**changes),
        started_at=datetime.datetime(2024, 2, 17, 12, 0, tzinfo=datetime.UTC),
        runtime=1.5,
        probe_cc="PK",
        probe_asn="AS17557",
    )


def test_built_line_has_ooni_base_keys_and_validates() -> None:
    measurement = line()
    validate_measurement(measurement)
    assert measurement["measurement_start_time"] == "2024-02-17 12:00:00"
    assert measurement["probe_ip"] == "127.0.0.1"
    assert measurement["test_name"] == "web_connectivity"
    assert measurement["measurement_uid"].startswith("20240217120000.000000_PK_webconnectivity_")
    assert measurement_schema()["title"].startswith("reachwatch measurement")


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [
        ("probe_ip", "203.0.113.9", "probe_ip"),
        ("probe_cc", "Pakistan", "probe_cc"),
        ("input", "ftp://x.com/", "input"),
    ],
)
def test_schema_rejects_bad_base_keys(field: str, value: str, where: str) -> None:
    measurement = line()
    measurement[field] = value
    with pytest.raises(InvalidFormat, match=where):
        validate_measurement(measurement)


def test_schema_rejects_a_malformed_entry() -> None:
    entry = {"ip": "127.0.0.1", "port": 443, "status": {"success": "yes"}, "t": 0.1}
    with pytest.raises(InvalidFormat, match="test_keys/tcp_connect/0/status"):
        validate_measurement(line(tcp_connect=[entry]))


def test_lines_are_appended(tmp_path: Path) -> None:
    out = tmp_path / "m.jsonl"
    assert write_measurements(out, [line()]) == 1
    assert write_measurements(out, [line(), line()]) == 2
    docs = [orjson.loads(raw) for raw in out.read_bytes().splitlines()]
    assert len(docs) == 3
    assert len({doc["measurement_uid"] for doc in docs}) == 3


def test_platform_expands_to_all_its_urls_and_urls_pass_through() -> None:
    targets = expand_targets(["x", "https://example.org/page", "x"])
    assert len(targets) == X_URLS + 1
    assert {t.platform for t in targets[:X_URLS]} == {"x"}
    assert targets[-1].url == "https://example.org/page" and targets[-1].platform is None
    with pytest.raises(TargetError, match="unknown platform"):
        expand_targets(["friendster"])
    with pytest.raises(TargetError, match="invalid port"):
        expand_targets(["https://x.com:99999/"])


def unreached(failure: str) -> dict[str, Any]:
    query = {"hostname": "x.com", "query_type": "A", "engine": "udp", "answers": [], "t": 0.0}
    return line(queries=[query | {"resolver_address": "192.0.2.53:53", "failure": failure}])


def test_no_network_only_when_nothing_answered() -> None:
    assert is_no_network([unreached("network_unreachable"), unreached("dns_temporary_failure")])
    # A resolver that says NXDOMAIN answered: that is a network (maybe a censored one).
    assert not is_no_network([unreached("network_unreachable"), unreached("dns_nxdomain_error")])
    answered_control = unreached("generic_timeout_error")
    answered_control["test_keys"]["control_failure"] = None
    assert not is_no_network([answered_control])
    connected = unreached("generic_timeout_error")
    tcp = {"ip": "192.0.2.1", "port": 443, "status": {"success": True}}
    connected["test_keys"]["tcp_connect"] = [tcp]
    assert not is_no_network([connected])
    assert not is_no_network([])


def verdict(name: str, technique: str | None = None) -> Classified:
    return Classified(
        id="m", input="https://x.com/", test_name="web_connectivity", probe_cc="PK",
        probe_asn="AS17557", measurement_start_time="2024-02-17 12:00:00",
        verdict=name,  # type: ignore[arg-type]
        technique=technique,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "technique", "expected"),
    [
        ("accessible", None, (False, True)),
        ("down", None, (False, False)),
        ("inconclusive", None, (None, None)),
        ("blocked", "dns.nxdomain", ("dns", False)),
        ("blocked", "tcp.timeout", ("tcp_ip", False)),
        ("blocked", "tls.reset", ("http-failure", False)),
        ("blocked", "http.blockpage", ("http-diff", False)),
        ("blocked", "http.reset", ("http-failure", False)),
        ("blocked", "throttled", (None, False)),
    ],
)
def test_ooni_summary_fields(
    name: str, technique: str | None, expected: tuple[str | bool | None, bool | None]
) -> None:
    assert ooni_summary(verdict(name, technique)) == expected
