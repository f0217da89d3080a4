"""Censored Planet records and signatures.

The raw e2e samples carry no blockpage verdict of Censored Planet's own (in every layout here
that is added later by their pipeline); what Censored Planet says is in its signature files
and in its matching rule: a false-positive signature first, then a blockpage signature, each a
regular expression searched with DOTALL. So: (1) reachwatch's matcher gives exactly that rule's
answer on every page in the samples and on the long test page; (2) the pages that match a
blockpage signature are the ones read by hand below, and are judged blocked; (3) a page
matching a false-positive signature is never counted as blocking; (4) nothing Censored Planet
did not flag as an anomaly is called blocked.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify import (
    Fingerprints,
    InvalidMeasurement,
    Unsupported,
    classify_censoredplanet,
    load_fingerprints,
)
from reachwatch.classify._censoredplanet import match_page

# (folder, line) -> signature, checked by reading each page.
BLOCKPAGES = {
    ("Quack-discard_v2", 3): "b_nat_pak_isp_common_blockpage",  # PK "Surf Safely"
    ("Quack-http_v1", 3): "a_prod_paloalto_1",  # "Web Page Blocked", Palo Alto P3P header
    ("Quack-http_v2", 2): "d_corp_cn_ucloud",  # CN 403 from an "ADM" appliance
    ("Quack-http_v2", 3): "f_gen_access_denied",  # US "Access Denied" 503
}


@pytest.fixture(scope="module")
def cp_fingerprints(reference_dir: Path) -> Fingerprints:
    data = reference_dir / "censoredplanet" / "metadata" / "data"
    return load_fingerprints(
        cp_blockpages=data / "blockpage_signatures.json",
        cp_false_positives=data / "false_positive_signatures.json",
    )


def _signatures(path: Path) -> list[tuple[str, re.Pattern[str]]]:
    lines = path.read_text().splitlines()
    return [
        (d["fingerprint"], re.compile(d["pattern"], re.DOTALL))
        for d in (orjson.loads(line) for line in lines if line.strip())
    ]


def _records(reference_dir: Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    root = reference_dir / "censoredplanet" / "e2e_test_data"
    for path in sorted(root.glob("*/*.json")):
        for number, line in enumerate(path.read_text().splitlines()):
            yield path.parent.name, number, orjson.loads(line)


def _pages(record: dict[str, Any]) -> Iterator[Any]:
    for trial in record.get("Results") or record.get("response") or []:
        if isinstance(trial, dict):
            page = trial.get("Received", trial.get("response"))
            if isinstance(page, str | dict) and page:
                yield page
    for key in ("http", "https"):
        if isinstance(record.get(key), dict):
            yield record[key]


def _cp_rule(
    page: str, fps: list[tuple[str, re.Pattern[str]]], bps: list[tuple[str, re.Pattern[str]]]
) -> str | None:
    """Censored Planet's published matching rule, written out plainly."""
    for name, regex in fps:
        if regex.search(page):
            return name
    for name, regex in bps:
        if regex.search(page):
            return name
    return None


@pytest.mark.reference
def test_matcher_gives_censored_planets_answer(
    reference_dir: Path, cp_fingerprints: Fingerprints
) -> None:
    data = reference_dir / "censoredplanet" / "metadata" / "data"
    fps = _signatures(data / "false_positive_signatures.json")
    bps = _signatures(data / "blockpage_signatures.json")
    long_file = reference_dir / "censoredplanet" / "metadata" / "test_files" / "long_blockpage.html"
    long_page = long_file.read_text()
    pages = [p for _, _, r in _records(reference_dir) for p in _pages(r) if isinstance(p, str)]
    pages += [
        p["body"]
        for _, _, r in _records(reference_dir)
        for p in _pages(r)
        if isinstance(p, dict) and isinstance(p.get("body"), str)
    ]
    pages.append(long_page)
    assert len(pages) > 40
    for page in pages:
        found = cp_fingerprints.match_page(page)
        assert (found.name if found else None) == _cp_rule(page, fps, bps)
    assert cp_fingerprints.match_page(long_page) is None


@pytest.mark.reference
def test_blockpage_signatures_match_where_censored_planet_says(
    reference_dir: Path, cp_fingerprints: Fingerprints
) -> None:
    found = {}
    for folder, number, record in _records(reference_dir):
        try:
            c = classify_censoredplanet(record, fingerprints=cp_fingerprints)
        except (Unsupported, InvalidMeasurement):
            continue
        o = c.observations[0]
        if o.rule.endswith("cp_blockpage_signature"):
            found[(folder, number)] = o.failure
            assert (c.verdict, c.technique) == ("blocked", "http.blockpage")
            assert record.get("anomaly", record.get("Blocked")) is True
    assert found == BLOCKPAGES


@pytest.mark.reference
def test_false_positive_signatures_are_not_blocking(
    reference_dir: Path, cp_fingerprints: Fingerprints
) -> None:
    false_positives = 0
    for _, _, record in _records(reference_dir):
        try:
            c = classify_censoredplanet(record, fingerprints=cp_fingerprints)
        except (Unsupported, InvalidMeasurement):
            continue
        matches = [m for p in _pages(record) if (m := match_page(cp_fingerprints, p))]
        if matches and all(not m.blocking for m in matches):
            false_positives += 1
            assert c.verdict != "blocked"
    assert false_positives >= 10


@pytest.mark.reference
def test_nothing_censored_planet_saw_as_normal_is_called_blocked(
    reference_dir: Path, cp_fingerprints: Fingerprints
) -> None:
    judged = 0
    for _, _, record in _records(reference_dir):
        try:
            c = classify_censoredplanet(record, fingerprints=cp_fingerprints)
        except (Unsupported, InvalidMeasurement):
            continue
        judged += 1
        if record.get("anomaly", record.get("Blocked")) is False:
            assert c.verdict != "blocked"
    assert judged == 69


@pytest.mark.reference
def test_every_record_is_judged_or_refused_with_a_reason(reference_dir: Path) -> None:
    refused: dict[str, int] = {}
    for folder, _, record in _records(reference_dir):
        try:
            classify_censoredplanet(record)
        except (Unsupported, InvalidMeasurement) as exc:
            key = f"{folder}: {type(exc).__name__}"
            refused[key] = refused.get(key, 0) + 1
    # Satellite v1 records and controls are not measurements we judge; resolver and tag
    # tables are metadata, not records.
    assert refused == {
        "Satellitev1_2018-08-03: Unsupported": 8,
        "Satellitev1_2018-08-03: InvalidMeasurement": 23,
        "Satellitev2-2021-10-20: InvalidMeasurement": 24,
        "Satellitev2_2021-04-25: Unsupported": 4,
        "Satellitev2_2021-04-25: InvalidMeasurement": 15,
    }


def test_hyperquack_v2_reset_and_template_match() -> None:
    """A hand-written v2 record: controls pass, the keyword is reset every time."""
    trial = {"matches_template": False, "error": "read: connection reset by peer"}
    record = {
        "vp": "192.0.2.7",
        "location": {"country_code": "PK"},
        "service": "https",
        "test_url": "x.com",
        "response": [
            {"matches_template": True, "control_url": "control-1.com", "start_time": ""},
            *[dict(trial, start_time="2024-02-18T10:00:00.5+05:00") for _ in range(4)],
        ],
        "anomaly": True,
        "controls_failed": False,
        "stateful_block": False,
    }
    c = classify_censoredplanet(record)
    assert (c.verdict, c.technique, c.probe_cc) == ("blocked", "tls.reset", "PK")
    assert c.layers["tls"].rule == "tls.cp_reset_after_keyword"
    assert c.measurement_start_time == "2024-02-18 05:00:00"
    ok = dict(record, anomaly=False, response=[{"matches_template": True}] * 2)
    assert classify_censoredplanet(ok).verdict == "accessible"


def test_satellite_v22_bogon_and_match() -> None:
    base = {
        "vp": "192.0.2.53",
        "test_url": "x.com",
        "passed_liveness": True,
        "connect_error": False,
        "anomaly": True,
        "location": {"country_code": "PK"},
        "start_time": "2024-02-18 10:00:00.1 +0500 PKT",
    }
    answer = {"url": "x.com", "has_type_a": True, "rcode": 0, "error": "null"}
    bogon = dict(base, response=[dict(answer, response={"127.0.0.1": {"matched": None}})])
    c = classify_censoredplanet(bogon)
    assert (c.verdict, c.technique) == ("blocked", "dns.bogon")
    good = {"104.244.42.1": {"matched": ["ip", "asnum"]}}
    fine = dict(base, anomaly=False, response=[dict(answer, response=good)])
    assert classify_censoredplanet(fine).verdict == "accessible"
    nx = dict(base, response=[dict(answer, rcode=3, response={})])
    assert classify_censoredplanet(nx).technique == "dns.nxdomain"
