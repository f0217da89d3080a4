"""The store's folder layout and its manifest: the list of committed Parquet files.

A Parquet file belongs to the store only once a manifest line names it. The manifest is
append-only JSON lines; a line is the commit point of one batch. Before a batch writes any file
the writer records the batch's file names, and then the exact line it will append, in a
journal (`commit.journal`); the journal goes once the line is durable. So a kill at any moment
leaves either the whole batch or none of it, and what it leaves is provably the store's own:
files the journal names and a cut last line that is a prefix of the journal's line. Anything
else (a cut line no journal explains, files no line names) is damage, reported and never
"cleaned up".
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reachwatch.store._errors import StoreDamaged, StoreError
from reachwatch.store.schema import TABLES

MANIFEST_NAME = "manifest.jsonl"
MARKER_NAME = "store.json"
JOURNAL_NAME = "commit.journal"
PARQUET_DIR = "parquet"
CATALOG_NAME = "catalog.duckdb"
QUARANTINE_DIR = "quarantine"
LOCK_NAME = "ingest.lock"
# The layout this code reads and writes. A manifest line naming a higher one comes from a
# newer reachwatch whose files this one may misread, so the store is refused, never changed.
LAYOUT = 1
# The name the writer gives every Parquet file: batch number and a random tag.
PART_NAME = re.compile(r"part-(\d{6,})-([0-9a-f]{8})\.parquet")


@dataclass(slots=True, frozen=True)
class FileCheck:
    """What the manifest recorded about one committed file (None: written before it did)."""

    sha256: str | None = None
    rows: int | None = None
    size: int | None = None


@dataclass(slots=True)
class Manifest:
    """The committed batches of a store: their files per table, and where the valid text ends."""

    files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})
    checks: dict[str, FileCheck] = field(default_factory=dict)
    superseded: set[str] = field(default_factory=set)  # replaced by a later batch (rejudge)
    batches: int = 0
    valid_bytes: int = 0  # length of the manifest's complete lines
    tail: bytes = b""  # bytes after the last newline: a cut line
    present: bool = False  # the file exists

    def committed(self) -> set[str]:
        return {name for names in self.files.values() for name in names}


def read_manifest(db: Path) -> Manifest:
    """The committed batches, as the complete lines say. A complete line that is not a batch
    this layout knows is StoreDamaged; the cut tail, if any, is returned for the caller to
    judge (only the journal can say whether it is a commit in progress)."""
    manifest = Manifest()
    path = db / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return manifest
    except OSError as exc:
        raise StoreError(f"{db}: cannot read the store's manifest ({exc.strerror})") from None
    manifest.present = True
    for number, (end, entry) in enumerate(_complete_entries(db, data), start=1):
        add_entry(manifest, db, number, entry)
        manifest.valid_bytes = end
    manifest.tail = data[manifest.valid_bytes :]
    return manifest


def add_entry(manifest: Manifest, db: Path, number: int, entry: dict[str, Any]) -> None:
    """Add one manifest line's batch (line `number`, for messages) to `manifest`."""
    for table, names in _batch_files(db, number, entry).items():
        manifest.files.setdefault(table, []).extend(names)
    replaced = entry.get("supersedes", [])
    if not isinstance(replaced, list) or not all(_inside_store(name) for name in replaced):
        raise damaged(db, f"{MANIFEST_NAME} line {number}: 'supersedes' is not a list of files")
    if replaced:
        manifest.superseded.update(replaced)
        for table, names in manifest.files.items():
            manifest.files[table] = [name for name in names if name not in manifest.superseded]
    checks = entry.get("checks", {})
    if isinstance(checks, dict):
        for name, check in checks.items():
            if isinstance(check, dict):
                manifest.checks[name] = FileCheck(
                    _typed(check.get("sha256"), str),
                    _typed(check.get("rows"), int),
                    _typed(check.get("bytes"), int),
                )
    manifest.batches += 1


def _typed(value: object, kind: type) -> Any:
    return value if isinstance(value, kind) and not isinstance(value, bool) else None


def manifest_lines(data: bytes) -> Iterator[tuple[int, dict[str, Any] | None]]:
    """Every complete line's number and object (None for a line that is not one)."""
    for number, line in enumerate(data.split(b"\n")[:-1], start=1):
        try:
            entry = orjson.loads(line)
        except orjson.JSONDecodeError:
            entry = None
        yield number, entry if isinstance(entry, dict) else None


def _complete_entries(db: Path, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each newline-terminated manifest line with the offset just after it."""
    end = 0
    for number, entry in manifest_lines(data):
        end = data.index(b"\n", end) + 1
        if entry is None:
            raise damaged(db, f"{MANIFEST_NAME} line {number} is not a JSON object")
        yield end, entry


def _batch_files(db: Path, number: int, entry: dict[str, Any]) -> dict[str, list[str]]:
    """The files one manifest line commits, checked: known layout, relative names inside
    the store's Parquet folder."""
    layout = entry.get("layout", LAYOUT)
    if layout != LAYOUT:
        raise StoreError(
            f"{db}: store written by another reachwatch version (layout {layout!r}, this one "
            f"reads layout {LAYOUT}); it was left unchanged"
        )
    files = entry.get("files", {})
    if not isinstance(files, dict):
        raise damaged(db, f"{MANIFEST_NAME} line {number}: 'files' is not an object")
    for names in files.values():
        if not isinstance(names, list) or not all(_inside_store(name) for name in names):
            why = "names a file outside the store's Parquet folder"
            raise damaged(db, f"{MANIFEST_NAME} line {number} {why}")
    return files


def _inside_store(name: object) -> bool:
    if not isinstance(name, str):
        return False
    parts = Path(name).parts
    return len(parts) > 1 and parts[0] == PARQUET_DIR and ".." not in parts


def damaged(db: Path, why: str) -> StoreDamaged:
    return StoreDamaged(
        f"{db}: store damaged ({why}); nothing was changed, "
        f"see `reachwatch store check --db {db}`, then `reachwatch store repair --db {db}`"
    )


def append_manifest(db: Path, line: bytes) -> None:
    """Commit one batch: append its line (newline included) durably before returning."""
    fd = os.open(db / MANIFEST_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate_manifest(db: Path, valid_bytes: int) -> None:
    """Drop a cut last line (the caller proved it is this store's own unfinished append)."""
    with (db / MANIFEST_NAME).open("r+b") as fh:
        fh.truncate(valid_bytes)
        fh.flush()
        os.fsync(fh.fileno())


def part_files(db: Path) -> Iterator[str]:
    """Every file under the Parquet folder with the writer's name for a table file, relative
    to the store (committed or not)."""
    root = db / PARQUET_DIR
    if root.is_dir():
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                if PART_NAME.fullmatch(name):
                    yield str((Path(dirpath) / name).relative_to(db))


def foreign_files(db: Path) -> Iterator[str]:
    """Files under the Parquet folder that the writer never names so: not the store's."""
    root = db / PARQUET_DIR
    if root.is_dir():
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                if not PART_NAME.fullmatch(name):
                    yield str((Path(dirpath) / name).relative_to(db))


def write_atomic(path: Path, data: bytes) -> None:
    """Replace `path` with `data`: written under a temporary name, synced, renamed."""
    temp = path.with_name(path.name + ".tmp")
    with temp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    temp.rename(path)
    fsync_dir(path.parent)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
