"""A store in memory filled straight from measurements, row for row as `reachwatch ingest`
stores them: the same identity check, the same classifier call, the same row builders and
Arrow tables as ingest's writer, the same dedupe by measurement id. Only the files are
skipped (no reading, no quarantine, no Parquet), so the benchmark and tests judge detection
on exactly what ingest would store, quickly."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import duckdb
import orjson

from reachwatch.formats.ooni import BadMeasurement, ooni_identity
from reachwatch.ingest._judge import InvalidMeasurement, Judge, Unsupported

# Ingest's own row builders and its writer's tables: one mapping from a classified
# measurement to store rows, never a second copy that could drift from what ingest writes.
from reachwatch.ingest._pipeline import _measurement_row, _observed_rows
from reachwatch.store._writer import SCHEMAS, _observed, _table, id_hash
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

_SOURCE = "<memory>"


def memory_store(measurements: Iterable[Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `measurements` and `observations` tables of the store's
    columns. Records ingest would quarantine (bad envelope, invalid measurement) are left
    out as it would leave them out; a repeated measurement id is stored once."""
    judge = Judge()
    seen: set[str] = set()
    m_rows: list[tuple[Any, ...]] = []
    own: list[tuple[Any, ...]] = []  # observation rows' own columns...
    of: list[int] = []  # ...and the index of their measurement's row
    for line, m in enumerate(measurements, 1):
        try:
            identity = ooni_identity(m, orjson.dumps(m))
        except BadMeasurement:
            continue
        if identity.measurement_id in seen:
            continue
        seen.add(identity.measurement_id)
        try:
            classified = judge.ooni(m, identity.measurement_id)
        except Unsupported:
            classified = None
        except InvalidMeasurement:
            continue
        row = _measurement_row(identity, classified, _SOURCE, line, judge)
        m_rows.append((*row, id_hash(identity.measurement_id)))
        if classified is not None:
            observed = _observed_rows(classified)
            own.extend(observed)
            of.extend([len(m_rows) - 1] * len(observed))
    m_table = _table("measurements", m_rows) if m_rows else SCHEMAS["measurements"].empty_table()
    o_table = _observed(m_table, own, of) if own else SCHEMAS["observations"].empty_table()
    con = duckdb.connect(":memory:")
    for name, table, columns in (
        ("measurements", m_table, MEASUREMENTS_COLUMNS),
        ("observations", o_table, OBSERVATIONS_COLUMNS),
    ):
        con.register("incoming", table)
        con.execute(f"CREATE TABLE {name} AS SELECT {', '.join(columns)} FROM incoming")
        con.unregister("incoming")
    return con
