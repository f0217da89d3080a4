"""The store: views match the schema contract, batches commit atomically, writers exclude."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from reachwatch.store import TABLES, StoreError, StoreWriter, id_hash, open_store
from reachwatch.store._layout import write_journal


def _measurement(i: int, cc: str = "PK") -> tuple[object, ...]:
    t = dt.datetime(2024, 2, 17, 10, 0, i)
    return (
        f"m{i}", "ooni", "web_connectivity", "https://x.com/", "x.com", "x", cc, "AS17557",
        t, t.date(), "blocked", "tls.reset", True, False, "a.jsonl", i + 1, "0.1.0+rules.x",
        "ab" * 32,
    )  # fmt: skip


def _observation(i: int) -> tuple[object, ...]:
    t = dt.datetime(2024, 2, 17, 10, 0, i)
    return (
        f"m{i}", "PK", "AS17557", t, t.date(), "x", "x.com", "104.244.42.1", "tls",
        "blocked", "tls.reset_after_hello", "tls.reset", "connection_reset", 1.0, 0.0, 0.0, False,
        "0.1.0+rules.x", "ab" * 32,
    )  # fmt: skip


def _count(db: Path, table: str) -> int:
    con = open_store(db, read_only=True)
    try:
        row = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert row is not None
        return int(row[0])
    finally:
        con.close()


def test_empty_store_has_every_view_with_the_contract_columns(tmp_path: Path) -> None:
    con = open_store(tmp_path / "db")
    for table, columns in TABLES.items():
        described = con.execute(f"DESCRIBE {table}").fetchall()
        assert [(r[0], r[1]) for r in described] == list(columns.items())
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
    con.close()


def test_rows_round_trip_with_partitioned_layout(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        for i in range(3):
            writer.add(id_hash(f"m{i}"), "2024-02-17", "PK", _measurement(i), [_observation(i)])
        writer.add(id_hash("m9"), "2024-02-17", "IT", _measurement(9, "IT"))
    con = open_store(db, read_only=True)
    rows = con.execute(
        "SELECT probe_cc, count(*) FROM measurements GROUP BY probe_cc ORDER BY 1"
    ).fetchall()
    assert rows == [("IT", 1), ("PK", 3)]
    obs = con.execute("SELECT layer, verdict, loni_blocked FROM observations").fetchall()
    assert obs == [("tls", "blocked", 1.0)] * 3
    files = sorted(p.relative_to(db).parts[:4] for p in (db / "parquet").rglob("*.parquet"))
    assert ("parquet", "measurements", "date=2024-02-17", "cc=IT") in files
    assert ("parquet", "observations", "date=2024-02-17", "cc=PK") in files


def test_writer_remembers_stored_ids_across_runs(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
        assert writer.holds(id_hash("m1"))  # pending counts as held
    with StoreWriter(db) as writer:
        assert writer.holds(id_hash("m1"))
        assert not writer.holds(id_hash("m2"))


def test_an_interrupted_commit_is_undone_and_nothing_else_is_touched(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
    committed = next((db / "parquet").rglob("*.parquet"))
    # What a kill mid-commit leaves: the journal, its renamed and temporary files, the line
    # it was appending cut short.
    name = "parquet/measurements/date=2024-02-17/cc=PK/part-000002-deadbeef.parquet"
    line = b'{"batch": 2, "files": {"measurements": ["' + name.encode() + b'"]}}'
    write_journal(db, [name], line)
    (db / name).write_bytes(committed.read_bytes())
    (db / (name + ".tmp")).write_bytes(b"PAR1")
    with (db / "manifest.jsonl").open("ab") as fh:
        fh.write(line[:30])
    notes = committed.parent / "notes.txt"  # a file the store did not write
    notes.write_text("mine")
    assert _count(db, "measurements") == 1  # readers see the commit is in progress
    with StoreWriter(db) as writer:
        writer.add(id_hash("m2"), "2024-02-17", "PK", _measurement(2))
    assert not (db / name).exists()
    assert not (db / (name + ".tmp")).exists()
    assert not (db / "commit.journal").exists()
    assert notes.read_text() == "mine"
    assert committed.exists()
    assert _count(db, "measurements") == 2


def test_second_writer_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db), pytest.raises(StoreError, match="another ingest"):
        StoreWriter(db)


def test_reader_works_while_a_writer_holds_the_store(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
        writer.commit()
        assert _count(db, "measurements") == 1


def test_a_file_is_not_a_store(tmp_path: Path) -> None:
    path = tmp_path / "db"
    path.write_text("not a folder")
    with pytest.raises(StoreError, match="not a reachwatch store"):
        open_store(path)


def test_writable_connection_keeps_a_readers_own_tables(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
    con = open_store(db)
    con.execute("CREATE TABLE incidents AS SELECT measurement_id FROM measurements")
    con.close()
    again = open_store(db, read_only=True)
    assert again.execute("SELECT * FROM incidents").fetchall() == [("m1",)]
    again.close()


def test_missing_committed_file_is_a_user_error(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
    next((db / "parquet" / "measurements").rglob("*.parquet")).unlink()
    with pytest.raises(StoreError, match="store damaged"):
        StoreWriter(db)
    with pytest.raises(StoreError, match="store damaged"):
        open_store(db, read_only=True)


@pytest.mark.parametrize(
    "line",
    [
        b"\x00\xff garbage that is not JSON",
        b'["a list"]',
        b'{"batch": 1, "files": {"measurements": "parquet/a.parquet"}}',
        b'{"batch": 1, "files": {"measurements": ["../../outside.parquet"]}}',
    ],
)
def test_damaged_manifest_line_is_refused_and_nothing_is_deleted(
    tmp_path: Path, line: bytes
) -> None:
    # Only a torn last append (no newline) may be dropped; a complete line that cannot be
    # read would otherwise make a writer truncate the manifest and delete committed files.
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add(id_hash("m1"), "2024-02-17", "PK", _measurement(1))
    manifest = db / "manifest.jsonl"
    damaged = line + b"\n" + manifest.read_bytes()
    manifest.write_bytes(damaged)
    files = sorted((db / "parquet").rglob("*.parquet"))
    with pytest.raises(StoreError, match=r"store damaged \(manifest.jsonl line 1 "):
        StoreWriter(db)
    with pytest.raises(StoreError, match="store damaged"):
        open_store(db, read_only=True)
    assert manifest.read_bytes() == damaged
    assert sorted((db / "parquet").rglob("*.parquet")) == files


def test_store_of_a_newer_layout_is_refused_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "db"
    db.mkdir()
    line = b'{"batch": 1, "layout": 2, "files": {"measurements": ["parquet/m/a.parquet"]}}\n'
    (db / "manifest.jsonl").write_bytes(line)
    with pytest.raises(StoreError, match="another reachwatch version"):
        StoreWriter(db)
    with pytest.raises(StoreError, match="another reachwatch version"):
        open_store(db, read_only=True)
    assert (db / "manifest.jsonl").read_bytes() == line


def test_reading_a_store_that_does_not_exist_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no store here"):
        open_store(tmp_path / "typo", read_only=True)
    assert not (tmp_path / "typo").exists()
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="not a reachwatch store"):  # an empty folder is not one
        open_store(tmp_path / "empty", read_only=True)
    open_store(tmp_path / "empty").close()  # a writable open makes it one
    con = open_store(tmp_path / "empty", read_only=True)
    assert con.execute("SELECT count(*) FROM measurements").fetchone() == (0,)
    con.close()
