"""What makes a folder a store, and whether a store is whole.

A store is a folder holding `store.json` (written when `ingest` creates it) or, for stores
made before that file existed, `manifest.jsonl`. Readers and writers both start with
`inspect_store`, which refuses with one line naming the problem and the command to run: a
folder that is not a store, a missing or empty manifest while table files exist, a cut last
line no commit in progress explains, table files no manifest line names, a committed file
missing or of another size than recorded. It reads and stats; it never changes anything.
"""

from __future__ import annotations

import fcntl
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from reachwatch.store._errors import NotAStore, StoreBusy, StoreError
from reachwatch.store._manifest import (
    JOURNAL_NAME,
    LAYOUT,
    LOCK_NAME,
    MANIFEST_NAME,
    MARKER_NAME,
    PARQUET_DIR,
    PART_NAME,
    Manifest,
    damaged,
    part_files,
    read_manifest,
    write_atomic,
)


@dataclass(slots=True, frozen=True)
class Journal:
    """A commit in progress: the files its batch writes, then the line it appends."""

    files: frozenset[str]
    line: bytes | None

    def explains(self, tail: bytes) -> bool:
        """True when `tail` (a manifest's cut last line) is this commit's line, cut."""
        return self.line is not None and (self.line + b"\n").startswith(tail)


def read_journal(db: Path) -> Journal | None:
    try:
        data = (db / JOURNAL_NAME).read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"{db}: cannot read {JOURNAL_NAME} ({exc.strerror})") from None
    try:
        entry = orjson.loads(data)
        files = frozenset(entry["files"])
        line = entry.get("line")
        if not all(isinstance(name, str) and _is_part_path(name) for name in files):
            raise TypeError("a name that is not a table file of this store")
        return Journal(files, line.encode() if isinstance(line, str) else None)
    except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
        # Written whole or not at all (renamed into place), so this is damage, not a kill.
        raise damaged(db, f"{JOURNAL_NAME} is not a commit journal") from None


def _is_part_path(name: str) -> bool:
    parts = Path(name).parts
    return (
        len(parts) == 5
        and parts[0] == PARQUET_DIR
        and ".." not in parts
        and PART_NAME.fullmatch(parts[-1]) is not None
    )


def write_journal(db: Path, files: list[str], line: bytes | None) -> None:
    entry = {"files": files, "line": line.decode() if line is not None else None}
    write_atomic(db / JOURNAL_NAME, orjson.dumps(entry))


def clear_journal(db: Path) -> None:
    (db / JOURNAL_NAME).unlink(missing_ok=True)


def is_store(db: Path) -> bool:
    return (db / MARKER_NAME).is_file() or (db / MANIFEST_NAME).is_file()


def inspect_store(db: Path) -> Manifest:
    """The store's committed files, once every cheap check passed (see the module doc)."""
    if not db.exists():
        raise NotAStore(f"{db}: no store here (fill one with `reachwatch ingest PATH --db {db}`)")
    if not db.is_dir():
        raise NotAStore(f"{db}: not a reachwatch store (expected a folder)")
    # Listed before the journal and the manifest are read: a file a concurrent ingest wrote
    # is then either in the journal still or committed by the time the manifest is read.
    parts = set(part_files(db))
    manifest, journal = _read_consistent(db)
    if not manifest.present and not (db / MARKER_NAME).is_file():
        if parts:
            raise damaged(db, f"{MANIFEST_NAME} is missing while parquet/ holds {len(parts)} "
                              "table files")  # fmt: skip
        raise not_a_store(db)
    pending = journal.files if journal is not None else frozenset()
    stray = parts - manifest.committed() - manifest.superseded - pending
    if stray:
        if not manifest.present:
            why = f"{MANIFEST_NAME} is missing"
        elif not manifest.valid_bytes:
            why = f"{MANIFEST_NAME} is empty"
        else:
            why = f"{MANIFEST_NAME} names none of them (cut short?)"
        raise damaged(db, f"{why}, while parquet/ holds {len(stray)} table files it does not "
                          f"commit, e.g. {min(stray)}")  # fmt: skip
    _check_committed(db, manifest)
    return manifest


def _read_consistent(db: Path) -> tuple[Manifest, Journal | None]:
    """The manifest and journal. A cut last line is accepted only when the journal shows it
    is a commit being appended (read twice: the journal may have been replaced between)."""
    for _ in range(2):
        journal = read_journal(db)
        manifest = read_manifest(db)
        if not manifest.tail or (journal is not None and journal.explains(manifest.tail)):
            return manifest, journal
    raise damaged(db, f"{MANIFEST_NAME} ends in a cut line that no commit in progress explains")


def _check_committed(db: Path, manifest: Manifest) -> None:
    """Every committed file is there, with the size the manifest recorded."""
    for name in sorted(manifest.committed()):
        try:
            size = os.stat(db / name).st_size
        except FileNotFoundError:
            raise damaged(db, f"committed file {name} is missing") from None
        recorded = manifest.checks.get(name)
        if recorded is not None and recorded.size is not None and recorded.size != size:
            raise damaged(db, f"committed file {name} has {size} bytes, the manifest "
                              f"recorded {recorded.size}")  # fmt: skip


def not_a_store(db: Path) -> NotAStore:
    return NotAStore(
        f"{db}: not a reachwatch store (no {MARKER_NAME} or {MANIFEST_NAME}); give --db the "
        "store's own folder, or a new or empty folder for `reachwatch ingest` to create one in"
    )


def create_store(db: Path) -> None:
    """Make `db` a store if it is new or empty; a store already is left as it is (one made
    before store.json existed gets one). Anything else is refused: a store is never made
    inside a folder of someone else's files."""
    if db.exists() and not db.is_dir():
        raise NotAStore(f"{db}: not a reachwatch store (expected a folder)")
    if db.is_dir() and not is_store(db):
        if any(part_files(db)):
            raise damaged(db, f"{MANIFEST_NAME} is missing while parquet/ holds table files")
        if any(db.iterdir()):
            raise not_a_store(db)
    try:
        db.mkdir(parents=True, exist_ok=True)
        if not (db / MARKER_NAME).exists():
            marker = {
                "reachwatch": "store",
                "layout": LAYOUT,
                "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            }
            write_atomic(db / MARKER_NAME, orjson.dumps(marker, option=orjson.OPT_INDENT_2))
    except OSError as exc:  # a file in the path, a folder we may not write
        raise StoreError(f"{db}: cannot write the store ({exc.strerror})") from None


def lock_store(db: Path, holder: str = "") -> int:
    """Take the store's writer lock (flock on ingest.lock); StoreBusy when another holds it.
    `holder`: one line saying who writes and what to do meanwhile (a long-running writer such
    as `reachwatch serve`), kept in the lock file for the StoreBusy message of whoever comes
    next; an empty one is the default message."""
    try:
        fd = os.open(db / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:  # a folder we may not write
        raise StoreError(f"{db}: cannot write the store ({exc.strerror})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        said = _holder_line(fd)
        os.close(fd)
        raise StoreBusy(
            f"{db}: {said or 'another ingest (or rejudge, repair) is writing to this store'}"
        ) from None
    try:  # what an earlier holder said is no longer true
        os.ftruncate(fd, 0)
        if holder:
            os.pwrite(fd, holder.encode(), 0)
    except OSError:
        pass  # only the message of a later StoreBusy depends on it
    return fd


def _holder_line(fd: int) -> str:
    """The lock holder's own line, when it left a readable one."""
    try:
        text = os.pread(fd, 1024, 0).decode()
    except (OSError, UnicodeDecodeError):
        return ""
    return text if text.isprintable() else ""
