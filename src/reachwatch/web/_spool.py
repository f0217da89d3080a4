"""The write-ahead spool: every accepted upload is on disk before the server says so.

Uploads are appended to segment files `DB/submit/spool/NNNNNNNN.jsonl`, one line per
measurement: `{"r": RECEIPT, "t": TOKEN_NAME, "i": INDEX, "m": MEASUREMENT}`, where
MEASUREMENT is the measurement's bytes exactly as they will be stored. `append` returns once
its lines are fsynced; requests that append while another waits for its fsync share the next
one (group commit), so concurrent uploads cost about one fsync per round, not one each. A
segment is deleted once every line in it has been committed to the store; a server that
stops (or crashes) with lines left finds them on its next start, and stores them through the
same ingest path (dedupe makes storing a line twice harmless).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from reachwatch.errors import ReachwatchError
from reachwatch.web._tokens import SUBMIT_DIR

SPOOL_DIR = "spool"
_SEGMENT = re.compile(r"(\d{8})\.jsonl")
# A segment this large is closed and a new one begun: finished segments can then be deleted
# while uploads go on.
SEGMENT_BYTES = 8 << 20
_SEPARATOR = b',"m":'


class SpoolError(ReachwatchError):
    """An upload could not be written to the spool (disk full, folder not writable)."""


@dataclass(slots=True)
class Entry:
    """One spooled measurement, read back."""

    receipt: str
    token: str
    index: int
    raw: bytes


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    fd: int = -1
    written: int = 0  # bytes
    synced: int = 0  # bytes known to be on disk
    lines: int = 0  # measurements appended
    done: int = 0  # measurements committed to the store
    open: bool = True  # still the segment appends go to


@dataclass(slots=True)
class Spool:
    folder: Path
    _lock: threading.Lock = field(default_factory=threading.Lock)  # append order, rotation
    _sync_lock: threading.Lock = field(default_factory=threading.Lock)  # one fsync at a time
    _segments: dict[int, _Segment] = field(default_factory=dict)
    _current: _Segment | None = None
    _next: int = 1

    @classmethod
    def of(cls, db: Path) -> Spool:
        folder = Path(db) / SUBMIT_DIR / SPOOL_DIR
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"{folder}: cannot write ({exc.strerror})") from None
        spool = cls(folder)
        numbers = [n for n, _ in spool.leftovers()]
        spool._next = max(numbers, default=0) + 1
        return spool

    # -- after a restart ----------------------------------------------------------------
    def leftovers(self) -> list[tuple[int, Path]]:
        """Segments on disk, oldest first: what an earlier run accepted and may not have
        stored (read them with `read`, then `discard` them once stored)."""
        found = []
        for path in self.folder.iterdir():
            match = _SEGMENT.fullmatch(path.name)
            if match and int(match.group(1)) not in self._segments:
                found.append((int(match.group(1)), path))
        return sorted(found)

    @staticmethod
    def read(path: Path) -> tuple[list[Entry], list[bytes]]:
        """A segment's entries, and the lines that are not entries (damage; a last line cut
        by a crash was never acknowledged and is not among either)."""
        data = path.read_bytes()
        entries: list[Entry] = []
        bad: list[bytes] = []
        for line in data.split(b"\n")[:-1]:  # the part after the last newline was cut
            entry = _parse(line)
            if entry is None:
                bad.append(line)
            else:
                entries.append(entry)
        return entries, bad

    def discard(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        _fsync_dir(self.folder)

    # -- accepting ------------------------------------------------------------------------
    def append(self, receipt: str, token: str, raws: list[bytes]) -> int:
        """Write one upload's measurements and fsync them; the segment they are in."""
        data = b"".join(_line(receipt, token, i, raw) for i, raw in enumerate(raws))
        try:
            with self._lock:
                segment = self._segment_for_append()
                try:
                    _write_all(segment.fd, data)
                except OSError:
                    # No line may follow a partial one: cut it off (a full disk allows that).
                    os.ftruncate(segment.fd, segment.written)
                    raise
                segment.written += len(data)
                segment.lines += len(raws)
                end = segment.written
            self._sync(segment, end)
        except OSError as exc:
            raise SpoolError(f"cannot write the upload spool ({exc.strerror or exc})") from None
        return segment.number

    def _segment_for_append(self) -> _Segment:
        current = self._current
        if current is not None and current.written < SEGMENT_BYTES:
            return current
        if current is not None:
            self._close(current)
        number = self._next
        self._next += 1
        path = self.folder / f"{number:08d}.jsonl"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        _fsync_dir(self.folder)  # the file's name is as durable as its lines
        segment = _Segment(number, path, fd)
        self._segments[number] = segment
        self._current = segment
        return segment

    def _sync(self, segment: _Segment, end: int) -> None:
        with self._sync_lock:
            if segment.synced >= end:
                return  # another request's fsync covered these bytes
            target = segment.written
            os.fsync(segment.fd)
            segment.synced = max(segment.synced, target)

    def _close(self, segment: _Segment) -> None:
        """No more appends to `segment` (called holding _lock); deleted once all stored."""
        with self._sync_lock:
            os.fsync(segment.fd)
            segment.synced = segment.written
            os.close(segment.fd)
            segment.fd = -1
        segment.open = False
        if segment is self._current:
            self._current = None
        self._drop_if_done(segment)

    # -- after the store committed ---------------------------------------------------------
    def stored(self, number: int, count: int) -> None:
        """`count` lines of segment `number` are committed to the store."""
        with self._lock:
            segment = self._segments.get(number)
            if segment is None:
                return
            segment.done += count
            self._drop_if_done(segment)

    def _drop_if_done(self, segment: _Segment) -> None:
        if not segment.open and segment.done >= segment.lines:
            self._segments.pop(segment.number, None)
            self.discard(segment.path)

    def close(self, *, all_stored: bool) -> None:
        """Close the open segment; delete it too when `all_stored` (a clean shutdown)."""
        with self._lock:
            current = self._current
            if current is None:
                return
            if not all_stored:
                current.done = -1  # kept for the next start
            self._close(current)

    def pending(self) -> int:
        """Measurements spooled and not yet committed."""
        with self._lock:
            return sum(s.lines - s.done for s in self._segments.values())

    def segments(self) -> Iterator[Path]:
        return iter(sorted(p for p in self.folder.iterdir() if _SEGMENT.fullmatch(p.name)))


def _line(receipt: str, token: str, index: int, raw: bytes) -> bytes:
    # receipt and token are [a-z0-9_.-] only, so the first `,"m":` is the separator; raw is
    # one line of JSON (the server checked it parses and holds no newline).
    return b'{"r":"%s","t":"%s","i":%d%s%s}\n' % (
        receipt.encode(),
        token.encode(),
        index,
        _SEPARATOR,
        raw,
    )


def _parse(line: bytes) -> Entry | None:
    at = line.find(_SEPARATOR)
    if at < 0 or not line.endswith(b"}"):
        return None
    match = re.fullmatch(rb'\{"r":"([a-z0-9_.-]+)","t":"([a-z0-9_.-]+)","i":(\d+)', line[:at])
    if match is None:
        return None
    receipt, token, index = match.groups()
    return Entry(receipt.decode(), token.decode(), int(index), line[at + len(_SEPARATOR) : -1])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
