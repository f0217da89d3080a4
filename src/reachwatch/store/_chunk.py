"""Build the rows of a chunk of measurements where they are judged, for the one writer to pick.

With --jobs or on Dask, the writer is the one process every worker waits on, and building
each measurement's Arrow columns from Python values was, after Parquet itself, the largest
thing it did. So the process that judges a chunk buffers its measurements exactly as the
writer would and builds their tables once (a RowChunk); the writer only decides, measurement
by measurement and in input order, which of them it stores, and at the commit takes their rows
by index. `--jobs 1` builds the same chunks in its one process, so the stores are the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from reachwatch.store._writer import RowChunk, _Partition, batch_bytes, batch_rows, row_indexes


class ChunkBuilder:
    """Measurements added one by one, as to a StoreWriter, and then built into a RowChunk.
    Each add returns the measurement's index in the chunk. The rows are laid out partition
    after partition, so the measurements the writer takes for one partition are a slice of
    the chunk's tables (unless a duplicate sits among them), not rows gathered one by one."""

    def __init__(self) -> None:
        self._part = _Partition()
        self._digests: list[int] = []
        self._dates: list[str] = []
        self._ccs: list[str] = []
        self._rows: list[int] = []
        self._weights: list[int] = []
        self._evidence_of: list[int] = []  # 1 for a measurement with its bytes kept, else 0
        self._raw_of: list[int] = []  # 1 for a measurement kept raw, else 0
        self._groups: dict[tuple[str, str], int] = {}  # partitions, in the order they came
        self._group_of: list[int] = []

    def __len__(self) -> int:
        return len(self._digests)

    def add_observed(
        self,
        digest: int,
        date: str,
        cc: str,
        measurement: tuple[Any, ...],
        observations: Sequence[tuple[Any, ...]],
        evidence: bytes | None = None,
        facts: Sequence[Any] = (),
        evidence_sha256: str | None = None,
    ) -> int:
        """As StoreWriter.add_observed."""
        self._part.add(measurement, digest, observations, facts)
        self._raw_of.append(0)
        rows, weight = batch_rows(observations, facts), batch_bytes(evidence)
        return self._added(digest, date, cc, measurement, rows, weight, evidence, evidence_sha256)

    def add_raw(
        self,
        digest: int,
        date: str,
        cc: str,
        measurement: tuple[Any, ...],
        raw: tuple[Any, ...],
        size: int,
        evidence: bytes | None = None,
        evidence_sha256: str | None = None,
    ) -> int:
        """As StoreWriter.add with a raw row (a test reachwatch does not classify)."""
        self._part.add(measurement, digest, ())
        self._part.rows["raw"].append(raw)
        self._raw_of.append(1)
        rows, weight = batch_rows(()), batch_bytes(evidence, size)
        return self._added(digest, date, cc, measurement, rows, weight, evidence, evidence_sha256)

    def _added(
        self,
        digest: int,
        date: str,
        cc: str,
        measurement: tuple[Any, ...],
        rows: int,
        weight: int,
        evidence: bytes | None,
        evidence_sha256: str | None,
    ) -> int:
        if evidence is not None:
            self._part.keep(measurement, evidence, evidence_sha256)
        self._evidence_of.append(0 if evidence is None else 1)
        self._group_of.append(self._groups.setdefault((date, cc), len(self._groups)))
        self._digests.append(digest)
        self._dates.append(date)
        self._ccs.append(cc)
        self._rows.append(rows)
        self._weights.append(weight)
        return len(self._digests) - 1

    def build(self) -> RowChunk:
        """The chunk of every measurement added (at least one)."""
        part = self._part
        tables = part.tables()
        counts = {
            "observations": part.observed,
            "facts": part.facts_of,
            "evidence": self._evidence_of,
            "raw": self._raw_of,
        }
        ends = {name: _ends(counts[name]) for name in tables if name in counts}
        n = len(self._digests)
        if len(self._groups) == 1:
            at = list(range(n))
        else:  # rows reordered partition after partition: one gather a table, here
            order = np.argsort(np.asarray(self._group_of, dtype=np.int64), kind="stable")
            for name, table in list(tables.items()):
                if name in ends:
                    tables[name] = table.take(pa.array(row_indexes(ends[name], order)))
                    ends[name] = _ends(np.asarray(counts[name], dtype=np.int64)[order])
                else:
                    tables[name] = table.take(pa.array(order))
            where = np.empty(n, dtype=np.int64)
            where[order] = np.arange(n, dtype=np.int64)
            at = where.tolist()
        return RowChunk(
            self._digests, self._dates, self._ccs, self._rows, self._weights, at, tables, ends
        )


_Offsets = np.ndarray[Any, np.dtype[np.int64]]


def _ends(counts: Sequence[int] | _Offsets) -> _Offsets:
    ends = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(np.asarray(counts, dtype=np.int64), out=ends[1:])
    return ends
