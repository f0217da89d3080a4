"""The Pakistani mask.icloud.com measurement OONI's v0.4 analysis called DNS blocking.

The probe's resolver answered Akamai addresses (AS36183), the control Apple's (AS714). That is
not tampering: the control itself connected to the probe's Akamai addresses, and its TLS
handshakes there ended exactly as at Apple's own addresses (eof_error: the relay endpoint does
not complete handshakes for an ordinary client, from anywhere). reachwatch's general rule
`dns.control_consistent` accepts such answers; the TLS failure is then `down`, not blocking.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify import classify

FOLDER = ("ooni", "pk-false-positive")
NAME = "20230706183840.201925_PK_webconnectivity_19f5e0d803cbaea7.jsonc"


def _test_keys(reference_dir: Path) -> dict[str, Any]:
    text = (reference_dir.joinpath(*FOLDER) / NAME).read_text()
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("//")]
    doc: dict[str, Any] = orjson.loads("\n".join(lines))
    return doc


def _measurement(test_keys: dict[str, Any]) -> dict[str, Any]:
    return {
        "measurement_start_time": "2023-07-06 18:38:40",
        "probe_cc": "PK",
        "probe_asn": "AS0",
        "input": "https://mask.icloud.com/",
        "test_name": "web_connectivity",
        "test_version": "0.5.24",
        "test_keys": test_keys,
    }


@pytest.mark.reference
def test_ooni_called_it_dns_blocking(reference_dir: Path) -> None:
    tk = _test_keys(reference_dir)
    assert tk["blocking"] == "dns"
    assert tk["dns_consistency"] == "inconsistent"


@pytest.mark.reference
def test_reachwatch_does_not_call_it_blocked(reference_dir: Path) -> None:
    c = classify(_measurement(_test_keys(reference_dir)))
    assert c.verdict != "blocked"
    assert c.layers["dns"].verdict == "ok"
    assert c.layers["dns"].rule == "dns.control_consistent"
    assert c.layers["tls"].rule == "tls.fails_for_control_too"
    assert c.verdict == "down"


@pytest.mark.reference
def test_the_evidence_behind_the_rule(reference_dir: Path) -> None:
    """The facts the rule relies on, checked in the data: different ASNs (the sidecar table
    OONI's own test used agrees with the control's ip_info), the control connecting to the
    probe's addresses, and identical TLS outcomes there and at the control's addresses."""
    tk = _test_keys(reference_dir)
    sidecar = orjson.loads(
        (reference_dir.joinpath(*FOLDER) / "geoip-asn-map.from-test.json").read_bytes()
    )["ip_to_asn"]
    info = tk["control"]["ip_info"]
    for ip, row in sidecar.items():
        assert info[ip]["asn"] == row["asn"]
    probe_v4 = {a["ipv4"] for q in tk["queries"] for a in q["answers"] or [] if "ipv4" in a}
    control = set(tk["control"]["dns"]["addrs"])
    assert probe_v4 and not probe_v4 & control
    assert {sidecar[ip]["asn"] for ip in probe_v4} == {36183}
    assert {sidecar[ip]["asn"] for ip in control if ip in sidecar} == {714}
    tcp, tls = tk["control"]["tcp_connect"], tk["control"]["tls_handshake"]
    assert all(tcp[f"{ip}:443"]["status"] for ip in probe_v4)
    at_probe_answers = {tls[f"{ip}:443"]["failure"] for ip in probe_v4}
    at_control_answers = {tls[f"{ip}:443"]["failure"] for ip in control if ":" not in ip}
    assert at_probe_answers == at_control_answers == {"eof_error"}


@pytest.mark.reference
def test_the_same_answers_with_a_blockpage_behind_them_would_be_blocking(
    reference_dir: Path,
) -> None:
    """The rule is general, not an exception for this file: change one fact (the control's
    handshake at the probe's addresses fails differently) and the answers are rejected."""
    tk = _test_keys(reference_dir)
    for key, entry in tk["control"]["tls_handshake"].items():
        if key.startswith("172.224."):
            entry["failure"] = "ssl_invalid_hostname"
    for key, entry in tk["control"]["tls_handshake"].items():
        if key.startswith("17.248."):
            entry.update({"status": True, "failure": None})
    c = classify(_measurement(tk))
    assert c.verdict == "blocked"
    assert c.technique == "dns.injected"
