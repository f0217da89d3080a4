"""The store's folder layout and its manifest: the list of committed Parquet files.

A Parquet file belongs to the store only once a manifest line names it. The manifest is
append-only JSON lines; a line is the commit point of one batch, so a run killed at any moment
leaves either the whole batch or none of it. A torn last line (a kill mid-append) is ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from reachwatch.errors import UserError
from reachwatch.store.schema import TABLES

MANIFEST_NAME = "manifest.jsonl"
PARQUET_DIR = "parquet"
CATALOG_NAME = "catalog.duckdb"
QUARANTINE_DIR = "quarantine"
LOCK_NAME = "ingest.lock"
# The layout this code reads and writes. A manifest line naming a higher one comes from a
# newer reachwatch whose files this one may misread, so the store is refused, never changed.
LAYOUT = 1


@dataclass(slots=True)
class Manifest:
    """The committed batches of a store: their files per table, and where the valid text ends."""

    files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})
    batches: int = 0
    valid_bytes: int = 0  # length of the manifest's intact prefix


def read_manifest(db: Path) -> Manifest:
    """The committed batches; a missing manifest is an empty store. A complete line that is
    not a batch this layout knows is a UserError: the store is damaged or newer than this
    code, and cleaning up after it (as a writer does) would destroy data."""
    manifest = Manifest()
    path = db / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return manifest
    except OSError as exc:
        raise UserError(f"{db}: cannot read the store's manifest ({exc.strerror})") from None
    for number, (end, entry) in enumerate(_complete_entries(db, data), start=1):
        for table, names in _batch_files(db, number, entry).items():
            manifest.files.setdefault(table, []).extend(names)
        manifest.batches += 1
        manifest.valid_bytes = end
    return manifest


def _complete_entries(db: Path, data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each newline-terminated manifest line with the offset just after it. Bytes after the
    last newline are a torn append (a kill mid-write) and are not a batch."""
    start = 0
    number = 0
    while (end := data.find(b"\n", start)) >= 0:
        number += 1
        try:
            entry = orjson.loads(data[start:end])
        except orjson.JSONDecodeError:
            entry = None
        if not isinstance(entry, dict):
            raise _damaged(db, number, "not a JSON object")
        yield end + 1, entry
        start = end + 1


def _batch_files(db: Path, number: int, entry: dict[str, Any]) -> dict[str, list[str]]:
    """The files one manifest line commits, checked: known layout, relative names inside
    the store's Parquet folder."""
    layout = entry.get("layout", LAYOUT)
    if layout != LAYOUT:
        raise UserError(
            f"{db}: store written by another reachwatch version (layout {layout!r}, this one "
            f"reads layout {LAYOUT}); it was left unchanged"
        )
    files = entry.get("files", {})
    if not isinstance(files, dict):
        raise _damaged(db, number, "'files' is not an object")
    for names in files.values():
        if not isinstance(names, list) or not all(_inside_store(name) for name in names):
            raise _damaged(db, number, "names a file outside the store's Parquet folder")
    return files


def _inside_store(name: object) -> bool:
    if not isinstance(name, str):
        return False
    parts = Path(name).parts
    return len(parts) > 1 and parts[0] == PARQUET_DIR and ".." not in parts


def _damaged(db: Path, number: int, why: str) -> UserError:
    return UserError(
        f"{db}: store damaged ({MANIFEST_NAME} line {number}: {why}); "
        "nothing was changed, repair or remove that line"
    )


def append_manifest(db: Path, entry: dict[str, Any]) -> None:
    """Commit one batch: append its line and make it durable before returning."""
    line = orjson.dumps(entry) + b"\n"
    fd = os.open(db / MANIFEST_NAME, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


def truncate_manifest(db: Path, valid_bytes: int) -> None:
    """Drop a torn last line so the next append starts on a fresh line."""
    path = db / MANIFEST_NAME
    if path.exists() and path.stat().st_size != valid_bytes:
        with path.open("r+b") as fh:
            fh.truncate(valid_bytes)
            fh.flush()
            os.fsync(fh.fileno())


def parquet_files(db: Path) -> Iterator[Path]:
    """Every file under the Parquet folder, committed or not."""
    root = db / PARQUET_DIR
    if root.is_dir():
        for dirpath, _dirs, names in os.walk(root):
            for name in names:
                yield Path(dirpath) / name


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
