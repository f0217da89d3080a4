"""A store in memory filled straight from measurements, row for row as `reachwatch ingest`
stores them: the same identity check, the same classifier, the same row builders, the same
dedupe by measurement id. Only the files are skipped (no reading, no quarantine, no Parquet),
so the benchmark and tests judge detection on exactly what ingest would store, quickly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from reachwatch.formats.ooni import BadMeasurement, ooni_identity
from reachwatch.ingest._judge import InvalidMeasurement, Judge, Unsupported

# Ingest's own row builders: one mapping from a classified measurement to store rows, never
# a second copy that could drift from what `reachwatch ingest` writes.
from reachwatch.ingest._pipeline import _measurement_row, _observation_rows
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
}
_SOURCE = Path("<memory>")


def _table(columns: dict[str, str], rows: list[tuple[Any, ...]]) -> pa.Table:
    """Rows in the schema's column order (as ingest builds them) as an Arrow table."""
    names = list(columns)
    values = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    arrays = [pa.array(col, type=_ARROW[columns[n]]) for n, col in zip(names, values, strict=True)]
    return pa.Table.from_arrays(arrays, names=names)


def memory_store(measurements: Iterable[Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `measurements` and `observations` tables of the store's
    columns. Records ingest would quarantine (bad envelope, invalid measurement) are left
    out as it would leave them out; a repeated measurement id is stored once."""
    judge = Judge()
    seen: set[str] = set()
    m_rows: list[tuple[Any, ...]] = []
    o_rows: list[tuple[Any, ...]] = []
    for line, m in enumerate(measurements, 1):
        try:
            identity = ooni_identity(m, orjson.dumps(m))
        except BadMeasurement:
            continue
        if identity.measurement_id in seen:
            continue
        seen.add(identity.measurement_id)
        try:
            classified = judge.ooni(m)
        except Unsupported:
            m_rows.append(_measurement_row(identity, None, _SOURCE, line))
            continue
        except InvalidMeasurement:
            continue
        m_rows.append(_measurement_row(identity, classified, _SOURCE, line))
        o_rows.extend(_observation_rows(identity, classified))
    con = duckdb.connect(":memory:")
    m_table = _table(MEASUREMENTS_COLUMNS, m_rows)  # noqa: F841 (DuckDB reads it by name)
    o_table = _table(OBSERVATIONS_COLUMNS, o_rows)  # noqa: F841
    con.execute("CREATE TABLE measurements AS SELECT * FROM m_table")
    con.execute("CREATE TABLE observations AS SELECT * FROM o_table")
    return con
