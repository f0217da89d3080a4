"""A store damaged every way the manifest and files can be: nothing is deleted, every reader
and writer says what is wrong in one line, and `store repair` makes the store whole again."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from reachwatch.cli import app
from reachwatch.store import open_store

Damage = Callable[[Path], None]


def _cli(*args: str) -> Result:
    return CliRunner().invoke(app, list(args), prog_name="reachwatch")


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "ingest.lock"
    }


def _measurements(db: Path) -> set[str]:
    con = open_store(db, read_only=True)
    try:
        return {row[0] for row in con.execute("SELECT measurement_id FROM measurements").fetchall()}
    finally:
        con.close()


@pytest.fixture
def store(tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]) -> tuple[Path, Path]:
    """A store of 40 measurements on 4 days in several batches, and the corpus it came from."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for day in range(4):
        lines = [
            orjson.dumps(
                make_measurement(
                    f"d{day}-{i}", url=f"https://x.com/{i}", start=f"2024-02-1{day} 10:00:{i:02d}"
                )
            )
            for i in range(10)
        ]
        (corpus / f"day{day}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "db"
    result = _cli("ingest", str(corpus), "--db", str(db), "--batch-size", "15")
    assert result.exit_code == 0, result.output
    return db, corpus


def _measurement_files(db: Path) -> list[Path]:
    return sorted((db / "parquet" / "measurements").rglob("*.parquet"))


def _missing(db: Path) -> None:
    (db / "manifest.jsonl").unlink()


def _empty(db: Path) -> None:
    (db / "manifest.jsonl").write_bytes(b"")


def _cut_mid_line(db: Path) -> None:
    data = (db / "manifest.jsonl").read_bytes()
    (db / "manifest.jsonl").write_bytes(data[: len(data) - 40])


def _cut_last_newline(db: Path) -> None:
    data = (db / "manifest.jsonl").read_bytes()
    (db / "manifest.jsonl").write_bytes(data[:-1])


def _cut_whole_lines(db: Path) -> None:
    lines = (db / "manifest.jsonl").read_bytes().splitlines(keepends=True)
    (db / "manifest.jsonl").write_bytes(b"".join(lines[:1]))


def _parquet_flipped(db: Path) -> None:
    path = _measurement_files(db)[0]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _parquet_cut(db: Path) -> None:
    path = _measurement_files(db)[0]
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


DAMAGE: dict[str, tuple[Damage, str]] = {
    "manifest missing": (_missing, "manifest.jsonl is missing"),
    "manifest empty": (_empty, "manifest.jsonl is empty"),
    "manifest cut mid-line": (_cut_mid_line, "cut line"),
    "manifest without its last newline": (_cut_last_newline, "cut line"),
    "manifest cut at a line end": (_cut_whole_lines, "names none of them"),
    "parquet file cut": (_parquet_cut, "bytes, the manifest recorded"),
}


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_store_is_refused_unchanged_and_repair_restores_it(
    store: tuple[Path, Path], kind: str
) -> None:
    db, corpus = store
    stored = _measurements(db)
    assert len(stored) == 40
    damage, why = DAMAGE[kind]
    damage(db)
    before = _files(db)
    # Every reader and the writer refuse, in one line naming the damage and the way out.
    for args in (
        ("ingest", str(corpus), "--db", str(db)),
        ("detect", "--db", str(db)),
        ("case", "check", "pk-x-2024", "--db", str(db)),
        ("show", "d0-0", "--db", str(db)),
    ):
        result = _cli(*args)
        assert result.exit_code != 0, (args, result.output)
        message = result.output.strip()
        assert len(message.splitlines()) == 1, message
        assert "store damaged" in message and why in message, message
        assert "store repair" in message or "store check" in message
    check = _cli("store", "check", "--db", str(db))
    assert check.exit_code == 1 and "damaged:" in check.output
    assert _files(db) == before  # nothing deleted, nothing changed
    repair = _cli("store", "repair", "--db", str(db))
    assert repair.exit_code == 0, repair.output
    after = _files(db)
    for name, data in before.items():  # still there, moved aside at most (the manifest)
        assert after.get(name) == data or any(
            other.endswith("/" + name) and value == data for other, value in after.items()
        ), name
    assert _cli("store", "check", "--db", str(db)).exit_code == 0
    assert _cli("detect", "--db", str(db), "--json").exit_code == 0
    readable = _measurements(db)
    assert readable <= stored
    # What a cut file held is left out (the file stays on disk); ingesting the corpus again
    # puts it back, so the store ends whole.
    again = _cli("ingest", str(corpus), "--db", str(db), "--json")
    assert again.exit_code == 0, again.output
    assert orjson.loads(again.output)["stored"] == len(stored - readable)
    assert _measurements(db) == stored


def test_flipped_byte_in_a_committed_file_is_found_by_check_and_left_out_by_repair(
    store: tuple[Path, Path],
) -> None:
    db, corpus = store
    stored = _measurements(db)
    flipped = _measurement_files(db)[0]
    _parquet_flipped(db)
    before = _files(db)
    check = _cli("store", "check", "--db", str(db), "--json")
    assert check.exit_code == 1
    problems = orjson.loads(check.output)["problems"]
    assert any(str(flipped.relative_to(db)) in p and "SHA-256" in p for p in problems), problems
    repair = orjson.loads(_cli("store", "repair", "--db", str(db), "--json").output)
    assert [entry["file"] for entry in repair["left_out"]] == [str(flipped.relative_to(db))]
    moved = Path(repair["moved_aside"]) / flipped.relative_to(db)
    assert moved.read_bytes() == before[str(flipped.relative_to(db))]
    assert _cli("store", "check", "--db", str(db)).exit_code == 0
    again = orjson.loads(_cli("ingest", str(corpus), "--db", str(db), "--json").output)
    assert again["stored"] > 0
    assert _measurements(db) == stored


def test_foreign_files_are_never_touched_and_do_not_stop_readers(
    store: tuple[Path, Path],
) -> None:
    db, corpus = store
    stored = _measurements(db)
    mine = [
        db / "parquet" / "notes.txt",
        db / "parquet" / "measurements" / "important.parquet",
        db / "my-analysis.csv",
    ]
    for path in mine:
        path.write_bytes(b"the user's own " + path.name.encode())
    before = _files(db)
    assert _cli("ingest", str(corpus), "--db", str(db)).exit_code == 0
    assert _cli("detect", "--db", str(db)).exit_code == 0
    check = _cli("store", "check", "--db", str(db))
    assert check.exit_code == 0 and "not the store's" in check.output
    assert _cli("store", "repair", "--db", str(db)).exit_code == 0
    after = _files(db)
    assert all(after[str(path.relative_to(db))] == before[str(path.relative_to(db))]
               for path in mine)  # fmt: skip
    assert _measurements(db) == stored


@pytest.mark.parametrize("layout", ["parquet-subfolder", "plain-folder"])
def test_ingest_and_readers_refuse_a_folder_that_is_not_a_store(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]], layout: str
) -> None:
    folder = tmp_path / "folder"
    (folder / "parquet").mkdir(parents=True)
    own = {
        folder / "parquet" / "important.parquet": b"PAR1 mine",
        folder / "parquet" / "notes.txt": b"notes",
        folder / "report.txt": b"a report",
    }
    if layout == "plain-folder":
        own = {folder / "report.txt": b"a report"}
        (folder / "parquet").rmdir()
    for path, data in own.items():
        path.write_bytes(data)
    source = tmp_path / "m.jsonl"
    source.write_bytes(orjson.dumps(make_measurement("u1")) + b"\n")
    for args in (
        ("ingest", str(source), "--db", str(folder)),
        ("detect", "--db", str(folder)),
        ("case", "check", "pk-x-2024", "--db", str(folder)),
        ("show", "u1", "--db", str(folder)),
        ("store", "check", "--db", str(folder)),
    ):
        result = _cli(*args)
        assert result.exit_code != 0, (args, result.output)
        assert "not a reachwatch store" in result.output, result.output
    assert {p: p.read_bytes() for p in own} == own
    expected = {p.name for p in own} | ({"parquet"} if layout == "parquet-subfolder" else set())
    assert {p.name for p in folder.rglob("*")} == expected  # nothing added either


def test_a_store_is_created_in_a_new_or_empty_folder_only(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    source = tmp_path / "m.jsonl"
    source.write_bytes(orjson.dumps(make_measurement("u1")) + b"\n")
    (tmp_path / "empty").mkdir()
    for db in (tmp_path / "new" / "db", tmp_path / "empty"):
        assert _cli("ingest", str(source), "--db", str(db)).exit_code == 0
        assert (db / "store.json").is_file()
        assert _cli("detect", "--db", str(db)).exit_code == 0
    # The store's parent is no store: a reader pointed there says so, not "nothing blocked".
    result = _cli("detect", "--db", str(tmp_path / "new"))
    assert result.exit_code != 0 and "not a reachwatch store" in result.output
    assert os.listdir(tmp_path / "new") == ["db"]
