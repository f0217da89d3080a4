"""`store check` and `store repair`: verify a whole store, and rebuild a damaged manifest from
what the table files themselves record. Neither deletes anything.

check reads every byte: the manifest line by line, each committed file's SHA-256, size and row
count against what its line recorded, every file read through. repair commits every table file
of the store's own naming that reads whole and matches whatever an intact manifest line still
says about it; the old manifest (and journal) are moved aside, never removed, and a file left
out is moved, unchanged, beside the old manifest and named in the report.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from reachwatch.store._errors import StoreDamaged, StoreError
from reachwatch.store._layout import inspect_store, is_store, lock_store, not_a_store
from reachwatch.store._manifest import (
    JOURNAL_NAME,
    LAYOUT,
    MANIFEST_NAME,
    MARKER_NAME,
    PART_NAME,
    FileCheck,
    Manifest,
    add_entry,
    foreign_files,
    manifest_lines,
    part_files,
    write_atomic,
)
from reachwatch.store.schema import TABLES


@dataclass(slots=True)
class CheckReport:
    """What `check_store` found. `problems` empty means the store is whole."""

    db: Path
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not damage: foreign files, a journal
    files: int = 0  # committed files verified
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "ok": self.ok,
            "problems": self.problems,
            "notes": self.notes,
            "files": self.files,
            "rows": self.rows,
        }


@dataclass(slots=True)
class RepairReport:
    db: Path
    batches: int = 0
    files: int = 0
    rows: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    left_out: list[tuple[str, str]] = field(default_factory=list)  # (file, why), still on disk
    moved_aside: Path | None = None  # where the old manifest and journal went

    def to_json(self) -> dict[str, Any]:
        return {
            "db": str(self.db),
            "batches": self.batches,
            "files": self.files,
            "rows": self.rows,
            "left_out": [{"file": name, "why": why} for name, why in self.left_out],
            "moved_aside": str(self.moved_aside) if self.moved_aside else None,
        }


def check_store(db: Path | str) -> CheckReport:
    """Verify the whole store; NotAStore when `db` is not one at all."""
    db = Path(db)
    report = CheckReport(db)
    if not db.is_dir() or not (is_store(db) or any(part_files(db))):
        raise not_a_store(db)
    try:
        inspect_store(db)
    except StoreDamaged as exc:
        report.problems.append(str(exc).removeprefix(f"{db}: "))
    manifest = _lenient_manifest(db, report.problems)
    for name in sorted(manifest.committed()):
        why = _verify(db / name, manifest.checks.get(name), _table_of(name), report.rows)
        if why is None:
            report.files += 1
        else:
            report.problems.append(f"{name}: {why}")
    if manifest.superseded:
        report.notes.append(f"{len(manifest.superseded)} file(s) replaced by `reachwatch "
                            "rejudge` stay on disk, out of the store's view")  # fmt: skip
    if (db / JOURNAL_NAME).exists():
        report.notes.append(f"{JOURNAL_NAME}: a commit was interrupted or is running; the next "
                            "ingest undoes it")  # fmt: skip
    foreign = sorted(foreign_files(db))
    if foreign:
        report.notes.append(f"{len(foreign)} file(s) under parquet/ are not the store's and are "
                            f"left alone, e.g. {foreign[0]}")  # fmt: skip
    return report


def _lenient_manifest(db: Path, problems: list[str]) -> Manifest:
    """Every intact line of the manifest, whatever is wrong with the others."""
    manifest = Manifest()
    try:
        data = (db / MANIFEST_NAME).read_bytes()
    except OSError:
        return manifest
    manifest.present = True
    for number, entry in manifest_lines(data):
        if entry is None:
            problems.append(f"{MANIFEST_NAME} line {number} is not a JSON object")
            continue
        try:
            add_entry(manifest, db, number, entry)
        except StoreError as exc:
            problems.append(str(exc).removeprefix(f"{db}: "))
    return manifest


def _table_of(name: str) -> str | None:
    parts = Path(name).parts
    if len(parts) == 5 and parts[1] in TABLES and PART_NAME.fullmatch(parts[4]):
        return parts[1]
    return None


def _verify(path: Path, recorded: FileCheck | None, table: str | None,
            rows: dict[str, int]) -> str | None:  # fmt: skip
    """Why the file is not what its manifest line recorded, or None; counts its rows."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"cannot be read ({exc.strerror})"
    recorded = recorded or FileCheck()
    if recorded.size is not None and len(data) != recorded.size:
        return f"{len(data)} bytes, the manifest recorded {recorded.size}"
    if recorded.sha256 is not None and hashlib.sha256(data).hexdigest() != recorded.sha256:
        return "its SHA-256 is not the one the manifest recorded (the bytes changed)"
    try:
        content = pq.read_table(io.BytesIO(data))
    except (OSError, pa.ArrowException) as exc:
        return f"not readable as Parquet ({exc})"
    if recorded.rows is not None and content.num_rows != recorded.rows:
        return f"{content.num_rows} rows, the manifest recorded {recorded.rows}"
    if table is None or "measurement_id" not in content.column_names:
        return "not a table file of this store"
    rows[table] += content.num_rows
    return None


def repair_store(db: Path | str) -> RepairReport:
    """Rebuild the manifest from the table files; delete nothing (see the module doc)."""
    db = Path(db)
    if not db.is_dir() or not (is_store(db) or any(part_files(db))):
        raise not_a_store(db)
    report = RepairReport(db)
    lock = lock_store(db)
    try:
        old = _lenient_manifest(db, [])
        known = old.checks
        replaced = set(old.superseded) | _superseded_by_files(db)
        batches: dict[tuple[int, str], dict[str, list[str]]] = defaultdict(dict)
        checks: dict[str, dict[str, Any]] = {}
        for name in sorted(set(part_files(db)) - replaced):
            table = _table_of(name)
            check = _recheck(db / name, known.get(name), table, report)
            if check is None:
                continue
            match = PART_NAME.fullmatch(Path(name).name)
            assert match is not None and table is not None
            batch = batches[(int(match.group(1)), match.group(2))]
            batch.setdefault(table, []).append(name)
            checks[name] = check
        # The files a rejudge replaced stay out of view: the first line says so again.
        still = sorted(replaced & set(part_files(db)))
        lines = [
            _line(number, files, checks, still if number == 1 else [])
            for number, (_key, files) in enumerate(sorted(batches.items()), start=1)
        ]
        report.moved_aside = _move_aside(db, [name for name, _ in report.left_out])
        write_atomic(db / MANIFEST_NAME, b"".join(lines))
        if not (db / MARKER_NAME).exists():
            marker = {"reachwatch": "store", "layout": LAYOUT, "repaired": True}
            write_atomic(db / MARKER_NAME, orjson.dumps(marker))
        report.batches = len(lines)
        report.files = len(checks)
    finally:
        os.close(lock)
    return report


def _superseded_by_files(db: Path) -> set[str]:
    """The files that the table files themselves say they replace (rejudge batches)."""
    replaced: set[str] = set()
    for name in part_files(db):
        try:
            meta = pq.read_schema(db / name).metadata or {}
            own = orjson.loads(meta.get(b"reachwatch", b"{}"))
        except (OSError, pa.ArrowException, orjson.JSONDecodeError):
            continue
        names = own.get("supersedes") if isinstance(own, dict) else None
        if isinstance(names, list):
            replaced.update(n for n in names if isinstance(n, str))
    return replaced


def _recheck(path: Path, recorded: FileCheck | None, table: str | None,
             report: RepairReport) -> dict[str, Any] | None:  # fmt: skip
    """The file's manifest record if it is whole, else None (and why, in the report)."""
    # A size or row count from an intact manifest line is a claim to hold the file to; the
    # file's own record stands in for lost lines.
    why = _verify(path, recorded, table, report.rows)
    if why is not None:
        report.left_out.append((str(path.relative_to(report.db)), why))
        return None
    data = path.read_bytes()
    rows = pq.ParquetFile(io.BytesIO(data)).metadata.num_rows
    return {"sha256": hashlib.sha256(data).hexdigest(), "rows": rows, "bytes": len(data)}


def _line(
    number: int,
    files: dict[str, list[str]],
    checks: dict[str, dict[str, Any]],
    supersedes: list[str],
) -> bytes:
    measurements = sum(checks[name]["rows"] for name in files.get("measurements", []))
    entry = {
        "batch": number,
        "layout": LAYOUT,
        "committed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "measurements": measurements,
        "files": files,
        "checks": {name: checks[name] for names in files.values() for name in names},
        "repaired": True,
    }
    if supersedes:
        entry["supersedes"] = supersedes
    return orjson.dumps(entry) + b"\n"


def _move_aside(db: Path, left_out: list[str]) -> Path | None:
    """Move the old manifest and journal, and the table files left out, into repair-<time>/
    in the store, unchanged (same relative paths)."""
    names = [name for name in (MANIFEST_NAME, JOURNAL_NAME) if (db / name).exists()]
    names += left_out
    if not names:
        return None
    folder = db / f"repair-{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}"
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (db / name).rename(folder / name)
    return folder
