"""What became of each upload, kept past a restart: `DB/submit/receipts.jsonl`.

The writer appends one line per upload once the store committed it (and before the spool
forgets it): `{"receipt", "token", "received_at", "results": [[id, status, reason], ...]}`.
A server reads back the latest ones when it starts, so a receipt can be asked about after a
restart too. A crash between the commit and this line leaves the upload in the spool: the next
start stores it again, and its line then says "duplicate" for what the crash had stored.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("reachwatch.serve.submit")

RECEIPTS_NAME = "receipts.jsonl"
# Past this size the file is rewritten at start with only the receipts a server remembers.
_COMPACT_BYTES = 32 << 20


def load_receipts(path: Path, limit: int) -> list[dict[str, Any]]:
    """The last `limit` receipts in the file, oldest first (unreadable lines skipped)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    kept: deque[dict[str, Any]] = deque(maxlen=limit)
    skipped = 0
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            doc = orjson.loads(line)
        except orjson.JSONDecodeError:
            skipped += 1  # a line cut by a crash
            continue
        if isinstance(doc, dict) and isinstance(doc.get("receipt"), str):
            kept.append(doc)
    if skipped:
        log.warning("%s: %d unreadable lines skipped", path, skipped)
    if len(data) > _COMPACT_BYTES:
        _rewrite(path, list(kept))
    return list(kept)


def append_receipts(path: Path, docs: list[dict[str, Any]]) -> None:
    """Append and sync (one sync for the whole commit's uploads)."""
    if not docs:
        return
    data = b"".join(orjson.dumps(doc) + b"\n" for doc in docs)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _rewrite(path: Path, docs: list[dict[str, Any]]) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_bytes(b"".join(orjson.dumps(doc) + b"\n" for doc in docs))
    with temp.open("rb") as fh:
        os.fsync(fh.fileno())
    temp.rename(path)
