"""Write rows into a store in atomic batches, and know which measurements it already holds.

A batch is journalled (its file names), written as Parquet files under temporary names, synced,
renamed to their final names, journalled again (the manifest line it will append) and only then
committed by that line. Opening a writer first undoes what an interrupted commit left: the files
its journal names and a cut last line that is a prefix of its journal's line, and nothing else.
So a run killed at any moment and started again ends with exactly the rows of a run that was
never interrupted, and a store damaged any other way is refused, unchanged.
"""

from __future__ import annotations

import hashlib
import marshal
import os
import struct
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from reachwatch.store._layout import (
    clear_journal,
    create_store,
    inspect_store,
    lock_store,
    read_journal,
    write_journal,
)
from reachwatch.store._manifest import (
    LAYOUT,
    MANIFEST_NAME,
    PARQUET_DIR,
    append_manifest,
    damaged,
    fsync_dir,
    truncate_manifest,
)
from reachwatch.store.schema import TABLES

_ARROW_TYPES: dict[str, pa.DataType] = {
    "VARCHAR": pa.string(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
    "BIGINT": pa.int64(),
    "INTEGER": pa.int32(),
    "DOUBLE": pa.float64(),
    "BLOB": pa.binary(),
}

# Kept in the measurements files beside the contract's columns: a 64-bit digest of the
# measurement id, so the ids already stored load as one compact array when a run starts.
ID_HASH_COLUMN = "id_hash"


# Raw JSON kept for unclassified tests can be large: a batch holding this much is committed
# whatever its row count, which bounds the memory a run uses.
_RAW_BYTES_PER_BATCH = 128 << 20


# A batch's Arrow arrays come from the C library's allocator: Arrow's default pool (mimalloc)
# gave the memory a batch freed back to the system and took it again, as fresh huge pages the
# kernel had to zero, for the next one; perf put 40 % of ingest's time in that zeroing
# (bench/ingest.py), about half of it from these arrays.
_POOL = pa.system_memory_pool()


@contextmanager
def _system_allocator() -> Iterator[None]:
    """Arrow's arrays are allocated from _POOL while it lasts: set for a commit (which makes
    them all) and put back after it, so the process's other Arrow users are left alone."""
    before = pa.default_memory_pool()
    pa.set_memory_pool(_POOL)
    try:
        yield
    finally:
        pa.set_memory_pool(before)


# The id digests of stored measurements, sorted.
_Digests = np.ndarray[Any, np.dtype[np.uint64]]


def _schema(table: str) -> pa.Schema:
    fields = [pa.field(name, _ARROW_TYPES[t]) for name, t in TABLES[table].items()]
    if table == "measurements":
        fields.append(pa.field(ID_HASH_COLUMN, pa.uint64()))
    return pa.schema(fields)


SCHEMAS: dict[str, pa.Schema] = {table: _schema(table) for table in TABLES}

# An observation or fact row repeats columns of its measurement (its id, place, time, synthetic
# flag; for an observation also who judged it); rows added by `add_observed` carry only the
# rest (OWN_COLUMNS, in schema order), and the shared columns are taken from the measurement's
# when the batch is written.
_PLACE = ("measurement_id", "probe_cc", "probe_asn", "measurement_start_time", "date", "synthetic")
SHARED_COLUMNS: dict[str, tuple[str, ...]] = {
    "observations": (*_PLACE, "classifier_version", "fingerprints_sha256"),
    "facts": _PLACE,
}
OWN_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name in TABLES[table] if name not in shared)
    for table, shared in SHARED_COLUMNS.items()
}
OBSERVATION_OWN_COLUMNS = OWN_COLUMNS["observations"]
FACT_OWN_COLUMNS = OWN_COLUMNS["facts"]
_MEASUREMENT_WIDTH = len(TABLES["measurements"])
_OWN_WIDTH = len(OBSERVATION_OWN_COLUMNS)
_FACT_WIDTH = len(FACT_OWN_COLUMNS)


# What a measurement counts towards a batch, which is full at `batch_size` rows or
# _RAW_BYTES_PER_BATCH bytes. StoreWriter and ChunkBuilder both count with these, so a batch
# closes at the same measurement whichever way its rows came.
def batch_rows(observations: Sequence[Any], facts: Sequence[Any] = ()) -> int:
    """Its own row, its observations and its facts (given flat, _FACT_WIDTH values each)."""
    return 1 + len(observations) + len(facts) // _FACT_WIDTH


def batch_bytes(evidence: bytes | None, raw_size: int = 0) -> int:
    """The bytes kept of it; else the size of its raw row (`raw_size`, 0 without one)."""
    return raw_size if evidence is None else len(evidence)


def id_hash(measurement_id: str) -> int:
    """The 64-bit digest under which a measurement id is remembered."""
    digest = hashlib.blake2b(measurement_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little")


class _Partition:
    """One partition's buffered rows. Measurements, and observations and facts given by
    `add_observed`, are kept flat, value after value, and sliced into columns at the commit:
    the caller's row tuples are freed as they arrive, while in cache, instead of being kept,
    transposed and freed at the commit, cold (which cost more than appending their values)."""

    def __init__(self) -> None:
        # Measurements whose rows a RowChunk holds built: the chunks, in the order they came,
        # each with the indexes of its measurements that are this partition's.
        self.picks: list[tuple[RowChunk, list[int]]] = []
        # Rows given one way and then the other (flat, picked) are kept in order as tables.
        self.built: list[dict[str, pa.Table]] = []
        self._clear_flat()

    def _clear_flat(self) -> None:
        """The rows given flat, none yet (a new partition, or those just built into tables)."""
        self.measurements: list[Any] = []  # MEASUREMENTS_COLUMNS and id_hash, row after row
        self.own: list[Any] = []  # OBSERVATION_OWN_COLUMNS, row after row...
        self.observed: list[int] = []  # ...and how many rows each measurement has there
        self.facts: list[Any] = []  # FACT_OWN_COLUMNS, row after row...
        self.facts_of: list[int] = []  # ...and how many facts each measurement has
        # Whole rows: observations given with every column, raw measurements, exact bytes.
        self.rows: dict[str, list[tuple[Any, ...]]] = {"observations": [], "raw": []}
        # The evidence table's columns but the bytes, value after value like the measurements
        # (a tuple per measurement held until the commit would be one more object for the
        # collector), and the bytes themselves end to end: copied while in cache, each
        # record's own bytes object is freed at once and its memory used for the next one
        # (holding them all until the commit cost fresh pages, and 100 MiB more peak RSS).
        self.evidence: list[Any] = []
        self.kept = bytearray()
        self.ends: list[int] = []  # where each measurement's bytes end in `kept`

    def keep(self, measurement: tuple[Any, ...], data: bytes, sha256: str | None) -> None:
        """Buffer the measurement's exact bytes with their SHA-256 (the evidence table)."""
        digest = sha256 if sha256 is not None else hashlib.sha256(data).hexdigest()
        self.evidence.extend((measurement[0], measurement[6], measurement[9], digest))
        self.kept += data
        self.ends.append(len(self.kept))

    def pick(self, chunk: RowChunk, at: int) -> None:
        """Buffer the measurement whose rows are at `at` in `chunk`'s tables (built already)."""
        if self.measurements:
            self.built.append(self._flat_tables())
            self._clear_flat()
        if self.picks and self.picks[-1][0] is chunk:
            self.picks[-1][1].append(at)
        else:
            self.picks.append((chunk, [at]))

    def add(
        self,
        measurement: tuple[Any, ...],
        digest: int,
        own: Sequence[tuple[Any, ...]],
        facts: Sequence[Any] = (),
    ) -> None:
        """Buffer one measurement row, the own columns of its observation rows, and its facts
        (FACT_OWN_COLUMNS values a fact, flat)."""
        if self.picks:
            self.built.append(_picked_tables(self.picks))
            self.picks = []
        # Checked first: a row of another width would shift every column after it.
        if len(measurement) != _MEASUREMENT_WIDTH:
            raise ValueError(f"a measurement row has {_MEASUREMENT_WIDTH} columns")
        for row in own:
            if len(row) != _OWN_WIDTH:
                raise ValueError(f"an observation row has {_OWN_WIDTH} own columns")
        if len(facts) % _FACT_WIDTH:
            raise ValueError(f"a fact has {_FACT_WIDTH} own columns")
        self.measurements.extend(measurement)
        self.measurements.append(digest)
        for row in own:
            self.own.extend(row)
        self.observed.append(len(own))
        self.facts.extend(facts)
        self.facts_of.append(len(facts) // _FACT_WIDTH)

    def tables(self) -> dict[str, pa.Table]:
        """The buffered rows as Arrow tables, by table name (the tables that have rows)."""
        segments = list(self.built)
        if self.picks:
            segments.append(_picked_tables(self.picks))
        if self.measurements:
            segments.append(self._flat_tables())
        if len(segments) == 1:
            return segments[0]
        names = [name for name in TABLES if any(name in segment for segment in segments)]
        return {
            name: pa.concat_tables([seg[name] for seg in segments if name in seg]) for name in names
        }

    def _flat_tables(self) -> dict[str, pa.Table]:
        measurements = _columns_table(
            "measurements", _columns(self.measurements, _MEASUREMENT_WIDTH + 1)
        )
        tables = {"measurements": measurements}
        tables.update((name, _table(name, rows)) for name, rows in self.rows.items() if rows)
        if self.evidence:
            tables["evidence"] = _evidence_table(self.evidence, self.kept, self.ends)
        if self.own:
            observed = _own_table(
                "observations", measurements, _columns(self.own, _OWN_WIDTH), _of(self.observed)
            )
            earlier = tables.get("observations")
            tables["observations"] = (
                pa.concat_tables([earlier, observed]) if earlier is not None else observed
            )
        if self.facts:
            tables["facts"] = _own_table(
                "facts", measurements, _columns(self.facts, _FACT_WIDTH), _of(self.facts_of)
            )
        return tables


Writable = bytearray | memoryview  # what RowChunk.encode writes into


class RowChunk:
    """The rows of a chunk of measurements, built together where they were judged (by
    reachwatch.store._chunk.ChunkBuilder, in a worker): Arrow tables by name, and for each table
    but measurements (one row each) where each measurement's rows end. The writer picks the
    measurements it stores out of it by index; a duplicate's rows are never taken."""

    def __init__(
        self,
        digests: list[int],
        dates: list[str],
        ccs: list[str],
        rows: list[int],
        weights: list[int],
        at: list[int],
        tables: dict[str, pa.Table],
        ends: dict[str, np.ndarray[Any, np.dtype[np.int64]]],
    ) -> None:
        self.digests = digests
        self.dates = dates
        self.ccs = ccs
        self.rows = rows  # what each measurement counts towards a batch's rows...
        self.weights = weights  # ...and towards its bytes (batch_rows, batch_bytes)
        self.at = at  # where each measurement's row is in the tables
        self.tables = tables
        self.ends = ends  # len(digests) + 1 offsets a table, from 0, in the tables' order

    def encode(self, head: bytes = b"", into: Callable[[int], Writable] = bytearray) -> Writable:
        """`head`, then the chunk as bytes for another process: its tables in Arrow's IPC
        format, written once, in place, which `decode` maps without copying them again. They
        are written into what `into` gives for their size (shared memory, say)."""
        sizes = []
        for table in self.tables.values():
            counter = pa.MockOutputStream()
            _write_stream(counter, table)
            sizes.append(counter.size())
        ends = [self.ends.get(name) for name in self.tables]
        streams = [
            (name, size, None if e is None else e.tobytes())
            for name, size, e in zip(self.tables, sizes, ends, strict=True)
        ]
        meta = marshal.dumps(
            (self.digests, self.dates, self.ccs, self.rows, self.weights, self.at, streams)
        )
        start = len(head) + _LENGTH.size + len(meta)
        out = into(start + sum(sizes))
        out[: len(head)] = head
        _LENGTH.pack_into(out, len(head), len(meta))
        out[len(head) + _LENGTH.size : start] = meta
        view = memoryview(out)
        for table, size in zip(self.tables.values(), sizes, strict=True):
            _write_stream(pa.FixedSizeBufferWriter(pa.py_buffer(view[start : start + size])), table)
            start += size
        view.release()
        return out

    @staticmethod
    def decode(data: memoryview) -> RowChunk:
        """The chunk `encode` gave (without its head); its tables are views of `data`."""
        (length,) = _LENGTH.unpack_from(data)
        start = _LENGTH.size + length
        digests, dates, ccs, rows, weights, at, streams = marshal.loads(data[_LENGTH.size : start])
        tables: dict[str, pa.Table] = {}
        ends: dict[str, np.ndarray[Any, np.dtype[np.int64]]] = {}
        for name, size, offsets in streams:
            tables[name] = pa.ipc.open_stream(pa.py_buffer(data[start : start + size])).read_all()
            start += size
            if offsets is not None:
                ends[name] = np.frombuffer(offsets, dtype=np.int64)
        return RowChunk(digests, dates, ccs, rows, weights, at, tables, ends)


_LENGTH = struct.Struct("<Q")


def _write_stream(sink: pa.NativeFile, table: pa.Table) -> None:
    with pa.ipc.new_stream(sink, table.schema) as out:
        out.write_table(table)


def _picked_tables(picks: list[tuple[RowChunk, list[int]]]) -> dict[str, pa.Table]:
    """The rows of the measurements picked out of chunks, in order, as one table each (the
    tables that have rows). Left in pieces, as slices of the chunks' tables: the same input
    makes the same chunks with any number of workers, so the Parquet bytes are the same, and
    joining them first would be one more copy of every row."""
    pieces: dict[str, list[pa.Table]] = {}
    for chunk, indexes in picks:
        for name, table in chunk.tables.items():
            pieces.setdefault(name, []).append(_rows_of(table, chunk.ends.get(name), indexes))
    tables: dict[str, pa.Table] = {}
    for name in TABLES:
        if name in pieces and sum(piece.num_rows for piece in pieces[name]):
            tables[name] = pa.concat_tables(pieces[name])
    return tables


def _rows_of(
    table: pa.Table, ends: np.ndarray[Any, np.dtype[np.int64]] | None, indexes: list[int]
) -> pa.Table:
    """The rows of measurements `indexes` (increasing): row i each when `ends` is None, else
    rows ends[i] to ends[i + 1]."""
    first, last = indexes[0], indexes[-1]
    contiguous = last - first + 1 == len(indexes)
    if ends is None:
        if contiguous:
            return table.slice(first, len(indexes))
        return table.take(pa.array(indexes, type=pa.int64()))
    if contiguous:
        start = int(ends[first])
        return table.slice(start, int(ends[last + 1]) - start)
    return table.take(pa.array(row_indexes(ends, np.asarray(indexes, dtype=np.int64))))


def row_indexes(
    ends: np.ndarray[Any, np.dtype[np.int64]], picked: np.ndarray[Any, np.dtype[np.int64]]
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The rows of measurements `picked`, in that order, in a table where measurement i's
    rows are ends[i] to ends[i + 1]."""
    starts = ends[picked]
    counts = ends[picked + 1] - starts
    # Each picked measurement's rows are a run from its start: a row's place in the result,
    # shifted by where its run starts in the table less where it starts in the result.
    before = np.cumsum(counts) - counts
    rows: np.ndarray[Any, np.dtype[np.int64]] = np.arange(
        int(counts.sum()), dtype=np.int64
    ) + np.repeat(starts - before, counts)
    return rows


class StoreWriter:
    """Appends measurements (with their observations, or their raw JSON) to a store.

    Use as a context manager: leaving it commits what is buffered. Only one writer may hold a
    store at a time; a second one gets StoreBusy rather than corrupting the first.
    """

    def __init__(
        self, db: Path | str, *, batch_size: int = 200_000, holder: str = "", threads: int = 1
    ) -> None:
        """`holder`: what a second writer's StoreBusy says about this one (see lock_store).
        `threads`: how many of a commit's files are written at once (Parquet's encoding and
        compression, the SHA-256 and the sync all run outside Python's lock); the files are
        the same whatever the number."""
        self.db = Path(db)
        create_store(self.db)
        self._lock_fd = lock_store(self.db, holder)
        self.batch_size = batch_size
        self._threads = ThreadPoolExecutor(threads) if threads > 1 else None
        self._partitions: dict[tuple[str, str], _Partition] = {}
        self._pending: set[int] = set()
        self._pending_rows = 0
        self._pending_bytes = 0
        try:
            self._stored, self.committed_batches = _recover(self.db)
        except BaseException:
            self.close()
            raise

    # -- what is stored -------------------------------------------------------------------
    def holds(self, digest: int) -> bool:
        """True when a measurement with this id digest is stored or waiting in the batch."""
        if digest in self._pending:
            return True
        stored = self._stored
        if not len(stored):
            return False
        i = int(stored.searchsorted(np.uint64(digest)))
        return i < len(stored) and int(stored[i]) == digest

    # -- adding rows --------------------------------------------------------------------
    def add(
        self,
        digest: int,
        date: str,
        cc: str,
        measurement: tuple[Any, ...],
        observations: Sequence[tuple[Any, ...]] = (),
        raw: tuple[Any, ...] | None = None,
        size: int = 0,
        evidence: bytes | None = None,
        evidence_sha256: str | None = None,
    ) -> None:
        """Buffer one measurement row (columns in schema order, without id_hash) and its
        observation rows or raw row, and the exact bytes it was read from (with their SHA-256
        in hex when the caller has it); commits a batch when the buffer is full."""
        part = self._partition(date, cc)
        part.add(measurement, digest, ())
        if evidence is not None:
            part.keep(measurement, evidence, evidence_sha256)
        if observations:
            part.rows["observations"].extend(observations)
        if raw is not None:
            part.rows["raw"].append(raw)
        raw_size = size if raw is not None else 0
        self._pending_add(digest, batch_rows(observations), batch_bytes(evidence, raw_size))

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
    ) -> None:
        """Like `add`, with observation rows of OBSERVATION_OWN_COLUMNS only, and the
        measurement's facts, FACT_OWN_COLUMNS values a fact, flat: the columns they share with
        their measurement are filled in from its row when the batch is written."""
        part = self._partition(date, cc)
        part.add(measurement, digest, observations, facts)
        if evidence is not None:
            part.keep(measurement, evidence, evidence_sha256)
        self._pending_add(digest, batch_rows(observations, facts), batch_bytes(evidence))

    def add_from(self, chunk: RowChunk, index: int) -> None:
        """Buffer measurement `index` of `chunk`, whose rows are built already: what `add` or
        `add_observed` would have buffered for it, and the batch committed at the same
        measurement."""
        part = self._partition(chunk.dates[index], chunk.ccs[index])
        part.pick(chunk, chunk.at[index])
        self._pending_add(chunk.digests[index], chunk.rows[index], chunk.weights[index])

    def _pending_add(self, digest: int, rows: int, size: int) -> None:
        """A measurement buffered, counted as `batch_rows` and `batch_bytes` say; the batch
        committed once full."""
        self._pending.add(digest)
        self._pending_rows += rows
        self._pending_bytes += size
        if self._pending_rows >= self.batch_size or self._pending_bytes >= _RAW_BYTES_PER_BATCH:
            self.commit()

    def _partition(self, date: str, cc: str) -> _Partition:
        part = self._partitions.get((date, cc))
        if part is None:
            part = self._partitions[(date, cc)] = _Partition()
        return part

    # -- committing ---------------------------------------------------------------------
    def commit(self, supersedes: Sequence[str] = ()) -> None:
        """Write the buffered rows as one batch and commit it; nothing to do when empty.
        `supersedes`: committed files whose rows this batch replaces (rejudge); the same
        commit takes them out of the store's view (they stay on disk)."""
        if not self._pending:
            return
        with _system_allocator():
            self._commit(supersedes)

    def _commit(self, supersedes: Sequence[str]) -> None:
        batch = self.committed_batches + 1
        tag = f"part-{batch:06d}-{uuid.uuid4().hex[:8]}"
        planned = [
            (name, date, cc, table)
            for (date, cc), part in sorted(self._partitions.items())
            for name, table in part.tables().items()
        ]
        names = [_file_name(name, date, cc, tag) for name, date, cc, _ in planned]
        write_journal(self.db, names, None)  # before any file: every one is provably ours
        written: dict[str, list[str]] = {table: [] for table in TABLES}
        checks: dict[str, dict[str, Any]] = {}
        for (name, *_), file_name, check in zip(
            planned, names, self._write_all(planned, names, batch, supersedes), strict=True
        ):
            checks[file_name] = check
            written[name].append(file_name)
        line = orjson.dumps(
            {
                "batch": batch,
                "layout": LAYOUT,
                "committed_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "measurements": len(self._pending),
                "files": {table: names for table, names in written.items() if names},
                "checks": checks,
                **({"supersedes": list(supersedes)} if supersedes else {}),
            }
        )
        write_journal(self.db, names, line)  # a cut append of this line is then provably ours
        append_manifest(self.db, line + b"\n")
        clear_journal(self.db)
        self.committed_batches = batch
        fresh = np.fromiter(self._pending, dtype=np.uint64, count=len(self._pending))
        self._stored = _merged(self._stored, fresh)
        self._partitions.clear()
        self._pending.clear()
        self._pending_rows = 0
        self._pending_bytes = 0

    def _write_all(
        self,
        planned: list[tuple[str, str, str, pa.Table]],
        names: list[str],
        batch: int,
        supersedes: Sequence[str],
    ) -> list[dict[str, Any]]:
        """Every file of a commit written; what the manifest records about each, in order.
        With threads, every write has ended (or failed) before this returns or raises."""
        jobs = [
            (file_name, table, name, batch, supersedes)
            for (name, _, _, table), file_name in zip(planned, names, strict=True)
        ]
        if self._threads is None:
            return [self._write(*job) for job in jobs]
        futures = [self._threads.submit(self._write, *job) for job in jobs]
        wait(futures)
        return [future.result() for future in futures]

    def _write(
        self, file_name: str, table: pa.Table, name: str, batch: int, supersedes: Sequence[str]
    ) -> dict[str, Any]:
        """Write one table file under a temporary name, sync and rename it; what the manifest
        records about it (SHA-256, rows, bytes)."""
        final = self.db / file_name
        final.parent.mkdir(parents=True, exist_ok=True)
        own = {"table": name, "batch": batch, "layout": LAYOUT, "rows": table.num_rows,
               "supersedes": list(supersedes)}  # fmt: skip
        return write_table_file(final, table, own)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown()
            self._threads = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.commit()
        finally:
            self.close()


def _table(name: str, rows: Sequence[tuple[Any, ...]]) -> pa.Table:
    return _columns_table(name, list(zip(*rows, strict=True)))


def _columns(flat: list[Any], width: int) -> list[list[Any]]:
    """The columns of rows buffered flat, `width` values a row."""
    return [flat[i::width] for i in range(width)]


def _columns_table(name: str, columns: Sequence[Sequence[Any]]) -> pa.Table:
    schema = SCHEMAS[name]
    arrays = [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def _evidence_table(columns: list[Any], kept: bytearray, ends: list[int]) -> pa.Table:
    """The evidence table from its other columns, flat, and its bytes end to end: the bytes
    column is made on `kept` itself, not copied again (pa.array copied them into a buffer
    grown by doubling)."""
    offsets = np.zeros(len(ends) + 1, dtype=np.int64)
    offsets[1:] = ends
    # Binary offsets are 32-bit: a batch is committed long before 2 GiB, and a wrapped offset
    # would garble the column rather than fail, so that is checked.
    offsets32 = offsets.astype(np.int32)
    if offsets[-1] != offsets32[-1]:
        raise ValueError("a batch's evidence bytes exceed 2 GiB")
    data = pa.Array.from_buffers(
        pa.binary(), len(ends), [None, pa.py_buffer(offsets32), pa.py_buffer(kept)]
    )
    schema = SCHEMAS["evidence"]
    others = list(schema)[:-1]  # bytes is the last column
    arrays = [
        pa.array(col, type=f.type)
        for col, f in zip(_columns(columns, len(others)), others, strict=True)
    ]
    return pa.Table.from_arrays([*arrays, data], schema=schema)


def _of(counts: list[int]) -> np.ndarray[Any, np.dtype[np.int32]]:
    """For each row, the index of its measurement (`counts`: how many rows each has)."""
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


def _observed(measurements: pa.Table, own: Sequence[tuple[Any, ...]], of: list[int]) -> pa.Table:
    """Observation rows from their own columns and their measurements' shared ones."""
    index = np.array(of, dtype=np.int32)
    return _own_table("observations", measurements, list(zip(*own, strict=True)), index)


def _own_table(
    name: str,
    measurements: pa.Table,
    own: Sequence[Sequence[Any]],
    of: np.ndarray[Any, np.dtype[np.int32]],
) -> pa.Table:
    """Observation or fact rows from their own columns, and the shared ones of the measurement
    rows `of` gives for each."""
    schema = SCHEMAS[name]
    index = pa.array(of)
    # One contiguous array per column first: take() on it is twice as fast as on a chunked one.
    shared = {
        column: measurements.column(column).combine_chunks().take(index)
        for column in SHARED_COLUMNS[name]
    }
    columns = dict(zip(OWN_COLUMNS[name], own, strict=True))
    arrays = [
        shared[f.name] if f.name in shared else pa.array(columns[f.name], type=f.type)
        for f in schema
    ]
    return pa.Table.from_arrays(arrays, schema=schema)


def _merged(stored: _Digests, fresh: _Digests) -> _Digests:
    """The sorted stored digests with the fresh ones added. Inserting them costs one copy of
    the stored array; np.union1d (numpy 2.4) took 0.6 s a commit with a million stored, 4 s
    with five million: 15 and 100 us per measurement of a 200,000-row batch."""
    fresh = np.sort(fresh)
    at = np.searchsorted(stored, fresh)
    inside = at < len(stored)
    known = np.zeros(len(fresh), dtype=bool)
    known[inside] = stored[at[inside]] == fresh[inside]  # only a repeated add() can do that
    return np.insert(stored, at[~known], fresh[~known])


def _file_name(table: str, date: str, cc: str, tag: str) -> str:
    return f"{PARQUET_DIR}/{table}/date={date}/cc={cc}/{tag}.parquet"


def _recover(db: Path) -> tuple[_Digests, int]:
    """Undo an interrupted commit (only what its journal proves is its own), check the store,
    and return the stored id digests, sorted, and the number of committed batches."""
    _undo_interrupted_commit(db)
    manifest = inspect_store(db)
    digests = []
    for name in manifest.files.get("measurements", []):
        try:
            table = pq.read_table(db / name, columns=[ID_HASH_COLUMN])
        except (OSError, pa.ArrowException) as exc:
            raise damaged(db, f"cannot read committed {name}: {exc}") from None
        digests.append(table.column(0).to_numpy())
    if not digests:
        return np.empty(0, dtype=np.uint64), manifest.batches
    return _distinct(np.concatenate(digests).astype(np.uint64)), manifest.batches


def _undo_interrupted_commit(db: Path) -> None:
    """With a journal left by a killed commit: drop its cut manifest line (only if it is a
    prefix of the journal's line) and its files (only those the manifest does not commit)."""
    journal = read_journal(db)
    if journal is None:
        return
    path = db / MANIFEST_NAME
    data = path.read_bytes() if path.exists() else b""
    valid = data.rfind(b"\n") + 1
    tail = data[valid:]
    if tail:
        if not journal.explains(tail):
            raise damaged(db, f"{MANIFEST_NAME} ends in a cut line that no commit explains")
        if tail == journal.line and all((db / name).is_file() for name in journal.files):
            append_manifest(db, b"\n")  # whole but for its newline: the commit went through
            clear_journal(db)
            return
        truncate_manifest(db, valid)
    elif journal.line is not None and data.endswith(journal.line + b"\n"):
        clear_journal(db)  # the commit went through; only the journal was left
        return
    for name in sorted(journal.files):
        for leftover in (db / name, db / (name + ".tmp")):
            leftover.unlink(missing_ok=True)
    clear_journal(db)


def _distinct(digests: _Digests) -> _Digests:
    """Sorted, each once: np.unique's result, which it took 4.7 s to give for five million
    (numpy 2.4) where a sort takes 35 ms."""
    digests = np.sort(digests)
    keep = np.ones(len(digests), dtype=bool)
    np.not_equal(digests[1:], digests[:-1], out=keep[1:])
    return digests[keep]


def write_table_file(final: Path, table: pa.Table, own: dict[str, Any]) -> dict[str, Any]:
    """`table` as the Parquet file `final` of the table `own["table"]`, carrying `own` in its
    metadata: written under a temporary name, synced, renamed, its folder synced. What the
    manifest records about it (SHA-256, rows, bytes)."""
    temp = final.with_name(final.name + ".tmp")
    # The file says itself what it is, so `store repair` can rebuild a lost manifest.
    table = table.replace_schema_metadata({b"reachwatch": orjson.dumps(own)})
    # Measurement bytes are all distinct: a dictionary of them, or min/max statistics,
    # would cost time and buy nothing.
    plain = own["table"] != "evidence"
    pq.write_table(table, temp, compression="zstd", use_dictionary=plain, write_statistics=plain)
    digest = hashlib.sha256()
    size = 0
    with temp.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
        os.fsync(fh.fileno())
    temp.rename(final)
    fsync_dir(final.parent)
    return {"sha256": digest.hexdigest(), "rows": table.num_rows, "bytes": size}
