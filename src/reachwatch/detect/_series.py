"""Hourly series per (country, network, platform, layer), aggregated by DuckDB from the store.

Layer "all" is the overall verdict of each measurement (the `measurements` view); the other
layers come from the `observations` view, one verdict per measurement and layer chosen as the
classifier chooses a layer's verdict: blocked if any address was blocked, else ok if any
answered, else down, else inconclusive. So a probe without IPv6 that reached the IPv4 address
counts as ok, not inconclusive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import numpy.typing as npt

ALL_LAYERS = "all"

_OVERALL_SQL = """
SELECT probe_cc AS cc, probe_asn AS network, platform, 'all' AS layer,
       date_trunc('hour', measurement_start_time) AS hour,
       count(*) FILTER (WHERE verdict = 'accessible') AS accessible,
       count(*) FILTER (WHERE verdict = 'blocked') AS blocked,
       count(*) FILTER (WHERE verdict = 'down') AS down,
       count(*) FILTER (WHERE verdict = 'inconclusive') AS inconclusive,
       count(*) AS volume
FROM measurements
WHERE classified AND platform IS NOT NULL AND verdict IS NOT NULL
  AND probe_cc IS NOT NULL AND probe_asn IS NOT NULL {where}
GROUP BY ALL
"""

_LAYER_SQL = """
WITH per_measurement AS (
    SELECT measurement_id, probe_cc, probe_asn, platform, layer,
           any_value(measurement_start_time) AS measurement_start_time,
           CASE WHEN bool_or(verdict = 'blocked') THEN 'blocked'
                WHEN bool_or(verdict = 'ok') THEN 'ok'
                WHEN bool_or(verdict = 'down') THEN 'down'
                ELSE 'inconclusive' END AS verdict
    FROM observations
    WHERE platform IS NOT NULL AND probe_cc IS NOT NULL AND probe_asn IS NOT NULL {where}
    GROUP BY measurement_id, probe_cc, probe_asn, platform, layer
)
SELECT probe_cc AS cc, probe_asn AS network, platform, layer,
       date_trunc('hour', measurement_start_time) AS hour,
       count(*) FILTER (WHERE verdict = 'ok') AS accessible,
       count(*) FILTER (WHERE verdict = 'blocked') AS blocked,
       count(*) FILTER (WHERE verdict = 'down') AS down,
       count(*) FILTER (WHERE verdict = 'inconclusive') AS inconclusive,
       count(*) AS volume
FROM per_measurement
GROUP BY ALL
"""

IntArray = npt.NDArray[np.int64]
HourArray = npt.NDArray[np.datetime64]


@dataclass(frozen=True, slots=True)
class SeriesKey:
    cc: str
    network: str
    platform: str
    layer: str


@dataclass(frozen=True, slots=True)
class Series:
    """Counts per hour for one key. Only hours with at least one measurement are present:
    an hour that is absent had no data, which says nothing about blocking."""

    key: SeriesKey
    hours: HourArray  # datetime64[h], strictly increasing
    accessible: IntArray
    blocked: IntArray
    down: IntArray
    inconclusive: IntArray
    volume: IntArray

    @property
    def decisive(self) -> IntArray:
        """Measurements that say blocked or accessible; down and inconclusive say neither."""
        return self.accessible + self.blocked

    def __len__(self) -> int:
        return len(self.hours)


def _filters(cc: str | None, platform: str | None, network: str | None) -> tuple[str, list[Any]]:
    clauses, params = [], []
    for column, value in (("probe_cc", cc), ("platform", platform), ("probe_asn", network)):
        if value is not None:
            clauses.append(f"AND {column} = ?")
            params.append(value.upper() if column != "platform" else value.lower())
    return " ".join(clauses), params


def load_series(
    con: duckdb.DuckDBPyConnection,
    *,
    cc: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    layers: tuple[str, ...] = (ALL_LAYERS,),
) -> list[Series]:
    """Hourly series from the store's views, one per (cc, network, platform, layer)."""
    query = _series_query(cc, platform, network, layers)
    if query is None:
        return []
    sql, params = query
    return split_series(con.execute(sql + _ORDER, params).fetchnumpy())


def series_counts(
    con: duckdb.DuckDBPyConnection,
    *,
    cc: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    layers: tuple[str, ...] = (ALL_LAYERS,),
) -> dict[str, Any]:
    """The columns `load_series` splits, unordered ({} when no layer is asked for): counts
    that add up, key by key and hour by hour, over the files of different partitions (a
    measurement's rows never span two)."""
    query = _series_query(cc, platform, network, layers)
    if query is None:
        return {}
    counts: dict[str, Any] = con.execute(*query).fetchnumpy()
    return counts


def _series_query(
    cc: str | None, platform: str | None, network: str | None, layers: tuple[str, ...]
) -> tuple[str, list[Any]] | None:
    where, params = _filters(cc, platform, network)
    parts: list[str] = []
    all_params: list[Any] = []
    if ALL_LAYERS in layers:
        parts.append(_OVERALL_SQL.format(where=where))
        all_params += params
    other = [layer for layer in layers if layer != ALL_LAYERS]
    if other:
        placeholders = ", ".join("?" for _ in other)
        parts.append(_LAYER_SQL.format(where=f"{where} AND layer IN ({placeholders})"))
        all_params += [*params, *other]
    if not parts:
        return None
    return " UNION ALL ".join(f"({p})" for p in parts), all_params


_ORDER = " ORDER BY cc, network, platform, layer, hour"
COUNT_COLUMNS = ("accessible", "blocked", "down", "inconclusive", "volume")


def split_series(cols: dict[str, Any]) -> list[Series]:
    """Columns ordered by key and hour, one Series per key."""
    n = len(cols["hour"])
    if n == 0:
        return []
    keys = list(zip(cols["cc"], cols["network"], cols["platform"], cols["layer"], strict=True))
    hours = np.asarray(cols["hour"]).astype("datetime64[h]")
    out: list[Series] = []
    start = 0
    for i in range(1, n + 1):
        if i == n or keys[i] != keys[start]:
            sl = slice(start, i)
            out.append(
                Series(
                    key=SeriesKey(*(str(k) for k in keys[start])),
                    hours=hours[sl],
                    **{name: np.asarray(cols[name][sl], dtype=np.int64) for name in COUNT_COLUMNS},
                )
            )
            start = i
    return out
