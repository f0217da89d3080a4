"""Pages of measurements answered from the list's columns held in memory, per generation.

A page is the newest rows of a filter below a bound (its cursor, or `until`). DuckDB answers
that with a top-N over every matching row of its window: 5-30 ms a page on a year of data,
most of which is spent on rows it then drops, and at most a couple at once on two cores. Here
the list's columns are fetched once per store generation, ordered by (start time, id): the
filter columns as small integer codes, the rest as an Arrow table. A page is a binary search
for its upper bound, then vectorised comparisons over chunks walking back in time (each four
times the last) until the page is full or its lower bound is reached. The answer is the one
the SQL gives: same rows, same order, same values.

Filters on rules and incidents read other tables: those pages stay with the SQL.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

# Output columns, in the order of the API's fields; the first two are the keyset.
COLUMNS = (
    "measurement_id", "measurement_start_time", "probe_cc", "probe_asn", "platform",
    "test_name", "input", "verdict", "technique", "source", "synthetic",
)  # fmt: skip
# Filter columns, coded as integers (-1 for NULL, which no filter value equals).
CODED = ("probe_cc", "platform", "probe_asn", "technique", "verdict")

_SQL = (
    f"SELECT {', '.join(COLUMNS)} FROM measurements ORDER BY measurement_start_time, measurement_id"
)
_FIRST_CHUNK = 4096


class Listing:
    """The measurements' list columns of one generation, ordered by (start time, id)."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        table = con.sql(_SQL).to_arrow_table().combine_chunks()
        self._table = table
        self._ids = table.column("measurement_id")
        start = table.column("measurement_start_time").cast(pa.timestamp("us"))
        if start.null_count:
            raise ValueError("measurements without a start time: pages stay with the SQL")
        self._start = _int64(start.cast(pa.int64()))
        self._codes: dict[str, np.ndarray[Any, np.dtype[np.int32]]] = {}
        self._values: dict[str, dict[str, int]] = {}
        for name in CODED:
            encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
            self._values[name] = {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
            indices = pc.fill_null(encoded.indices.cast(pa.int32()), -1)
            self._codes[name] = indices.to_numpy(zero_copy_only=False)

    def __len__(self) -> int:
        return len(self._start)

    @property
    def nbytes(self) -> int:
        codes = sum(c.nbytes for c in self._codes.values())
        return int(self._table.nbytes + self._start.nbytes + codes)

    def page(
        self,
        equal: Sequence[tuple[str, str]],
        since: datetime | None,
        until: datetime | None,
        after: tuple[datetime, str] | None,
        count: int,
    ) -> list[tuple[Any, ...]]:
        """Up to `count` rows, newest first by (start, id), whose CODED columns equal the
        values in `equal`, started in [since, until), and before `after` (a (start, id) keyset
        bound) when given: the columns of COLUMNS, as the SQL returns them."""
        tests: list[tuple[np.ndarray[Any, np.dtype[np.int32]], int]] = []
        for name, value in equal:
            code = self._values[name].get(value)
            if code is None:
                return []  # a value no row holds
            tests.append((self._codes[name], code))
        low = 0 if since is None else self._position(since)
        high = len(self._start) if until is None else self._position(until)
        if after is not None:
            high = min(high, self._after(after))
        found: list[np.ndarray[Any, np.dtype[np.intp]]] = []
        wanted = count
        end, chunk = high, max(_FIRST_CHUNK, 8 * count)
        while end > low and wanted > 0:
            begin = max(low, end - chunk)
            hits = _matches(tests, begin, end)[::-1][:wanted]
            found.append(hits)
            wanted -= len(hits)
            end, chunk = begin, chunk * 4
        if not found:
            return []
        rows = self._table.take(pa.array(np.concatenate(found))).to_pylist()
        return [tuple(row[c] for c in COLUMNS) for row in rows]

    def _position(self, t: datetime) -> int:
        """The first row started at or after `t`."""
        return int(np.searchsorted(self._start, _micros(t), side="left"))

    def _after(self, bound: tuple[datetime, str]) -> int:
        """The first row at or after the keyset (start, id) `bound`: the rows before it are
        those a page continuing from `bound` may show."""
        t = _micros(bound[0])
        first = int(np.searchsorted(self._start, t, side="left"))
        last = int(np.searchsorted(self._start, t, side="right"))
        same_time = self._ids.slice(first, last - first).to_pylist()
        return first + bisect_left(same_time, bound[1])


def _matches(
    tests: Sequence[tuple[np.ndarray[Any, np.dtype[np.int32]], int]], begin: int, end: int
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """Positions in [begin, end) passing every test, ascending."""
    if not tests:
        return np.arange(begin, end, dtype=np.intp)
    mask = tests[0][0][begin:end] == tests[0][1]
    for codes, code in tests[1:]:
        mask &= codes[begin:end] == code
    return np.flatnonzero(mask) + begin


def _micros(t: datetime) -> int:
    """Microseconds since the epoch of a naive-UTC (or aware) time, as the table holds them."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(t, "us").astype(np.int64))


def _int64(values: pa.ChunkedArray) -> np.ndarray[Any, np.dtype[np.int64]]:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=np.int64)
