"""Ingest files into a store: read, check, dedupe, classify, write; quarantine the rest."""

from __future__ import annotations

import gc
import hashlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from reachwatch.catalog import platform_for_host
from reachwatch.classify.verdicts import Classified
from reachwatch.cluster import Engine
from reachwatch.formats.censoredplanet import censoredplanet_identity, record_kind
from reachwatch.formats.ooni import BadMeasurement, Identity, is_ooni, ooni_identity
from reachwatch.ingest._errors import IngestError
from reachwatch.ingest._facts import ooni_facts
from reachwatch.ingest._judge import Fingerprints, InvalidMeasurement, Judge, Unsupported
from reachwatch.ingest._lines import Problem, Record, file_kind, read_items
from reachwatch.ingest._quarantine import DEFAULT_CAP, Quarantine, path_text
from reachwatch.store import ChunkBuilder, RowChunk, StoreWriter, id_hash
from reachwatch.store._manifest import QUARANTINE_DIR


@dataclass(slots=True)
class Progress:
    """Where a run is; passed to the progress callback as it goes."""

    files_total: int
    files_done: int = 0
    records: int = 0  # JSON records read, measurements or not
    bytes_read: int = 0
    started: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class IngestSummary:
    """What a run did. `stored` counts measurements (classified or kept raw)."""

    files: int
    stored: int
    duplicates: int
    unsupported: int
    quarantined: dict[str, int]
    quarantine_file: Path
    bytes_read: int
    seconds: float
    quarantine_cap: int = DEFAULT_CAP  # entries written whole to the quarantine file
    quarantine_overflow: int = 0  # entries past the cap: counted, not written

    def to_json(self) -> dict[str, Any]:
        return {
            "stored": self.stored,
            "duplicates": self.duplicates,
            "unsupported": self.unsupported,
            "quarantined": dict(sorted(self.quarantined.items())),
            "quarantine_file": str(self.quarantine_file),
            "quarantine_cap": self.quarantine_cap,
            "quarantine_overflow": self.quarantine_overflow,
            "files": self.files,
            "bytes": self.bytes_read,
            "seconds": round(self.seconds, 3),
        }


ProgressCallback = Callable[[Progress], None]


def ingest(
    paths: Iterable[Path | str],
    db: Path | str,
    *,
    fingerprints: Fingerprints | None = None,
    batch_size: int = 200_000,
    on_progress: ProgressCallback | None = None,
    quarantine_cap: int = DEFAULT_CAP,
    jobs: int = 1,
    engine: Engine | None = None,
) -> IngestSummary:
    """Ingest files and folders (recursively) into the store at `db`.

    Every valid measurement is stored once, however often it appears; every bad record or
    unreadable file is counted by reason and written to a quarantine file in the store (the
    first `quarantine_cap` of them whole, the rest counted).
    Classification uses `fingerprints` (reachwatch's shipped set when None).
    `jobs` > 1 reads and judges in that many worker processes, and an `engine` on Dask on
    that cluster's workers; this process stays the one writer and adds their rows in input
    order, so the store holds what `jobs=1` gives.
    """
    engine = engine or Engine("embedded", jobs=jobs)
    files = list(expand_paths(paths, skip=Path(db)))
    judge = Judge(fingerprints)
    with (
        _heap_so_far_frozen(),
        # The cluster first: one that cannot be used stops the run before the store is touched.
        _cluster_units(engine, judge, bool(files)) as units,
        StoreWriter(db, batch_size=batch_size, threads=engine.jobs) as writer,
    ):
        quarantine = Quarantine(Path(db) / QUARANTINE_DIR, quarantine_cap)
        run = _Run(writer, judge, quarantine, len(files), on_progress)
        try:
            if units is not None:
                from reachwatch.ingest._parallel import ingest_in_workers

                ingest_in_workers(run, files, units)
            elif engine.jobs > 1 and files:
                # Deferred: the worker pool is only loaded by runs that use it.
                from reachwatch.ingest._parallel import ingest_in_workers, local_units

                ingest_in_workers(run, files, local_units(judge.fingerprints, engine.jobs))
            else:
                for path in files:
                    run.ingest_file(path)
        finally:
            run.quarantine.close()
    return run.summary()


def _cluster_units(engine: Engine, judge: Judge, needed: bool) -> AbstractContextManager[Any]:
    """The engine's Dask cluster, ready to take units (None: not on Dask, or no work)."""
    if not (engine.on_dask and needed):
        return nullcontext(None)
    from reachwatch.ingest._on_dask import dask_units

    return dask_units(engine, judge.fingerprints)


@contextmanager
def _heap_so_far_frozen() -> Iterator[None]:
    """Keep the objects alive before the run (modules, fingerprints) out of the collector's
    full passes while it lasts: a run buffers hundreds of thousands of rows, so full passes
    come often, and each walked that whole unchanging heap again (about 2 us a measurement).
    A heap the application froze itself is left as it is."""
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def expand_paths(paths: Iterable[Path | str], *, skip: Path | None = None) -> Iterator[Path]:
    """The files named, and every file under the folders named, in a stable order; nothing
    under `skip` (the store itself, when it sits inside a folder being ingested)."""
    skipped = skip.resolve() if skip is not None else None
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                try:
                    in_store = skipped is not None and child.resolve().is_relative_to(skipped)
                except (OSError, RuntimeError):  # a symlink loop: no file, and not the store
                    in_store = False
                if in_store:
                    continue
                # absolute(), not resolve(): a link is read by its own name, since a .jsonl
                # link may point at a blob named by its hash (git-annex, DVC).
                if child.is_file() and not child.name.startswith("."):
                    yield child.absolute()
        elif path.is_file():
            yield path.absolute()
        else:
            raise IngestError(f"{path}: no such file or folder")


class _Run:
    def __init__(
        self,
        writer: StoreWriter,
        judge: Judge,
        quarantine: Quarantine,
        files_total: int,
        on_progress: ProgressCallback | None,
    ) -> None:
        self.writer = writer
        self.judge = judge
        self.quarantine = quarantine
        self.progress = Progress(files_total)
        self.on_progress = on_progress
        self.stored = 0
        self.duplicates = 0
        self.unsupported = 0

    def summary(self) -> IngestSummary:
        return IngestSummary(
            files=self.progress.files_total,
            stored=self.stored,
            duplicates=self.duplicates,
            unsupported=self.unsupported,
            quarantined=dict(self.quarantine.counts),
            quarantine_file=self.quarantine.path,
            bytes_read=self.progress.bytes_read,
            seconds=time.monotonic() - self.progress.started,
            quarantine_cap=self.quarantine.cap,
            quarantine_overflow=self.quarantine.overflow,
        )

    def ingest_file(self, path: Path) -> None:
        """Read, judge and take one file in this process: the chunks a worker would make (a
        measurement already stored is not judged: it is a duplicate whatever it holds)."""
        if file_kind(path) is None:
            self.quarantine.add(path, 0, *_unread_file_reason(path))
            self.file_done()
            return
        error: str | None = None
        for message in judge_chunks(self.judge, path, known=self.writer.holds):
            if message[0] == "chunk":
                self.take_chunk(path, message[1], message[2])
            else:
                error = message[1]
        self.ingest_end(path, error)

    def _reject(self, path: Path, problem: Problem) -> None:
        self.quarantine.add(path, problem.line, problem.reason, problem.detail, problem.raw)

    def take_chunk(
        self, path: Path, control: list[tuple[Any, ...]], chunk: RowChunk | None
    ) -> None:
        """Store or count each item of a chunk `judge_chunks` made, in order: what is not yet
        stored is picked out of `chunk`; the rest goes to the quarantine or is counted."""
        for entry in control:
            kind = entry[0]
            if kind == _PROBLEM:
                self.quarantine.add(path, entry[1], entry[2], entry[3], entry[4])
                continue
            if kind == _REFUSED:
                self._count(len(entry[2]))
                self.quarantine.add(path, entry[1], entry[3], entry[4], entry[2])
                continue
            self._count(len(entry[2]) if kind == _INVALID else entry[2])
            if self.writer.holds(entry[3]):
                self._duplicate(path, entry[1], entry[4])
            elif kind == _STORED and chunk is not None:
                self.writer.add_from(chunk, entry[5])
                self.stored += 1
                self.unsupported += entry[6]
            elif kind == _INVALID:
                self._reject(path, Problem(entry[1], entry[5], entry[6], entry[2]))
            else:  # judged as known when the chunk was made; nothing forgets a measurement
                raise RuntimeError(f"{path}:{entry[1]}: a measurement the store held is gone")

    def take_record(self, path: Path, source: str, record: Record) -> str:
        """One record read elsewhere (IngestSession), taken as a file's would be: "stored",
        "duplicate" or the reason it was quarantined."""
        builder = ChunkBuilder()
        entry = _judged_item(self.judge, path, source, record, builder, self.writer.holds)
        stored, duplicates = self.stored, self.duplicates
        self.take_chunk(path, [entry], builder.build() if len(builder) else None)
        if self.stored > stored:
            return "stored"
        if self.duplicates > duplicates:
            return "duplicate"
        reason: str = entry[3] if entry[0] == _REFUSED else entry[5]
        return reason

    def _count(self, size: int) -> None:
        progress = self.progress
        progress.bytes_read += size
        progress.records += 1
        if self.on_progress and progress.records % 5000 == 0:
            self.on_progress(progress)

    def _duplicate(self, path: Path, line: int, measurement_id: str) -> None:
        self.duplicates += 1
        self.quarantine.write(path, line, "duplicate", measurement_id)

    def ingest_end(self, path: Path, error: str | None) -> None:
        """A file read in a worker is done (`error`: why it could not be read on)."""
        if error is not None:
            self.quarantine.add(path, 0, "unreadable_file", error)
        self.file_done()

    def file_done(self) -> None:
        self.progress.files_done += 1
        if self.on_progress:
            self.on_progress(self.progress)


# A chunk of a file's items judged, as `judge_chunks` gives it: a control entry an item, in
# order, and the built rows of the measurements that can be stored (a RowChunk). An entry is:
#   (_PROBLEM, line, reason, detail, raw)                    the file's own problem, not a record
#   (_REFUSED, line, raw, reason, detail)                    a record that is not a measurement
#   (_STORED, line, size, digest, measurement_id, index, raw) a measurement, rows at `index`
#                                                              (raw: 1 when kept unclassified)
#   (_INVALID, line, raw, digest, measurement_id, reason, detail)  quarantined unless a duplicate
#   (_KNOWN, line, size, digest, measurement_id)             stored already: not judged
# Plain tuples, so a worker process sends them marshalled, small and fast; whether an item is a
# duplicate is the writer's to say.
_PROBLEM, _REFUSED, _STORED, _INVALID, _KNOWN = 0, 1, 2, 3, 4
_STORE, _KEEP_RAW, _INVALID_OUTCOME = 0, 1, 2

CHUNK_ITEMS = 500  # items a chunk holds at most (a shared file's parts are whole chunks)
_CHUNK_BYTES = 8 << 20  # a chunk is closed early once its records hold this many bytes


def judge_chunks(
    judge: Judge,
    path: Path,
    part: int = 0,
    parts: int = 1,
    read_from: Path | None = None,
    known: Callable[[int], bool] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """A file's items judged, a chunk at a time: ("chunk", control, RowChunk or None, closes)
    messages, then ("end", why the file could not be read to its end, or None). With `parts`
    > 1 only every `parts`-th chunk of CHUNK_ITEMS items from chunk `part` on, `closes` telling
    which message ends a chunk. `read_from`: where to read `path` here, when not `path`
    itself; `known(digest)`: a measurement stored already, which need not be judged."""
    source = path_text(path)
    builder = ChunkBuilder()
    control: list[tuple[Any, ...]] = []
    size = index = 0
    error: str | None = None
    try:
        for item in read_items(read_from or path):
            mine = parts == 1 or (index // CHUNK_ITEMS) % parts == part
            index += 1
            if not mine:
                continue
            control.append(_judged_item(judge, path, source, item, builder, known))
            size += len(item.raw) if item.raw is not None else 0
            closes = index % CHUNK_ITEMS == 0
            if closes or size >= _CHUNK_BYTES:
                yield ("chunk", control, builder.build() if len(builder) else None, closes)
                builder, control, size = ChunkBuilder(), [], 0
    except OSError as exc:
        error = str(exc)
    if control:
        yield ("chunk", control, builder.build() if len(builder) else None, True)
    yield ("end", error)


def _judged_item(
    judge: Judge,
    path: Path,
    source: str,
    item: Record | Problem,
    builder: ChunkBuilder,
    known: Callable[[int], bool] | None,
) -> tuple[Any, ...]:
    """One item's control entry (see judge_chunks); a measurement's rows go to `builder`."""
    if isinstance(item, Problem):
        return (_PROBLEM, item.line, item.reason, item.detail, item.raw)
    found = _identify(path, item)
    if isinstance(found, Problem):
        return (_REFUSED, item.line, item.raw, found.reason, found.detail)
    value, identity, digest, cp_kind = found
    raw = item.raw
    mid = identity.measurement_id
    if known is not None and known(digest):
        return (_KNOWN, item.line, len(raw), digest, mid)
    outcome = _judged(judge, source, item, value, identity, cp_kind)
    kind = outcome[0]
    if kind == _STORE:
        at = builder.add_observed(
            digest, outcome[1], outcome[2], outcome[3], outcome[4], raw, outcome[5], outcome[6]
        )
        return (_STORED, item.line, len(raw), digest, mid, at, 0)
    if kind == _KEEP_RAW:
        at = builder.add_raw(
            digest, outcome[1], outcome[2], outcome[3], outcome[4], len(raw), raw, outcome[5]
        )
        return (_STORED, item.line, len(raw), digest, mid, at, 1)
    return (_INVALID, item.line, raw, digest, mid, outcome[1], outcome[2])


def _identify(
    path: Path, item: Record
) -> Problem | tuple[dict[str, Any], Identity, int, str | None]:
    """The record's identity and id digest (and its Censored Planet kind), or why it is not a
    measurement."""
    value = item.value
    if not isinstance(value, dict):
        return Problem(item.line, "not_an_object", type(value).__name__, item.raw)
    try:
        if is_ooni(value):
            cp_kind = None
            identity = ooni_identity(value, item.raw)
        else:
            cp_kind = record_kind(value)
            if cp_kind is None:
                raise BadMeasurement("not_a_measurement", "neither OONI nor Censored Planet")
            if cp_kind == "satellite_v1":
                raise BadMeasurement("unsupported_format", "Censored Planet Satellite v1")
            identity = censoredplanet_identity(value, cp_kind, item.raw, path)
    except BadMeasurement as exc:
        return Problem(item.line, exc.reason, str(exc), item.raw)
    return value, identity, id_hash(identity.measurement_id), cp_kind


def _judged(
    judge: Judge,
    source: str,
    item: Record,
    value: Mapping[str, Any],
    identity: Identity,
    cp_kind: str | None,
) -> tuple[Any, ...]:
    """The rows to store for a measurement, or why it cannot be: one of
    (_STORE, date, cc, measurement row, observation rows, facts, SHA-256 of the bytes),
    (_KEEP_RAW, date, cc, measurement row, raw row, SHA-256) for a test reachwatch does not
    classify, or (_INVALID_OUTCOME, reason, detail)."""
    try:
        if cp_kind is None:
            classified = judge.ooni(value, identity.measurement_id)
            facts = ooni_facts(value)
        else:
            classified = judge.censoredplanet(value)
            facts = []
    except Unsupported:
        row = _measurement_row(identity, None, source, item.line)
        raw = _raw_row(identity, source, item)
        return (_KEEP_RAW, identity.date, identity.probe_cc, row, raw, _sha256(item.raw))
    except InvalidMeasurement as exc:
        return (_INVALID_OUTCOME, "invalid_measurement", str(exc))
    except Exception as exc:  # a classifier bug must not stop the run or lose the line
        return (_INVALID_OUTCOME, "classifier_error", f"{type(exc).__name__}: {exc}")
    row = _measurement_row(identity, classified, source, item.line, judge)
    observed = _observed_rows(classified)
    return (_STORE, identity.date, identity.probe_cc, row, observed, facts, _sha256(item.raw))


def _sha256(raw: bytes) -> str:
    # Here, with the judging, rather than in the writer: with --jobs and on Dask this runs
    # in the workers, and the one writer has that much less to do per measurement.
    return hashlib.sha256(raw).hexdigest()


def _unread_file_reason(path: Path) -> tuple[str, str]:
    if path.suffix.lower() == ".part":
        return "incomplete_download", "a download `reachwatch ooni sync` has not finished"
    return "unsupported_file_type", "not a .json, .jsonl, .jsonl.gz or ooniprobe .yaml file"


# Memo by host name, not by measurement: real corpora measure the same few hosts over and over.
@lru_cache(maxsize=1 << 16)
def _platform(host: str | None) -> str | None:
    return platform_for_host(host) if host else None


def _measurement_row(
    identity: Identity,
    classified: Classified | None,
    source: str,
    line: int,
    judge: Judge | None = None,
) -> tuple[Any, ...]:
    """`judge`: the classifier that gave the verdict (its version and fingerprints' hash)."""
    judged = classified is not None and judge is not None
    return (
        identity.measurement_id,
        identity.source,
        identity.test_name,
        identity.input,
        identity.host,
        _platform(identity.host),
        identity.probe_cc,
        identity.probe_asn,
        identity.start,
        identity.start.date(),
        classified.verdict if classified else None,
        classified.technique if classified else None,
        classified is not None,
        identity.synthetic,
        source,
        line,
        judge.version if judged and judge is not None else None,
        judge.fingerprints_sha256 if judged and judge is not None else None,
    )


def _observed_rows(classified: Classified) -> list[tuple[Any, ...]]:
    """A measurement's observation rows without the columns they share with it (the writer
    fills those in): reachwatch.store._writer.OBSERVATION_OWN_COLUMNS, in order."""
    return [
        (
            _platform(obs.host),
            obs.host,
            obs.address,
            obs.layer,
            obs.verdict,
            obs.rule,
            obs.technique,
            obs.failure,
            *obs.loni,
        )
        for obs in classified.observations
    ]


def _raw_row(identity: Identity, source: str, item: Record) -> tuple[Any, ...]:
    return (
        identity.measurement_id,
        identity.source,
        identity.test_name,
        identity.probe_cc,
        identity.start,
        identity.start.date(),
        source,
        item.line,
        item.raw.decode("utf-8", "replace"),
    )
