"""The hourly series detect reads, counted on a Dask cluster.

Each task opens the files of a few partitions (a partition is a day and a country: every row
of a measurement is in one) in its own DuckDB and counts them with the SQL `load_series`
runs; this process adds the counts up per key and hour and orders them as `load_series`
does, so the series are equal, row for row, to the embedded engine's.

Workers read the store's files themselves, at the path this process names: they need the
store at the same place (a shared folder).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from reachwatch.cluster import ClusterError, Engine, dask_client, one_line
from reachwatch.detect._series import (
    _ORDER,
    ALL_LAYERS,
    COUNT_COLUMNS,
    Series,
    series_counts,
    split_series,
)
from reachwatch.store import committed_files, create_views

_KEY_COLUMNS = ("cc", "network", "platform", "layer", "hour")
_TASKS_PER_THREAD = 4  # tasks per worker thread: enough to even out partitions' sizes


def series_on_dask(
    engine: Engine,
    db: Path | str,
    *,
    cc: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    layers: tuple[str, ...] = (ALL_LAYERS,),
) -> list[Series]:
    """`load_series` over the store at `db`, counted by the engine's Dask workers."""
    groups = _partition_groups(committed_files(db, cc), layers)
    if not groups:
        return []
    with dask_client(engine) as client:
        threads = max(sum(client.nthreads().values()), 1)
        tasks = _batched(groups, threads * _TASKS_PER_THREAD)
        futures = [
            client.submit(_count, task, cc, platform, network, layers, pure=False) for task in tasks
        ]
        try:
            parts = client.gather(futures)
        except Exception as exc:  # a task's error, or the cluster's
            raise ClusterError(f"counting the series on Dask failed ({one_line(exc)})") from None
    return _added(parts)


def _partition_groups(
    files: dict[str, list[str]], layers: tuple[str, ...]
) -> list[dict[str, list[str]]]:
    """The files of each partition the series read, by table."""
    tables = ["measurements"] if layers == (ALL_LAYERS,) else ["measurements", "observations"]
    partitions: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for table in tables:
        for name in files.get(table, []):
            # <table>/date=D/cc=C/file: the partition is what follows the table's folder
            key = "/".join(Path(name).parts[-3:-1])
            partitions[key].setdefault(table, []).append(name)
    return [partitions[key] for key in sorted(partitions)]


def _batched(groups: list[dict[str, list[str]]], count: int) -> list[dict[str, list[str]]]:
    """`groups` merged into at most `count` tasks of neighbouring partitions."""
    size = -(-len(groups) // count)
    tasks = []
    for start in range(0, len(groups), size):
        task: dict[str, list[str]] = defaultdict(list)
        for group in groups[start : start + size]:
            for table, names in group.items():
                task[table].extend(names)
        tasks.append(dict(task))
    return tasks


def _count(
    files: dict[str, list[str]],
    cc: str | None,
    platform: str | None,
    network: str | None,
    layers: tuple[str, ...],
) -> dict[str, Any]:
    """On a worker: the series counts of these files."""
    con = duckdb.connect(":memory:")
    try:
        create_views(con, files)
        return series_counts(con, cc=cc, platform=platform, network=network, layers=layers)
    finally:
        con.close()


def _added(parts: list[dict[str, Any]]) -> list[Series]:
    """The workers' counts summed per key and hour, in `load_series`'s order."""
    parts = [p for p in parts if p and len(p["hour"])]
    if not parts:
        return []
    table = pa.table(
        {
            name: pa.array(np.concatenate([np.asarray(p[name]) for p in parts]))
            for name in (*_KEY_COLUMNS, *COUNT_COLUMNS)
        }
    )
    sums = ", ".join(f"CAST(sum({name}) AS BIGINT) AS {name}" for name in COUNT_COLUMNS)
    con = duckdb.connect(":memory:")
    try:
        con.register("counts", table)
        cols = con.execute(
            f"SELECT {', '.join(_KEY_COLUMNS)}, {sums} FROM counts GROUP BY ALL{_ORDER}"
        ).fetchnumpy()
    finally:
        con.close()
    return split_series(cols)
