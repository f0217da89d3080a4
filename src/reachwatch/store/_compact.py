"""`store compact`: one file per partition, so readers open fewer files.

The writer commits a batch as one file per (table, date, country) it touched, and a batch
boundary splits a day: a year of a busy store holds thousands of files per table, and every
statement a reader runs opens each listed file's footer. Compaction rewrites each partition
of several files as one file with the same rows in the same order (older batches first),
through the writer's own commit protocol: the new files are journalled, written under
temporary names, synced and renamed, and committed by a manifest line that supersedes the old
ones. Only once that line is durable are the old files deleted (they are the store's own,
replaced, and out of every reader's view). A kill at any moment leaves either the old files in
view or the new ones: the next ingest, or compaction, undoes a commit the journal shows
unfinished, and the next compaction deletes old files a finished one left behind.

A reader that opened the store before a compaction lists the old files; it sees the new ones
on its next open (`reachwatch serve` opens again when the manifest changes).
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from reachwatch.store._layout import clear_journal, inspect_store, lock_store, write_journal
from reachwatch.store._manifest import (
    LAYOUT,
    MANIFEST_NAME,
    append_manifest,
    damaged,
    fsync_dir,
    manifest_lines,
)
from reachwatch.store._writer import _undo_interrupted_commit, write_table_file
from reachwatch.store.schema import TABLES

# Partitions rewritten per commit: bounds the manifest line and the work a kill throws away.
_PER_COMMIT = 512


@dataclass(slots=True)
class CompactReport:
    db: Path
    partitions: int = 0  # partitions rewritten as one file
    files_before: int = 0  # committed table files before
    files_after: int = 0  # and after
    deleted: int = 0  # replaced files removed from disk
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))  # rewritten

    def to_json(self) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "partitions": self.partitions,
            "files_before": self.files_before,
            "files_after": self.files_after,
            "deleted": self.deleted,
            "rows": self.rows,
        }


def compact_store(db: Path | str, *, holder: str = "") -> CompactReport:
    """Rewrite every partition of several files as one (see the module doc); StoreBusy while
    another writer holds the store, StoreDamaged (nothing changed) for a damaged one."""
    db = Path(db)
    inspect_store(db)  # NotAStore / StoreDamaged before the lock file is made
    lock = lock_store(db, holder)
    try:
        _undo_interrupted_commit(db)
        manifest = inspect_store(db)
        report = CompactReport(db)
        report.deleted = _delete_replaced(db, manifest.committed())
        report.files_before = len(manifest.committed())
        todo = [
            (table, names)
            for table, groups in _partitions(manifest.files).items()
            for names in groups
            if len(names) > 1 and _same_columns(db, names)
        ]
        batch = manifest.batches
        for start in range(0, len(todo), _PER_COMMIT):
            batch += 1
            report.deleted += _commit(db, batch, todo[start : start + _PER_COMMIT], report)
        report.files_after = len(inspect_store(db).committed())
        return report
    finally:
        os.close(lock)


def _partitions(files: dict[str, list[str]]) -> dict[str, list[list[str]]]:
    """Each table's committed files grouped by folder (date and country), in commit order."""
    out: dict[str, list[list[str]]] = {}
    for table, names in files.items():
        folders: dict[str, list[str]] = defaultdict(list)
        for name in names:
            folders[str(Path(name).parent)].append(name)
        out[table] = list(folders.values())
    return out


def _same_columns(db: Path, names: list[str]) -> bool:
    """Whether the files have the same columns. Files written by versions with other columns
    are left as they are: merging them would need a type for a column some files lack."""
    try:
        schemas = [pq.read_schema(db / name).remove_metadata() for name in names]
    except (OSError, pa.ArrowException) as exc:
        raise damaged(
            db, f"cannot read committed files of {Path(names[0]).parent}: {exc}"
        ) from None
    return all(schema.equals(schemas[0]) for schema in schemas[1:])


def _commit(db: Path, batch: int, todo: list[tuple[str, list[str]]], report: CompactReport) -> int:
    """One commit: each partition's files as one new file; the old files deleted once the
    manifest line naming the new ones is durable. Returns how many were deleted."""
    tag = f"part-{batch:06d}-{uuid.uuid4().hex[:8]}"
    names = [f"{Path(old[0]).parent}/{tag}.parquet" for _, old in todo]
    write_journal(db, names, None)  # before any file: every one is provably ours
    written: dict[str, list[str]] = defaultdict(list)
    checks: dict[str, dict[str, Any]] = {}
    replaced: list[str] = []
    for (table, old), name in zip(todo, names, strict=True):
        checks[name] = _rewrite(db, table, old, name, batch)
        written[table].append(name)
        replaced += old
        report.partitions += 1
        report.rows[table] += checks[name]["rows"]
    line = orjson.dumps(
        {
            "batch": batch,
            "layout": LAYOUT,
            "committed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "measurements": 0,  # no new measurement: the same rows in fewer files
            "compacted": True,
            "files": dict(written),
            "checks": checks,
            "supersedes": replaced,
        }
    )
    write_journal(db, names, line)
    append_manifest(db, line + b"\n")
    clear_journal(db)
    return _delete(db, replaced)


def _rewrite(db: Path, table: str, old: list[str], name: str, batch: int) -> dict[str, Any]:
    """The rows of `old`, in order, as the file `name`: written as the writer writes a file
    (the same schema and options, its own record in the metadata), synced, renamed."""
    parts = []
    for file in old:
        try:
            parts.append(pq.ParquetFile(db / file).read())
        except (OSError, pa.ArrowException) as exc:
            raise damaged(db, f"cannot read committed {file}: {exc}") from None
    first = parts[0].schema.remove_metadata()
    if any(not p.schema.remove_metadata().equals(first) for p in parts[1:]):
        # _same_columns chose only partitions whose files agree: they changed since.
        raise damaged(db, f"the files of {Path(name).parent} changed while being compacted")
    rows = pa.concat_tables([p.replace_schema_metadata(None) for p in parts])
    own = {"table": table, "batch": batch, "layout": LAYOUT, "rows": rows.num_rows,
           "supersedes": old, "compacted": True}  # fmt: skip
    return write_table_file(db / name, rows, own)


def _delete(db: Path, names: list[str]) -> int:
    deleted = 0
    folders = set()
    for name in names:
        path = db / name
        if path.exists():
            path.unlink()
            deleted += 1
            folders.add(path.parent)
    for folder in folders:
        fsync_dir(folder)
    return deleted


def _delete_replaced(db: Path, committed: set[str]) -> int:
    """Delete the files an earlier compaction replaced and was killed before deleting (only
    those: files a rejudge replaced stay on disk, as rejudge leaves them)."""
    path = db / MANIFEST_NAME
    if not path.exists():
        return 0
    replaced: list[str] = []
    for _number, entry in manifest_lines(path.read_bytes()):
        if entry is not None and entry.get("compacted") is True:
            names = entry.get("supersedes", [])
            if isinstance(names, list):
                replaced += [n for n in names if isinstance(n, str) and n not in committed]
    return _delete(db, replaced)
