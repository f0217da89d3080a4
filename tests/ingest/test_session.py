"""IngestSession (what `serve` feeds measurements through) takes a record as ingest takes a
file's: the same answers, the same rows, each record counted once."""

from __future__ import annotations

from pathlib import Path

import orjson
from tests.ingest.conftest import web_connectivity

from reachwatch.ingest import DUPLICATE, STORED, IngestSession, ingest
from reachwatch.store import StoreWriter, open_store


def _rows(db: Path, table: str) -> list[tuple[object, ...]]:
    con = open_store(db, read_only=True)
    try:
        columns = "* EXCLUDE (source_file)" if table == "measurements" else "*"
        return sorted(con.execute(f"SELECT {columns} FROM {table}").fetchall(), key=repr)
    finally:
        con.close()


def test_a_session_stores_counts_and_refuses_as_ingest_does(tmp_path: Path) -> None:
    records = [
        orjson.dumps(web_connectivity("u1")),
        orjson.dumps(web_connectivity("u2", reset=False)),
        orjson.dumps(web_connectivity("u1")),  # the same measurement again
        b"[1, 2]",  # JSON, not a measurement
        b'{"cut": ',  # not JSON
    ]
    session_db = tmp_path / "session"
    with StoreWriter(session_db) as writer:
        session = IngestSession(writer)
        answers = [session.take("feed", n + 1, raw) for n, raw in enumerate(records)]
        session.commit()
        summary = session.summary()
        session.close()
    assert answers == [STORED, STORED, DUPLICATE, "not_an_object", "invalid_json"]
    assert (summary.stored, summary.duplicates) == (2, 1)
    # Each record that is JSON counted once (not_an_object included; invalid JSON is not).
    assert summary.bytes_read == sum(len(raw) for raw in records[:4])

    corpus = tmp_path / "feed.jsonl"
    corpus.write_bytes(b"\n".join(records) + b"\n")
    file_db = tmp_path / "file"
    by_file = ingest([corpus], file_db, jobs=1)
    assert (by_file.stored, by_file.duplicates) == (2, 1)
    assert by_file.bytes_read == summary.bytes_read
    for table in ("measurements", "observations", "facts", "evidence"):
        assert _rows(session_db, table) == _rows(file_db, table), table
