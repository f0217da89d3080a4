"""Measurements to ingest: real samples from ../shared/reference when present, else our own."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

Measurement = dict[str, Any]


def web_connectivity(
    uid: str,
    *,
    url: str = "https://x.com/",
    cc: str = "PK",
    start: str = "2024-02-17 10:00:00",
    reset: bool = True,
) -> Measurement:
    """A web_connectivity v0.4 measurement written for these tests: DNS agrees with the
    control, TCP connects, and the TLS handshake is reset (or the page loads)."""
    host = url.split("/")[2]
    address = "104.244.42.1"
    http_failure = "connection_reset" if reset else None
    request: dict[str, Any] = {
        "failure": http_failure,
        "request": {"method": "GET", "url": url, "headers": {}, "body": None},
        "response": None
        if reset
        else {"code": 200, "headers": {"Content-Type": "text/html"}, "body": "<title>X</title>"},
    }
    return {
        "measurement_uid": uid,
        "report_id": f"20240217T100000Z_webconnectivity_{cc}_17557_n1_{uid}",
        "input": url,
        "test_name": "web_connectivity",
        "test_version": "0.4.3",
        "software_name": "ooniprobe-android",
        "software_version": "3.8.5",
        "data_format_version": "0.2.0",
        "measurement_start_time": start,
        "test_start_time": start,
        "probe_cc": cc,
        "probe_asn": "AS17557",
        "probe_ip": "127.0.0.1",
        "annotations": {},
        "test_keys": {
            "queries": [
                {
                    "engine": "system",
                    "hostname": host,
                    "query_type": "A",
                    "answers": [{"answer_type": "A", "ipv4": address}],
                    "failure": None,
                }
            ],
            "tcp_connect": [
                {
                    "ip": address,
                    "port": 443,
                    "status": {"success": True, "failure": None, "blocked": False},
                }
            ],
            "requests": [request],
            "control": {
                "dns": {"failure": None, "addrs": [address]},
                "tcp_connect": {f"{address}:443": {"status": True, "failure": None}},
                "http_request": {
                    "failure": None,
                    "status_code": 200,
                    "body_length": 16,
                    "title": "X",
                    "headers": {"Content-Type": "text/html"},
                },
            },
            "control_failure": None,
            "dns_experiment_failure": None,
            "http_experiment_failure": http_failure,
            "blocking": "http-failure" if reset else False,
            "accessible": not reset,
        },
    }


def _reference(request: pytest.FixtureRequest) -> Path | None:
    try:
        path: Path = request.getfixturevalue("reference_dir")
    except pytest.skip.Exception:
        return None
    return path


@pytest.fixture(scope="session")
def sample_lines(request: pytest.FixtureRequest) -> list[bytes]:
    """Valid measurement lines, one JSON object each: real OONI web_connectivity and
    Censored Planet records when the reference corpus is here, our own otherwise."""
    ref = _reference(request)
    lines: list[bytes] = []
    if ref is not None:
        fastpath = ref / "ooni" / "fastpath-samples"
        for name in ("report2.json", "web_connectivity_ir_fp.json", "requests_none.json"):
            path = fastpath / name
            if path.exists():
                lines.append(orjson.dumps(orjson.loads(path.read_bytes())))
        for path in sorted((ref / "censoredplanet" / "e2e_test_data").glob("Quack-*_v2/*.json")):
            lines.extend(line for line in path.read_bytes().splitlines()[:2] if line.strip())
    if not lines:
        lines = [
            orjson.dumps(web_connectivity(f"own-{i}", url=f"https://x.com/{i}")) for i in range(6)
        ]
    return lines


@pytest.fixture
def make_measurement() -> Callable[..., Measurement]:
    return lambda uid, **kw: copy.deepcopy(web_connectivity(uid, **kw))
