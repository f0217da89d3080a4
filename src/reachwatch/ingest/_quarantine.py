"""The quarantine file: one JSON line per record (or file) that could not be stored."""

from __future__ import annotations

import base64
import os
import uuid
from collections import Counter
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import IO

import orjson

# Lines longer than this are quarantined by position only, to keep the file readable.
_RAW_LIMIT = 64 * 1024
# Entries written whole per run; past it they are only counted (a few KB of damaged gzip can
# decompress to millions of bad lines). The counts by reason stay exact.
DEFAULT_CAP = 100_000


@lru_cache(maxsize=1024)
def path_text(path: Path) -> str:
    """A path as UTF-8 text: a file name that is not UTF-8 shows its odd bytes escaped
    (\\xff), where str() would hold surrogates that JSON and Parquet refuse."""
    return str(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class Quarantine:
    """Counts bad input by reason and writes each case, with its file and line, to a file:
    the first `cap` cases whole, then only their number (`overflow`)."""

    def __init__(self, folder: Path, cap: int = DEFAULT_CAP) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        self.path = folder / f"{stamp}-{os.getpid()}-{uuid.uuid4().hex[:6]}.jsonl"
        self.counts: Counter[str] = Counter()
        self.cap = cap
        self.written = 0
        self.overflow = 0
        self._fh: IO[bytes] = self.path.open("ab")

    def add(
        self, source: Path, line: int, reason: str, detail: str = "", raw: bytes | None = None
    ) -> None:
        self.counts[reason] += 1
        self.write(source, line, reason, detail, raw)

    def write(
        self, source: Path, line: int, reason: str, detail: str = "", raw: bytes | None = None
    ) -> None:
        """Name a case in the file without counting it as quarantined (duplicates: the summary
        counts them on their own, and their measurement is already stored)."""
        if self.written >= self.cap:
            self.overflow += 1
            return
        self.written += 1
        entry: dict[str, object] = {
            "file": path_text(source),
            "line": line,
            "reason": reason,
            "detail": detail,
        }
        if raw is not None and len(raw) <= _RAW_LIMIT:
            try:
                entry["raw"] = raw.decode("utf-8")
            except UnicodeDecodeError:
                entry["raw_base64"] = base64.b64encode(raw).decode("ascii")
        self._fh.write(orjson.dumps(entry) + b"\n")

    def sync(self) -> None:
        """Everything written so far is on disk (a server says "quarantined" only after)."""
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()
