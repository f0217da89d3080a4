"""One measurement as the store holds it: its row, its exact bytes (checked against their
SHA-256), and the verdicts per host, address and layer with the rule that gave each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import duckdb

from reachwatch.store._errors import StoreError
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS


class NoSuchMeasurement(StoreError):
    """No measurement with that id is stored."""


@dataclass(slots=True)
class Evidence:
    measurement: dict[str, Any]
    raw: bytes | None  # None: ingested before the store kept the bytes
    sha256: str | None
    intact: bool | None  # the bytes still have their recorded SHA-256 (None: no bytes)
    observations: list[dict[str, Any]]


def evidence_of(con: duckdb.DuckDBPyConnection, measurement_id: str) -> Evidence:
    """The measurement `measurement_id` from an open store; NoSuchMeasurement if absent."""
    columns = list(MEASUREMENTS_COLUMNS)
    row = con.execute(
        f"SELECT {', '.join(columns)} FROM measurements WHERE measurement_id = ? LIMIT 1",
        [measurement_id],
    ).fetchone()
    if row is None:
        raise NoSuchMeasurement(f"no measurement {measurement_id!r} in this store")
    kept = con.execute(
        "SELECT bytes, sha256 FROM evidence WHERE measurement_id = ? LIMIT 1", [measurement_id]
    ).fetchone()
    raw, sha256 = (bytes(kept[0]), str(kept[1])) if kept is not None else (None, None)
    own = [c for c in OBSERVATIONS_COLUMNS if c not in ("measurement_id", "probe_cc", "date")]
    observed = con.execute(
        f"SELECT {', '.join(own)} FROM observations WHERE measurement_id = ? "
        "ORDER BY layer, host, address",
        [measurement_id],
    ).fetchall()
    return Evidence(
        measurement=dict(zip(columns, row, strict=True)),
        raw=raw,
        sha256=sha256,
        intact=None if raw is None else hashlib.sha256(raw).hexdigest() == sha256,
        observations=[dict(zip(own, values, strict=True)) for values in observed],
    )
