"""A real in-memory DuckDB with the store's two tables, filled from plain rows."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest

from reachwatch.ingest import ingest
from reachwatch.simulate import detection_corpus, generate
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

Row = dict[str, Any]


def make_store(measurements: Iterable[Row], observations: Iterable[Row] = ()) -> Any:
    con = duckdb.connect(":memory:")
    for table, columns, rows in (
        ("measurements", MEASUREMENTS_COLUMNS, list(measurements)),
        ("observations", OBSERVATIONS_COLUMNS, list(observations)),
    ):
        cols = ", ".join(f"{name} {kind}" for name, kind in columns.items())
        con.execute(f"CREATE TABLE {table} ({cols})")
        if rows:
            # Column-wise through Arrow: executemany row by row is slow in DuckDB.
            data = pa.table({name: [row.get(name) for row in rows] for name in columns})
            con.register("incoming", data)
            names = ", ".join(n for n in columns if any(n in row for row in rows))
            con.execute(f"INSERT INTO {table} ({names}) SELECT {names} FROM incoming")
            con.unregister("incoming")
    return con


def measurement(
    t: datetime,
    verdict: str,
    *,
    network: str = "AS17557",
    cc: str = "PK",
    platform: str = "x",
    technique: str | None = None,
    ident: str | None = None,
) -> Row:
    if verdict == "blocked" and technique is None:
        technique = "tls.reset"
    return {
        "measurement_id": ident or f"{network}-{t.isoformat()}-{verdict}",
        "source": "ooni",
        "test_name": "web_connectivity",
        "input": "https://x.com/",
        "host": "x.com",
        "platform": platform,
        "probe_cc": cc,
        "probe_asn": network,
        "measurement_start_time": t,
        "date": t.date(),
        "verdict": verdict,
        "technique": technique if verdict == "blocked" else None,
        "classified": True,
        "synthetic": True,
        "source_file": "test",
        "source_line": 0,
    }


def hourly(
    start: datetime,
    hours: int,
    verdict_at: Callable[[datetime], str | None],
    *,
    per_hour: int = 5,
    network: str = "AS17557",
    platform: str = "x",
) -> list[Row]:
    """per_hour measurements each hour, spread evenly; verdict_at None means no measurement."""
    rows = []
    for h in range(hours):
        for k in range(per_hour):
            t = start + timedelta(hours=h, minutes=k * 60 // per_hour)
            verdict = verdict_at(t)
            if verdict is not None:
                rows.append(measurement(t, verdict, network=network, platform=platform))
    return rows


@pytest.fixture
def store_from() -> Callable[..., Any]:
    return make_store


def elsewhere(record: Row, cc: str) -> Row:
    """The same measurement taken in another country (its own id)."""
    moved = copy.deepcopy(record)
    moved["probe_cc"] = cc
    moved["measurement_uid"] = f"{record['measurement_uid']}{cc.lower()}"
    return moved


def two_country_store(root: Path, **ingest_options: Any) -> tuple[Path, list[Row]]:
    """A store at root/db of a simulated month of one country with blocks, and a third of it
    again from Iran: the store, and the records it holds."""
    scenario = detection_corpus("lone-failure", 0, networks=2)
    records = [dict(item.measurement) for item in generate(scenario, 0)]
    records += [elsewhere(r, "IR") for r in records[::3]]
    corpus = root / "corpus.jsonl"
    corpus.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    ingest([corpus], root / "db", **ingest_options)
    return root / "db", records
