"""`store compact`: the same rows in one file per partition, committed through the manifest,
the replaced files deleted only after; a kill at any moment leaves a store that reads whole."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from reachwatch.store import (
    TABLES,
    StoreWriter,
    check_store,
    compact_store,
    id_hash,
    open_store,
)
from reachwatch.store._manifest import MANIFEST_NAME, part_files, read_manifest
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS


def _rows(i: int, cc: str) -> tuple[tuple[object, ...], list[tuple[object, ...]]]:
    when = dt.datetime(2024, 3, 1 + i % 3, i % 24, 5)
    values: dict[str, object] = {
        "measurement_id": f"m{i}-{cc}",
        "probe_cc": cc,
        "probe_asn": f"AS{i % 4}",
        "measurement_start_time": when,
        "date": when.date(),
        "platform": "x",
        "verdict": "blocked" if i % 2 else "accessible",
        "classified": True,
        "synthetic": True,
        "source_line": i,
    }
    measurement = tuple(values.get(name) for name in MEASUREMENTS_COLUMNS)
    observation = {**values, "layer": "dns", "rule": "dns.nxdomain"}
    observations = [tuple(observation.get(name) for name in OBSERVATIONS_COLUMNS)]
    return measurement, observations


def _store(db: Path, batches: int = 4) -> None:
    i = 0
    for _ in range(batches):
        with StoreWriter(db) as writer:
            for _ in range(30):
                for cc in ("PK", "IR"):
                    m, obs = _rows(i, cc)
                    day = m[MEASUREMENTS_COLUMNS_INDEX["date"]]
                    assert isinstance(day, dt.date)
                    writer.add(id_hash(str(m[0])), day.isoformat(), cc, m, obs)
                i += 1


MEASUREMENTS_COLUMNS_INDEX = {name: k for k, name in enumerate(MEASUREMENTS_COLUMNS)}


def _everything(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = open_store(db, read_only=True)
    out = {t: sorted(map(tuple, con.execute(f"SELECT * FROM {t}").fetchall())) for t in TABLES}
    con.close()
    return out


def test_compaction_keeps_every_row_in_one_file_per_partition(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _store(db)
    before = _everything(db)
    files_before = len(read_manifest(db).committed())
    report = compact_store(db)
    assert report.partitions > 0 and report.files_after < files_before
    assert _everything(db) == before
    committed = read_manifest(db).committed()
    folders = [str(Path(name).parent) for name in committed]
    assert len(folders) == len(set(folders)), "one file per table and partition"
    assert set(part_files(db)) == committed, "the replaced files are gone from disk"
    assert check_store(db).ok
    again = compact_store(db)
    assert again.partitions == 0 and _everything(db) == before
    # The writer goes on from the compacted store: it still knows every stored id.
    with StoreWriter(db) as writer:
        assert writer.holds(id_hash("m0-PK"))


def test_a_kill_before_the_commit_leaves_the_old_files_in_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reachwatch.store import _compact

    db = tmp_path / "db"
    _store(db)
    before = _everything(db)
    files = set(part_files(db))

    def killed(db: Path, line: bytes) -> None:
        raise KeyboardInterrupt  # as a kill between the new files and the manifest line

    monkeypatch.setattr(_compact, "append_manifest", killed)
    with pytest.raises(KeyboardInterrupt):
        compact_store(db)
    assert _everything(db) == before
    assert files <= set(part_files(db)), "nothing of the store's was deleted"
    monkeypatch.undo()
    compact_store(db)  # undoes the unfinished commit, then compacts
    assert _everything(db) == before and check_store(db).ok


def test_a_kill_after_the_commit_leaves_the_new_files_and_the_next_run_deletes_the_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reachwatch.store import _compact

    db = tmp_path / "db"
    _store(db)
    before = _everything(db)

    def killed(db: Path, names: list[str]) -> int:
        if names:
            raise KeyboardInterrupt  # committed, not yet deleted
        return 0

    monkeypatch.setattr(_compact, "_delete", killed)
    with pytest.raises(KeyboardInterrupt):
        compact_store(db)
    assert _everything(db) == before and check_store(db).ok
    left = set(part_files(db)) - read_manifest(db).committed()
    assert left, "the replaced files are still on disk"
    monkeypatch.undo()
    report = compact_store(db)
    assert report.deleted == len(left)
    assert set(part_files(db)) == read_manifest(db).committed()
    assert _everything(db) == before and check_store(db).ok


def test_a_partition_whose_files_have_other_columns_is_left_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "db"
    _store(db, batches=2)  # each partition in two files, one a batch
    older = read_manifest(db).files["measurements"][0]
    # As a file written before the contract's last column existed; the manifest's sizes are
    # dropped as a store written before they were recorded has none.
    table = pq.ParquetFile(db / older).read()
    table = table.drop_columns([list(MEASUREMENTS_COLUMNS)[-1]])
    pq.write_table(table, db / older)
    lines = (db / MANIFEST_NAME).read_bytes().replace(b'"bytes":', b'"was_bytes":')
    (db / MANIFEST_NAME).write_bytes(lines)
    before = _everything(db)
    compact_store(db)
    assert _everything(db) == before
    assert older in read_manifest(db).committed()
