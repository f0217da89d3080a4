"""Every file of the real corpora is ingested or rejected with a reason; none stops the run.

The counts are the ones observed on the reference corpus, asserted exactly so that a change
in what is read, stored or rejected shows up here.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from reachwatch.ingest import IngestSummary, ingest
from reachwatch.store import open_store


def _accounted_files(db: Path, summary: IngestSummary) -> tuple[set[str], set[str]]:
    """(files with stored measurements, files with quarantined records), by name."""
    con = open_store(db, read_only=True)
    try:
        rows = con.execute("SELECT DISTINCT source_file FROM measurements").fetchall()
    finally:
        con.close()
    stored = {Path(row[0]).name for row in rows}
    entries = [orjson.loads(line) for line in summary.quarantine_file.read_bytes().splitlines()]
    assert all(e["reason"] and isinstance(e["line"], int) for e in entries)
    return stored, {Path(e["file"]).name for e in entries}


def _tests(db: Path) -> dict[tuple[str, bool], int]:
    con = open_store(db, read_only=True)
    try:
        rows = con.execute(
            "SELECT test_name, classified, count(*) FROM measurements GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    return {(row[0], row[1]): row[2] for row in rows}


@pytest.mark.reference
def test_ooni_fastpath_samples(reference_dir: Path, tmp_path: Path) -> None:
    folder = reference_dir / "ooni" / "fastpath-samples"
    summary = ingest([folder], tmp_path / "db")
    assert summary.files == 50
    # 3 of the stored are legacy YAML reports (ooniprobe 1.x), converted and kept raw.
    assert (summary.stored, summary.duplicates, summary.unsupported) == (43, 2, 25)
    assert summary.quarantined == {
        "missing_key": 911,  # detector_query_ww_BR_2018.json: rows of a query, no test_keys
        "not_a_measurement": 1849,  # fingerprints_dns.json (150) + fingerprints_http.json
        "null_test_keys": 1,  # test_keys_none.json
        "unsupported_file_type": 1,  # report1.json.pretty
    }
    stored, quarantined = _accounted_files(tmp_path / "db", summary)
    every = {p.name for p in folder.iterdir()}
    # Every file is accounted for: stored, or named in the quarantine file with a reason.
    assert every - stored - quarantined == set()
    # The two "blocked" copies repeat report1/report2's measurement (same report, input and
    # start time): the first is stored, the copies are named as duplicates.
    entries = [orjson.loads(line) for line in summary.quarantine_file.read_bytes().splitlines()]
    duplicates = sorted(Path(e["file"]).name for e in entries if e["reason"] == "duplicate")
    assert duplicates == ["report1blocked.json", "report2blocked.json"]
    tests = _tests(tmp_path / "db")
    assert tests[("web_connectivity", True)] == 13
    assert tests[("signal", True)] == 3
    assert tests[("whatsapp", True)] == 1 and tests[("telegram", True)] == 1
    assert tests[("tor", False)] == 2  # a test the classifier does not judge: kept raw
    assert tests[("dns_n_http", False)] == 1  # from dns_n_http_bin_body.yaml
    assert tests[("http_requests", False)] == 3  # two JSON, one YAML (binary_city.yaml)
    assert sum(n for (_name, classified), n in tests.items() if not classified) == 25


@pytest.mark.reference
def test_censoredplanet_samples(reference_dir: Path, tmp_path: Path) -> None:
    folder = reference_dir / "censoredplanet"
    summary = ingest([folder], tmp_path / "db")
    assert summary.files == 29
    assert (summary.stored, summary.duplicates, summary.unsupported) == (48, 0, 0)
    assert summary.quarantined == {
        "invalid_json": 1,  # invalid_results.json, line 1
        "truncated_line": 1,  # invalid_results.json, line 2 (no newline at the end)
        "not_a_measurement": 1173,  # resolver lists, tags, blockpage captures, signatures
        "unsupported_file_type": 3,  # two CSVs of expected sizes, long_blockpage.html
        "unsupported_format": 4,  # Satellite v1 interference.json
    }
    stored, quarantined = _accounted_files(tmp_path / "db", summary)
    every = {p.name for p in folder.rglob("*") if p.is_file()}
    assert every == stored | quarantined
    tests = _tests(tmp_path / "db")
    assert tests == {
        ("hyperquack_discard", True): 8,
        ("hyperquack_echo", True): 8,
        ("hyperquack_http", True): 8,
        ("hyperquack_https", True): 8,
        ("satellite", True): 16,
    }


@pytest.mark.reference
def test_minipipeline_measurements_are_stored_with_observations(
    reference_dir: Path, tmp_path: Path
) -> None:
    folder = reference_dir / "ooni" / "minipipeline-manual"
    paths = sorted(folder.glob("*/measurement.json"))
    summary = ingest(paths, tmp_path / "db")
    assert (summary.stored, summary.quarantined) == (len(paths), {})
    con = open_store(tmp_path / "db", read_only=True)
    try:
        per = con.execute(
            "SELECT m.measurement_id, count(o.layer) FROM measurements m "
            "LEFT JOIN observations o USING (measurement_id) GROUP BY ALL"
        ).fetchall()
    finally:
        con.close()
    assert len(per) == len(paths) and all(count > 0 for _id, count in per)
