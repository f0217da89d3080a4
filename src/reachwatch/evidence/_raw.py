"""The raw bytes of stored measurements, exactly as they were measured.

`fetch_raw` is the one place a bundle gets its measurements from. The store keeps every
measurement's exact bytes with their SHA-256 (its `evidence` table): they are read from there
and checked against that hash. A store written before it kept the bytes has only the file and
line each measurement was read from: those bytes are read again from there and checked to still
be the same measurement (its id, worked out again from the bytes, must match: for a measurement
identified by a digest of its bytes, that is a check of every byte).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from reachwatch.evidence._errors import EvidenceError
from reachwatch.formats.censoredplanet import censoredplanet_identity, record_kind
from reachwatch.formats.ooni import BadMeasurement, is_ooni, ooni_identity
from reachwatch.ingest._lines import Record, read_items


class RawMissing(EvidenceError):
    """A stored measurement's bytes can no longer be found where the store says they are."""


@dataclass(frozen=True, slots=True)
class RawMeasurement:
    measurement_id: str
    origin: Path  # the file it was read from
    line: int
    data: bytes


def _identity(value: Any, raw: bytes, path: Path) -> str | None:
    try:
        if is_ooni(value):
            return ooni_identity(value, raw).measurement_id
        kind = record_kind(value) if isinstance(value, dict) else None
        return censoredplanet_identity(value, kind, raw, path).measurement_id if kind else None
    except BadMeasurement:
        return None


def fetch_raw(con: duckdb.DuckDBPyConnection, ids: Iterable[str]) -> list[RawMeasurement]:
    """The bytes of every measurement in `ids`, in the order of their source files and lines.
    RawMissing names the first measurement whose bytes are gone or changed."""
    rows = con.execute(
        """SELECT measurement_id, source_file, source_line FROM measurements
           WHERE measurement_id IN (SELECT unnest(?::VARCHAR[]))
           ORDER BY source_file, source_line""",
        [list(ids)],
    ).fetchall()
    kept = _kept_bytes(con, [str(row[0]) for row in rows])
    out: list[RawMeasurement] = []
    unkept: dict[str, dict[int, str]] = {}
    for mid, source, line in rows:
        if str(mid) in kept:
            out.append(RawMeasurement(str(mid), Path(str(source)), int(line), kept[str(mid)]))
        else:
            unkept.setdefault(str(source), {})[int(line)] = str(mid)
    for source, lines in unkept.items():
        out += _read_lines(Path(source), lines)
    order = {(str(source), int(line)): n for n, (_, source, line) in enumerate(rows)}
    return sorted(out, key=lambda m: order[(str(m.origin), m.line)])


def _kept_bytes(con: duckdb.DuckDBPyConnection, ids: list[str]) -> dict[str, bytes]:
    """The bytes the store itself keeps for `ids`, each checked against its SHA-256."""
    found: dict[str, bytes] = {}
    for mid, data, sha256 in con.execute(
        """SELECT measurement_id, bytes, sha256 FROM evidence
           WHERE measurement_id IN (SELECT unnest(?::VARCHAR[]))""",
        [ids],
    ).fetchall():
        raw = bytes(data)
        if hashlib.sha256(raw).hexdigest() != sha256:
            raise RawMissing(
                f"measurement {mid}: the bytes the store keeps no longer match their SHA-256 "
                "(run `reachwatch store check`)"
            )
        found.setdefault(str(mid), raw)
    return found


def _read_lines(path: Path, lines: dict[int, str]) -> list[RawMeasurement]:
    found: list[RawMeasurement] = []
    try:
        for item in read_items(path):
            mid = lines.get(item.line)
            if mid is None or not isinstance(item, Record):
                continue
            if _identity(item.value, item.raw, path) != mid:
                raise RawMissing(
                    f"measurement {mid}: {path} line {item.line} no longer holds it "
                    "(the file changed since it was ingested)"
                )
            found.append(RawMeasurement(mid, path, item.line, item.raw))
    except OSError as exc:
        first = next(iter(lines.values()))
        raise RawMissing(
            f"measurement {first}: its raw bytes were read from {path}, which "
            f"cannot be read now ({exc.strerror}); the bundle needs them"
        ) from None
    if len(found) < len(lines):
        seen = {m.line for m in found}
        line, mid = next((n, m) for n, m in sorted(lines.items()) if n not in seen)
        raise RawMissing(
            f"measurement {mid}: {path} has no line {line} any more (the file "
            "changed since it was ingested)"
        )
    return found
