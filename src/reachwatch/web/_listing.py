"""Pages of measurements answered from the list's columns held in memory, per generation.

A page is the newest rows of a filter below a bound (its cursor, or `until`). DuckDB answers
that with a top-N over every matching row of its window: 5-30 ms a page on a year of data,
most of which is spent on rows it then drops, and at most a couple at once on two cores. Here
the list's columns are fetched once per store generation, ordered by country, start time and
id: the filter columns as small integer codes, the rest as an Arrow table. A country's rows
are then one contiguous run in time order (a page of one country never looks at another's
rows), and a permutation gives the run of all rows in time order for pages without a country.
A page is a binary search for its upper bound in its run, then vectorised comparisons over
chunks walking back in time (each four times the last) until the page is full or its lower
bound is reached. The answer is the one the SQL gives: same rows, same order, same values.

Filters on rules and incidents read other tables: those pages stay with the SQL.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
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

# `g`: the row's place in the order of all rows by (start, id), for pages without a country.
_SQL = (
    f"SELECT {', '.join(COLUMNS)}, "
    "row_number() OVER (ORDER BY measurement_start_time, measurement_id) - 1 AS g "
    "FROM measurements ORDER BY probe_cc, measurement_start_time, measurement_id"
)
_FIRST_CHUNK = 4096

Codes = np.ndarray[Any, np.dtype[np.int32]]
Positions = np.ndarray[Any, np.dtype[np.intp]]


@dataclass(frozen=True, slots=True)
class _Run:
    """Rows in (start, id) order: their start times, and where they are in the table
    (`rows`, or when None the contiguous positions from `first`)."""

    start: np.ndarray[Any, np.dtype[np.int64]]
    rows: Positions | None = None
    first: int = 0

    def positions(self, begin: int, end: int) -> Positions:
        if self.rows is not None:
            return self.rows[begin:end]
        return np.arange(self.first + begin, self.first + end, dtype=np.intp)

    def codes(self, codes: Codes, begin: int, end: int) -> Codes:
        if self.rows is not None:
            return codes[self.rows[begin:end]]
        return codes[self.first + begin : self.first + end]


class Listing:
    """The measurements' list columns of one generation: per-country runs and one of all."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        table = con.sql(_SQL).to_arrow_table().combine_chunks()
        self._table = table.select(list(COLUMNS))
        self._ids = table.column("measurement_id")
        start_times = table.column("measurement_start_time").cast(pa.timestamp("us"))
        if start_times.null_count:
            raise ValueError("measurements without a start time: pages stay with the SQL")
        start = _numbers(start_times.cast(pa.int64()), np.int64)
        self._start = start  # the countries' runs are slices of it
        self._codes: dict[str, Codes] = {}
        self._values: dict[str, dict[str, int]] = {}
        for name in CODED:
            encoded = pc.dictionary_encode(table.column(name)).combine_chunks()
            self._values[name] = {v: i for i, v in enumerate(encoded.dictionary.to_pylist())}
            indices = pc.fill_null(encoded.indices.cast(pa.int32()), -1)
            self._codes[name] = _numbers(indices, np.int32)
        countries, firsts, counts = np.unique(
            self._codes["probe_cc"], return_index=True, return_counts=True
        )
        self._countries = {
            int(c): _Run(start[f : f + n], first=int(f))
            for c, f, n in zip(countries, firsts, counts, strict=True)
        }
        everyone = np.empty(len(start), dtype=np.intp)
        everyone[_numbers(table.column("g"), np.intp)] = np.arange(len(start), dtype=np.intp)
        self._all = _Run(start[everyone], rows=everyone)

    def __len__(self) -> int:
        return len(self._all.start)

    @property
    def nbytes(self) -> int:
        arrays = [*self._codes.values(), self._start, self._all.start, self._all.rows]
        return int(self._table.nbytes + sum(a.nbytes for a in arrays if a is not None))

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
        tests: list[tuple[Codes, int]] = []
        run = self._all
        for name, value in equal:
            code = self._values[name].get(value)
            if code is None:
                return []  # a value no row holds
            if name == "probe_cc":
                run = self._countries[code]  # every row of the run passes this test
            else:
                tests.append((self._codes[name], code))
        low = 0 if since is None else _position(run, since)
        high = len(run.start) if until is None else _position(run, until)
        if after is not None:
            high = min(high, self._after(run, after))
        found: list[Positions] = []
        wanted = count
        end, chunk = high, max(_FIRST_CHUNK, 8 * count)
        while end > low and wanted > 0:
            begin = max(low, end - chunk)
            hits = _matches(run, tests, begin, end)[::-1][:wanted]
            found.append(hits)
            wanted -= len(hits)
            end, chunk = begin, chunk * 4
        if not found:
            return []
        taken = self._table.take(pa.array(np.concatenate(found)))
        return list(zip(*(taken.column(c).to_pylist() for c in COLUMNS), strict=True))

    def _after(self, run: _Run, bound: tuple[datetime, str]) -> int:
        """The first place in `run` at or after the keyset (start, id) `bound`: the rows
        before it are those a page continuing from `bound` may show."""
        t = _micros(bound[0])
        first = int(np.searchsorted(run.start, t, side="left"))
        last = int(np.searchsorted(run.start, t, side="right"))
        same_time = self._ids.take(pa.array(run.positions(first, last))).to_pylist()
        return first + bisect_left(same_time, bound[1])


def _position(run: _Run, t: datetime) -> int:
    """The first place in `run` started at or after `t`."""
    return int(np.searchsorted(run.start, _micros(t), side="left"))


def _matches(run: _Run, tests: Sequence[tuple[Codes, int]], begin: int, end: int) -> Positions:
    """Table positions of the rows at [begin, end) of `run` passing every test, in run order."""
    if not tests:
        return run.positions(begin, end)
    mask = run.codes(tests[0][0], begin, end) == tests[0][1]
    for codes, code in tests[1:]:
        mask &= run.codes(codes, begin, end) == code
    picked: Positions = run.positions(begin, end)[mask]
    return picked


def _micros(t: datetime) -> int:
    """Microseconds since the epoch of a naive-UTC (or aware) time, as the table holds them."""
    if t.tzinfo is not None:
        t = t.astimezone(UTC).replace(tzinfo=None)
    return int(np.datetime64(t, "us").astype(np.int64))


def _numbers(values: pa.Array | pa.ChunkedArray, dtype: type[np.generic]) -> Any:
    array = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=dtype)
