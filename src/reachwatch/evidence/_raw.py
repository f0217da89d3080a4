"""The raw bytes of stored measurements, exactly as they were measured.

`fetch_raw` is the one place a bundle gets its measurements from. The store keeps, for each
measurement, the file and line it was read from; the bytes are read again from there and
checked to still be the same measurement (its id, worked out again from the bytes, must match:
for a measurement identified by a digest of its bytes, that is a check of every byte). When
the store keeps the bytes itself, this function reads them from the store instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from reachwatch.errors import UserError
from reachwatch.formats.censoredplanet import censoredplanet_identity, record_kind
from reachwatch.formats.ooni import BadMeasurement, is_ooni, ooni_identity
from reachwatch.ingest._lines import Record, read_items


class RawMissing(UserError):
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
    wanted: dict[str, dict[int, str]] = {}
    for mid, source, line in rows:
        wanted.setdefault(str(source), {})[int(line)] = str(mid)
    out: list[RawMeasurement] = []
    for source, lines in wanted.items():
        out += _read_lines(Path(source), lines)
    return out


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
