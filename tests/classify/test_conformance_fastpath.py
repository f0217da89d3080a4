"""Every file in OONI's fastpath samples: judged, or cleanly Unsupported / InvalidMeasurement;
for web_connectivity, agreement with OONI's own `blocking` field, with every disagreement
documented in docs/conformance.md (the test asserts exactly that list)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.classify import InvalidMeasurement, Unsupported, classify

# file -> (reachwatch verdict, OONI's verdict read from blocking/accessible)
DOCUMENTED_DISAGREEMENTS = {
    "20250527233111.802678_ID_webconnectivity_5a37ec909dbf14e3.json": ("blocked", "accessible"),
    "bug_351.json": ("inconclusive", "blocked"),
    "requests_none.json": ("down", "blocked"),
    "web_connectivity_no_body.json": ("down", "accessible"),
    "web_connectivity_null2.json": ("down", "inconclusive"),
    "web_connectivity_odd_hdr.json": ("down", "blocked"),
}
AGREEING = 10  # web_connectivity measurements where both say the same
NOT_JSON = {"binary_city.yaml", "dns_n_http_bin_body.yaml", "http_invalid_request_line.yaml"}


def ooni_verdict(test_keys: dict[str, Any]) -> str:
    """OONI's (blocking, accessible) pair in reachwatch's vocabulary."""
    blocking, accessible = test_keys.get("blocking"), test_keys.get("accessible")
    if isinstance(blocking, str):
        return "blocked"
    if blocking is False:
        return "accessible" if accessible is not False else "down"
    return "inconclusive"


def _records(path: Path) -> list[Any] | None:
    try:
        doc = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError:
        return None
    return doc if isinstance(doc, list) else [doc]


@pytest.mark.reference
def test_every_sample_is_judged_or_cleanly_refused(reference_dir: Path) -> None:
    outcomes: Counter[str] = Counter()
    not_json = set()
    for path in sorted((reference_dir / "ooni" / "fastpath-samples").iterdir()):
        records = _records(path)
        if records is None:
            not_json.add(path.name)  # legacy YAML reports: not read, said so
            continue
        for record in records:
            try:
                classify(record)
                outcomes["judged"] += 1
            except Unsupported:
                outcomes["unsupported"] += 1
            except InvalidMeasurement:
                outcomes["invalid"] += 1
    assert not_json == NOT_JSON
    # Judged: 16 web_connectivity, whatsapp, telegram, 3 signal. Invalid: 911 detector rows
    # without test_keys, 1,849 fingerprint rows, one null test_keys.
    assert outcomes == {"judged": 21, "unsupported": 22, "invalid": 2761}


@pytest.mark.reference
def test_web_connectivity_agreement_with_ooni_blocking(reference_dir: Path) -> None:
    agree = 0
    disagreements = {}
    for path in sorted((reference_dir / "ooni" / "fastpath-samples").iterdir()):
        records = _records(path)
        if records is None or len(records) != 1 or not isinstance(records[0], dict):
            continue
        record = records[0]
        if record.get("test_name") != "web_connectivity":
            continue
        try:
            ours = classify(record).verdict
        except InvalidMeasurement:
            continue  # test_keys_none.json: nothing to agree on
        theirs = ooni_verdict(record["test_keys"])
        if ours == theirs:
            agree += 1
        else:
            disagreements[path.name] = (ours, theirs)
    assert disagreements == DOCUMENTED_DISAGREEMENTS
    assert agree == AGREEING


@pytest.mark.reference
def test_the_iranian_fingerprint_sample(reference_dir: Path) -> None:
    """web_connectivity_ir_fp: the probe resolved www.facebook.com to 10.10.34.36, the address
    of Iran's filtering portal (a shipped DNS fingerprint) in private space: blocked, a bogon
    answer, with the fingerprint as the rule."""
    path = reference_dir / "ooni" / "fastpath-samples" / "web_connectivity_ir_fp.json"
    c = classify(orjson.loads(path.read_bytes()))
    assert (c.verdict, c.technique, c.layers["dns"].rule) == (
        "blocked",
        "dns.bogon",
        "dns.fingerprint_address",
    )
