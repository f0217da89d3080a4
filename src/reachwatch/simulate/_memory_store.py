"""A store in memory filled straight from measurements through the real classifier, without
the ingest pipeline (no files, no dedupe, no quarantine). The benchmark and tests use it to
run detection on many corpora quickly; `reachwatch ingest` is the path for real use."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from reachwatch.catalog import platform_for_host
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

_ARROW = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
}


def _host(url: str | None) -> str | None:
    if not url:
        return None
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0].split(":", 1)[0].lower() or None


def _table(columns: dict[str, str], rows: list[dict[str, Any]]) -> pa.Table:
    schema = pa.schema([pa.field(n, _ARROW[t]) for n, t in columns.items()])
    return pa.table({n: [r.get(n) for r in rows] for n in columns}, schema=schema)


def memory_store(measurements: Iterable[Mapping[str, Any]]) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection with `measurements` and `observations` tables of the store's
    columns, every measurement judged by `reachwatch.classify.classify`."""
    from reachwatch.classify import classify  # the classifier is the contract, not a copy

    m_rows: list[dict[str, Any]] = []
    o_rows: list[dict[str, Any]] = []
    for m in measurements:
        c = classify(m)
        start = datetime.strptime(c.measurement_start_time, "%Y-%m-%d %H:%M:%S")
        host = _host(c.input)
        platform = platform_for_host(host) if host else None
        synthetic = (m.get("annotations") or {}).get("x_synthetic") == "true"
        m_rows.append(
            {
                "measurement_id": c.id,
                "source": "reachwatch" if synthetic else "ooni",
                "test_name": c.test_name,
                "input": c.input,
                "host": host,
                "platform": platform,
                "probe_cc": c.probe_cc,
                "probe_asn": c.probe_asn,
                "measurement_start_time": start,
                "date": start.date(),
                "verdict": c.verdict,
                "technique": c.technique,
                "classified": True,
                "synthetic": synthetic,
                "source_file": "<memory>",
                "source_line": len(m_rows),
            }
        )
        for o in c.observations:
            o_rows.append(
                {
                    "measurement_id": c.id,
                    "probe_cc": c.probe_cc,
                    "probe_asn": c.probe_asn,
                    "measurement_start_time": start,
                    "date": start.date(),
                    "platform": platform_for_host(o.host) or platform,
                    "host": o.host,
                    "address": o.address,
                    "layer": o.layer,
                    "verdict": o.verdict,
                    "rule": o.rule,
                    "technique": o.technique,
                    "failure": o.failure,
                    "loni_blocked": o.loni[0],
                    "loni_down": o.loni[1],
                    "loni_ok": o.loni[2],
                    "synthetic": synthetic,
                }
            )
    con = duckdb.connect(":memory:")
    m_table = _table(MEASUREMENTS_COLUMNS, m_rows)  # noqa: F841 (DuckDB reads it by name)
    o_table = _table(OBSERVATIONS_COLUMNS, o_rows)  # noqa: F841
    con.execute("CREATE TABLE measurements AS SELECT * FROM m_table")
    con.execute("CREATE TABLE observations AS SELECT * FROM o_table")
    return con
