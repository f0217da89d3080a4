"""The facts table: one row per DNS answer, TCP connect, TLS or QUIC handshake, HTTP request
and throughput sample, the probe's and the control's, read from the bytes apart from the
verdicts; verdict rows say which classifier version and fingerprint set judged them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from reachwatch.classify import load_fingerprints
from reachwatch.cli import app
from reachwatch.ingest import classifier_version, fingerprints_sha256, ingest, rejudge
from reachwatch.store import FACT_OWN_COLUMNS, FACTS_COLUMNS, open_store

KINDS = (
    "dns_answer", "dns_failure", "tcp_connect", "tls_handshake", "http_request",
    "quic_handshake", "throughput_sample",
)  # fmt: skip
# Hand-written measurements with every kind of fact on both sides, and the facts written by
# hand that they must give (NULL columns left out): never generated.
HAND = Path(__file__).parent / "facts_hand"
GOLDEN = Path(__file__).parent / "facts_golden"
# Facts in the order they are read: the columns that say where each comes from.
_ORDER = f"side DESC, list_position({list(KINDS)}, kind), entry, ip"


def _query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(sql, list(params)).fetchall()
    finally:
        con.close()


def _facts(db: Path, measurement_id: str) -> list[dict[str, Any]]:
    """A measurement's facts from the store, their own columns only, None left out."""
    rows = _query(
        db,
        f"SELECT {', '.join(FACT_OWN_COLUMNS)} FROM facts WHERE measurement_id = ? "
        f"ORDER BY {_ORDER}",
        measurement_id,
    )
    return [
        {k: v for k, v in zip(FACT_OWN_COLUMNS, row, strict=True) if v is not None} for row in rows
    ]


def _sorted(facts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(
        facts, key=lambda f: (f["side"] != "probe", order[f["kind"]], f["entry"], f.get("ip", ""))
    )


def _case(folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    facts = orjson.loads((folder / "facts.json").read_bytes())
    return orjson.loads((folder / "measurement.json").read_bytes()), facts


def every_kind() -> dict[str, Any]:
    return _case(HAND / "every-kind")[0]


def every_kind_facts() -> list[dict[str, Any]]:
    return _case(HAND / "every-kind")[1]


def _ingest(tmp_path: Path, *records: dict[str, Any], name: str = "db") -> Path:
    corpus = tmp_path / f"{name}-corpus"
    corpus.mkdir()
    (corpus / "m.jsonl").write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    db = tmp_path / name
    summary = ingest([corpus], db)
    assert summary.stored == len(records), summary
    return db


def test_hand_written_measurements_give_exactly_the_expected_facts(tmp_path: Path) -> None:
    cases = [_case(folder) for folder in sorted(HAND.iterdir())]
    db = _ingest(tmp_path, *(record for record, _ in cases))
    for record, expected in cases:
        assert _facts(db, record["measurement_uid"]) == _sorted(expected)
    kinds = {(side, kind) for side, kind in _query(db, "SELECT side, kind FROM facts")}
    assert kinds == {(side, kind) for side in ("probe", "control") for kind in KINDS}
    # The columns a fact shares with its measurement are the measurement's.
    shared = [c for c in FACTS_COLUMNS if c not in FACT_OWN_COLUMNS]
    joined = _query(
        db,
        "SELECT count(*) FROM facts f JOIN measurements m USING (measurement_id) WHERE "
        + " AND ".join(f"f.{c} IS NOT DISTINCT FROM m.{c}" for c in shared),
    )
    assert joined == [(sum(len(expected) for _, expected in cases),)]


def test_verdict_rows_carry_the_classifier_version_and_the_fingerprint_hash(
    tmp_path: Path,
) -> None:
    tor = {**every_kind(), "measurement_uid": "not-classified", "test_name": "tor"}
    db = _ingest(tmp_path, every_kind(), tor)
    version, shipped = classifier_version(), fingerprints_sha256(load_fingerprints())
    assert version.startswith("0.1.0+rules.") and len(shipped) == 64
    rows = _query(
        db, "SELECT measurement_id, classifier_version, fingerprints_sha256 FROM measurements"
    )
    assert sorted(rows) == [("facts-every-kind", version, shipped), ("not-classified", None, None)]
    judged = _query(db, "SELECT DISTINCT classifier_version, fingerprints_sha256 FROM observations")
    assert judged == [(version, shipped)]
    # Facts are only read from measurements the classifier reads.
    assert _query(db, "SELECT DISTINCT measurement_id FROM facts") == [("facts-every-kind",)]

    shown = CliRunner().invoke(app, ["show", "facts-every-kind", "--db", str(db), "--json"])
    assert shown.exit_code == 0, shown.output
    doc = orjson.loads(shown.output)
    assert doc["measurement"]["classifier_version"] == version
    assert doc["measurement"]["fingerprints_sha256"] == shipped
    assert {o["classifier_version"] for o in doc["observations"]} == {version}
    assert [{k: v for k, v in f.items() if v is not None} for f in doc["facts"]] == _sorted(
        every_kind_facts()
    )
    human = CliRunner().invoke(app, ["show", "facts-every-kind", "--db", str(db)])
    assert human.exit_code == 0
    assert version in human.output and shipped in human.output
    assert "throughput_sample" in human.output and "quic_handshake" in human.output


def _dns_fingerprint(folder: Path, address: str) -> Path:
    """An OONI DNS fingerprint file that names `address` a block page's."""
    csv = folder / "dns.csv"
    csv.write_text(
        f"name,scope,location_found,pattern_type,pattern\nlab.portal,nat,dns,full,{address}\n"
    )
    return csv


def test_the_fingerprint_hash_follows_the_set_not_its_files(tmp_path: Path) -> None:
    shipped = load_fingerprints()
    other = load_fingerprints(ooni_dns=_dns_fingerprint(tmp_path, "192.0.2.7"))
    respaced = tmp_path / "dns2.csv"
    respaced.write_text(
        "pattern_type,name,pattern,scope,location_found\nfull,lab.portal,192.0.2.7,nat,dns\n"
    )
    assert fingerprints_sha256(shipped) == fingerprints_sha256(load_fingerprints())
    assert fingerprints_sha256(other) != fingerprints_sha256(shipped)
    assert fingerprints_sha256(load_fingerprints(ooni_dns=respaced)) == fingerprints_sha256(other)


def test_rejudge_after_a_fingerprint_change_records_the_new_hash_and_keeps_the_facts(
    tmp_path: Path,
) -> None:
    record = every_kind()
    lab = load_fingerprints(ooni_dns=_dns_fingerprint(tmp_path, "104.244.42.2"))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "m.jsonl").write_bytes(orjson.dumps(record) + b"\n")
    db = tmp_path / "db"
    ingest([corpus], db, fingerprints=lab)
    every = "SELECT * FROM facts ORDER BY ALL"
    facts_before = _query(db, every)
    files_before = sorted((db / "parquet" / "facts").rglob("*.parquet"))
    hashes = "SELECT DISTINCT fingerprints_sha256 FROM {}"
    assert _query(db, hashes.format("measurements")) == [(fingerprints_sha256(lab),)]

    summary = rejudge(db)
    shipped = fingerprints_sha256(load_fingerprints())
    assert summary.fingerprints_sha256 == shipped != fingerprints_sha256(lab)
    assert summary.classifier_version == classifier_version() and summary.facts_added == 0
    for table in ("measurements", "observations"):
        assert _query(db, hashes.format(table)) == [(shipped,)]
    assert _query(db, every) == facts_before
    assert sorted((db / "parquet" / "facts").rglob("*.parquet")) == files_before
    manifest = [orjson.loads(line) for line in (db / "manifest.jsonl").read_bytes().splitlines()]
    assert "facts" not in manifest[-1]["files"]
    assert not any("/facts/" in name for name in manifest[-1]["supersedes"])
    check = CliRunner().invoke(app, ["store", "check", "--db", str(db), "--json"])
    assert check.exit_code == 0, check.output
    assert orjson.loads(check.output)["rows"]["facts"] == len(facts_before)
    # A lost manifest is rebuilt with the facts files, and without the replaced verdicts.
    (db / "manifest.jsonl").unlink()
    repair = CliRunner().invoke(app, ["store", "repair", "--db", str(db), "--json"])
    assert repair.exit_code == 0, repair.output
    assert orjson.loads(repair.output)["rows"]["facts"] == len(facts_before)
    assert _query(db, every) == facts_before
    for table in ("measurements", "observations"):
        assert _query(db, hashes.format(table)) == [(shipped,)]


def _as_stored_before_facts(db: Path) -> None:
    """Make `db` what a reachwatch without facts or verdict provenance wrote: no facts files,
    measurements and observations files without those columns, manifest lines without the
    per-file checks (as older lines are)."""
    lines = [orjson.loads(line) for line in (db / "manifest.jsonl").read_bytes().splitlines()]
    for line in lines:
        for name in line["files"].pop("facts", []):
            (db / name).unlink()
        line.pop("checks", None)
        for table in ("measurements", "observations"):
            for name in line["files"].get(table, []):
                old = pq.read_table(db / name)
                old = old.drop_columns(["classifier_version", "fingerprints_sha256"])
                pq.write_table(old, db / name, compression="zstd")
    (db / "manifest.jsonl").write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))


def test_a_store_from_before_facts_reads_and_rejudge_fills_it_in(tmp_path: Path) -> None:
    records = [_case(folder)[0] for folder in sorted(HAND.iterdir())]
    fresh = _ingest(tmp_path, *records, name="fresh")
    old = _ingest(tmp_path, *records, name="old")
    _as_stored_before_facts(old)
    assert _query(old, "SELECT count(*) FROM facts") == [(0,)]
    assert _query(old, "SELECT DISTINCT classifier_version FROM measurements") == [(None,)]
    assert _query(old, "SELECT DISTINCT fingerprints_sha256 FROM observations") == [(None,)]
    shown = CliRunner().invoke(app, ["show", "facts-every-kind", "--db", str(old), "--json"])
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.output)["facts"] == []
    assert CliRunner().invoke(app, ["store", "check", "--db", str(old)]).exit_code == 0

    result = CliRunner().invoke(app, ["rejudge", "--db", str(old), "--json"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.output)
    every = "SELECT * FROM facts ORDER BY ALL"
    assert doc["facts_added"] == len(_query(fresh, every)) > 0
    assert _query(old, every) == _query(fresh, every)
    provenance = (
        "SELECT measurement_id, classifier_version, fingerprints_sha256 FROM {} ORDER BY ALL"
    )
    for table in ("measurements", "observations"):
        assert _query(old, provenance.format(table)) == _query(fresh, provenance.format(table))
    # Once filled in, facts are not read again.
    assert rejudge(old).facts_added == 0
    assert _query(old, every) == _query(fresh, every)


@pytest.mark.reference
def test_every_fact_kind_appears_on_the_reference_corpus(
    tmp_path: Path, reference_dir: Path
) -> None:
    """OONI's measurements carry every kind but two: QUIC handshakes and throughput samples
    are reachwatch's own keys (x_quic_handshakes, x_throughput), which no OONI measurement
    has; the corpus is checked to hold none, and the hand-written test above covers them."""
    ooni = reference_dir / "ooni"
    db = tmp_path / "db"
    ingest([ooni], db)
    found = set(_query(db, "SELECT side, kind FROM facts"))
    ooni_kinds = KINDS[:5]
    assert {(s, k) for s in ("probe", "control") for k in ooni_kinds} <= found
    assert not {k for _, k in found} - set(ooni_kinds)
    for path in ooni.rglob("*.json*"):
        data = path.read_bytes()
        assert b'"x_quic_handshakes"' not in data and b'"x_throughput"' not in data
    # Every entry of the measurements is a fact: counted from the stored bytes themselves.
    expected = {"tcp_connect": 0, "tls_handshake": 0, "http_request": 0, "control_tcp": 0}
    for (data,) in _query(
        db, "SELECT e.bytes FROM evidence e JOIN facts USING (measurement_id) GROUP BY e.bytes"
    ):
        tk = orjson.loads(data)["test_keys"]
        expected["tcp_connect"] += len(tk.get("tcp_connect") or [])
        expected["tls_handshake"] += len(tk.get("tls_handshakes") or [])
        expected["http_request"] += len(tk.get("requests") or []) or bool(
            tk.get("http_experiment_failure") and not tk.get("requests")
        )
        control = tk.get("control") or {}
        expected["control_tcp"] += len(control.get("tcp_connect") or {})
    counted = dict(
        _query(
            db,
            "SELECT CASE WHEN side = 'control' AND kind = 'tcp_connect' THEN 'control_tcp' "
            "ELSE kind END, count(*) FROM facts WHERE side = 'probe' OR kind = 'tcp_connect' "
            "GROUP BY 1",
        )
    )
    assert {k: counted.get(k, 0) for k in expected} == expected
    assert min(expected.values()) > 0


# Golden files, in the spirit of OONI's minipipeline test data: each case folder holds a
# measurement and the facts it must give (columns that are NULL left out), as JSON.
# REACHWATCH_UPDATE_GOLDEN=1 writes them anew; a change then shows in the diff for review.
@pytest.mark.parametrize("case", sorted(p.name for p in GOLDEN.iterdir() if p.is_dir()))
def test_golden_facts(tmp_path: Path, case: str) -> None:
    folder = GOLDEN / case
    record = orjson.loads((folder / "measurement.json").read_bytes())
    db = _ingest(tmp_path, record)
    (measurement_id,) = _query(db, "SELECT measurement_id FROM measurements")[0]
    got = _facts(db, measurement_id)
    expected_file = folder / "facts.json"
    if os.environ.get("REACHWATCH_UPDATE_GOLDEN"):
        expected_file.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    assert got == orjson.loads(expected_file.read_bytes())
    assert got, "a golden case with no fact checks nothing"


def test_golden_cases_are_there() -> None:
    cases = [p for p in GOLDEN.iterdir() if p.is_dir()]
    assert len(cases) >= 4
    assert all((case / "facts.json").is_file() for case in cases)
