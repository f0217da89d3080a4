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

from reachwatch.store.schema import TABLES

MANIFEST_NAME = "manifest.jsonl"
PARQUET_DIR = "parquet"
CATALOG_NAME = "catalog.duckdb"
QUARANTINE_DIR = "quarantine"
LOCK_NAME = "ingest.lock"


@dataclass(slots=True)
class Manifest:
    """The committed batches of a store: their files per table, and where the valid text ends."""

    files: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in TABLES})
    batches: int = 0
    valid_bytes: int = 0  # length of the manifest's intact prefix


def read_manifest(db: Path) -> Manifest:
    """The committed batches; a missing manifest is an empty store."""
    manifest = Manifest()
    path = db / MANIFEST_NAME
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return manifest
    for end, entry in _complete_entries(data):
        for table, names in entry.get("files", {}).items():
            manifest.files.setdefault(table, []).extend(names)
        manifest.batches += 1
        manifest.valid_bytes = end
    return manifest


def _complete_entries(data: bytes) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each newline-terminated, parseable manifest line with the offset just after it."""
    start = 0
    while True:
        end = data.find(b"\n", start)
        if end < 0:
            return
        try:
            entry = orjson.loads(data[start:end])
        except orjson.JSONDecodeError:
            return  # only the last append can be torn; nothing after it was committed
        if not isinstance(entry, dict):
            return
        yield end + 1, entry
        start = end + 1


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
