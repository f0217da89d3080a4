"""Rows built in chunks where they are judged (ChunkBuilder) and picked by the writer
(StoreWriter.add_from) are stored exactly as rows added one by one are: the same rows, the
same batches, in the order they were given, with or without a trip between processes."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from tests.store.test_writer_rows import _fact, _measurement, _own

from reachwatch.store import ChunkBuilder, RowChunk, StoreWriter, id_hash, open_store

_DATES = ("2024-02-17", "2024-02-18")


def _item(i: int) -> dict[str, Any]:
    """Measurement i: spread over three countries and two days, every tenth kept raw, with a
    varying number of observations and facts, and its own bytes."""
    cc = ("PK", "IT", "ZZ")[i % 3]
    date = _DATES[(i // 3) % 2]
    row = _measurement(i, cc)
    evidence = orjson.dumps({"i": i, "pad": "x" * (i * 37 % 900)})
    if i % 10 == 9:
        raw = (row[0], "ooni", "tor", cc, row[8], row[9], "a.jsonl", i + 1, evidence.decode())
        return {"kind": "raw", "date": date, "cc": cc, "row": row, "raw": raw, "bytes": evidence}
    own = [_own(i, k) for k in range(i % 4)]
    facts = [value for k in range(i % 5) for value in _fact(i, k)]
    return {"kind": "observed", "date": date, "cc": cc, "row": row, "own": own,
            "facts": facts, "bytes": evidence}  # fmt: skip


def _add_one_by_one(writer: StoreWriter, item: dict[str, Any]) -> None:
    digest = id_hash(item["row"][0])
    if item["kind"] == "raw":
        writer.add(digest, item["date"], item["cc"], item["row"], raw=item["raw"],
                   size=len(item["bytes"]), evidence=item["bytes"])  # fmt: skip
    else:
        writer.add_observed(digest, item["date"], item["cc"], item["row"], item["own"],
                            item["bytes"], item["facts"])  # fmt: skip


def _built(items: list[dict[str, Any]], sha256: bool) -> RowChunk:
    builder = ChunkBuilder()
    for n, item in enumerate(items):
        digest = id_hash(item["row"][0])
        given = hashlib.sha256(item["bytes"]).hexdigest() if sha256 else None
        if item["kind"] == "raw":
            at = builder.add_raw(digest, item["date"], item["cc"], item["row"], item["raw"],
                                 len(item["bytes"]), item["bytes"], given)  # fmt: skip
        else:
            at = builder.add_observed(digest, item["date"], item["cc"], item["row"], item["own"],
                                      item["bytes"], item["facts"], given)  # fmt: skip
        assert at == n
    return builder.build()


def _sent(chunk: RowChunk) -> RowChunk:
    """The chunk as another process gets it."""
    head = b"head"
    data = chunk.encode(head)
    assert bytes(data[: len(head)]) == head
    return RowChunk.decode(memoryview(bytes(data))[len(head) :])


def _store(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every table's rows, in the order of the files' commits and of the rows in each file,
    and each batch's measurement count."""
    lines = [orjson.loads(line) for line in (db / "manifest.jsonl").read_bytes().splitlines()]
    tables: dict[str, list[tuple[Any, ...]]] = {"batches": [(b["measurements"],) for b in lines]}
    con = open_store(db, read_only=True)
    try:
        for table in ("measurements", "observations", "facts", "raw", "evidence"):
            tables[table] = []
            for line in lines:
                for name in sorted(line["files"].get(table, [])):
                    tables[table] += con.execute(
                        f"SELECT * FROM read_parquet('{db / name}')"
                    ).fetchall()
    finally:
        con.close()
    return tables


def _every(i: int) -> bool:
    return True


def _with_gaps(i: int) -> bool:
    return i % 4 != 1 and i % 11 != 3


# Which measurements the writer takes: all, or with gaps (those it holds already).
_TAKEN: dict[str, Callable[[int], bool]] = {"all": _every, "gaps": _with_gaps}


@pytest.mark.parametrize("batch_size", [17, 100_000])
@pytest.mark.parametrize("taken", sorted(_TAKEN))
@pytest.mark.parametrize("sent", [False, True])
def test_picked_rows_are_stored_as_rows_added_one_by_one(
    tmp_path: Path, batch_size: int, taken: str, sent: bool
) -> None:
    items = [_item(i) for i in range(95)]
    wanted = [item for i, item in enumerate(items) if _TAKEN[taken](i)]
    with StoreWriter(tmp_path / "one", batch_size=batch_size) as writer:
        for item in wanted:
            _add_one_by_one(writer, item)
    with StoreWriter(tmp_path / "picked", batch_size=batch_size) as writer:
        for start in range(0, len(items), 20):  # chunks of 20, the last one shorter
            chunk = _built(items[start : start + 20], sha256=start % 40 == 0)
            chunk = _sent(chunk) if sent else chunk
            for n in range(len(chunk.digests)):
                if _TAKEN[taken](start + n):
                    writer.add_from(chunk, n)
    one, picked = _store(tmp_path / "one"), _store(tmp_path / "picked")
    assert one["measurements"] and one["observations"] and one["facts"] and one["raw"]
    assert len(one["evidence"]) == len(wanted)
    if batch_size == 17:
        assert len(one["batches"]) > 3
    assert picked == one


def _file_digests(db: Path) -> list[list[tuple[str, str]]]:
    """Each commit's files as (table, SHA-256), in the manifest's order."""
    commits = []
    for line in (db / "manifest.jsonl").read_bytes().splitlines():
        entry = orjson.loads(line)
        commits.append(
            [
                (t, entry["checks"][n]["sha256"])
                for t, names in entry["files"].items()
                for n in names
            ]
        )
    return commits


def test_a_commit_written_on_threads_is_the_same_files(tmp_path: Path) -> None:
    items = [_item(i) for i in range(95)]
    for threads in (1, 3):
        with StoreWriter(tmp_path / str(threads), batch_size=17, threads=threads) as writer:
            for item in items:
                _add_one_by_one(writer, item)
    one, three = _file_digests(tmp_path / "1"), _file_digests(tmp_path / "3")
    assert len(one) > 3 and all(len(files) > 4 for files in one)
    assert three == one
    # and the files themselves hold those bytes
    assert sorted(
        hashlib.sha256(p.read_bytes()).hexdigest() for p in (tmp_path / "3").rglob("*.parquet")
    ) == sorted(sha for files in one for _, sha in files)


def test_rows_given_both_ways_keep_their_order_in_a_partition(tmp_path: Path) -> None:
    items = [_item(i) for i in range(0, 60, 6)]  # one country, one day
    assert {(item["cc"], item["date"]) for item in items} == {("PK", "2024-02-17")}
    chunk = _built(items[3:7], sha256=False)
    with StoreWriter(tmp_path / "db") as writer:
        for item in items[:3]:
            _add_one_by_one(writer, item)
        for n in range(4):
            writer.add_from(chunk, n)
        for item in items[7:]:
            _add_one_by_one(writer, item)
    (line,) = (tmp_path / "db" / "manifest.jsonl").read_bytes().splitlines()
    (name,) = orjson.loads(line)["files"]["measurements"]
    ids = pq.read_table(tmp_path / "db" / name, columns=["measurement_id"]).column(0).to_pylist()
    assert ids == [item["row"][0] for item in items]


def test_a_chunk_sent_to_another_process_is_the_same_chunk() -> None:
    chunk = _built([_item(i) for i in range(30)], sha256=True)
    back = _sent(chunk)
    assert (back.digests, back.dates, back.ccs, back.rows, back.weights, back.at) == (
        chunk.digests, chunk.dates, chunk.ccs, chunk.rows, chunk.weights, chunk.at,
    )  # fmt: skip
    assert back.tables.keys() == chunk.tables.keys() == {
        "measurements", "observations", "facts", "raw", "evidence"
    }  # fmt: skip
    for name, table in chunk.tables.items():
        assert back.tables[name].equals(table), name
    assert back.ends.keys() == chunk.ends.keys()
    for name, ends in chunk.ends.items():
        assert back.ends[name].tolist() == ends.tolist(), name
    # Rows laid out partition after partition: each measurement's row is where `at` says.
    ids = chunk.tables["measurements"].column("measurement_id").to_pylist()
    assert [ids[at] for at in chunk.at] == [f"m{i}" for i in range(30)]
    assert chunk.at != sorted(chunk.at)
