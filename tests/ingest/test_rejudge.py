"""`reachwatch rejudge`: verdicts again from the bytes in the store, after a fingerprint
change, without the corpus files; readers see the old verdicts or the new, never both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.classify import load_fingerprints
from reachwatch.cli import app
from reachwatch.ingest import ingest, rejudge
from reachwatch.store import open_store


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_rejudge_follows_a_fingerprint_change_from_the_stored_bytes_alone(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = []
    for day in (16, 17, 18):
        m = make_measurement(f"d{day}", reset=False, start=f"2024-02-{day} 10:00:00")
        m["test_keys"]["queries"][0]["answers"] = [{"answer_type": "A", "ipv4": "93.184.216.34"}]
        lines.append(orjson.dumps(m))
    (corpus / "a.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    csv = tmp_path / "dns.csv"
    csv.write_text(
        "name,scope,location_found,pattern_type,pattern\nlab.portal,nat,dns,full,93.184.216.34\n"
    )
    db = tmp_path / "db"
    ingest([corpus], db, fingerprints=load_fingerprints(ooni_dns=csv))
    dns = "SELECT measurement_id, rule FROM observations WHERE layer = 'dns' ORDER BY 1"
    assert {rule for _, rule in _rows(db, dns)} == {"dns.fingerprint_address"}
    (corpus / "a.jsonl").unlink()  # rejudge never needs the corpus

    summary = rejudge(db, since=date(2024, 2, 17))  # the shipped fingerprints
    assert (summary.measurements, summary.rejudged, summary.kept) == (2, 2, 0)
    after = dict(_rows(db, dns))
    assert after["d16"] == "dns.fingerprint_address"  # before --since: untouched
    assert after["d17"] != "dns.fingerprint_address" and after["d18"] == after["d17"]
    # One row per measurement still: the replaced files are out of view, and on disk.
    ids = "SELECT measurement_id, count(*) FROM measurements GROUP BY 1 ORDER BY 1"
    assert _rows(db, ids) == [("d16", 1), ("d17", 1), ("d18", 1)]
    check = CliRunner().invoke(app, ["store", "check", "--db", str(db)])
    assert check.exit_code == 0 and "replaced by `reachwatch rejudge`" in check.output

    result = CliRunner().invoke(app, ["rejudge", "--db", str(db), "--json"])
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.output)
    assert (doc["measurements"], doc["rejudged"], doc["changed"]) == (3, 3, 1)
    assert len(set(dict(_rows(db, dns)).values())) == 1
    # A lost manifest is rebuilt without bringing the replaced rows back.
    (db / "manifest.jsonl").unlink()
    assert CliRunner().invoke(app, ["store", "repair", "--db", str(db)]).exit_code == 0
    assert _rows(db, ids) == [("d16", 1), ("d17", 1), ("d18", 1)]
    assert len(set(dict(_rows(db, dns)).values())) == 1
