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
from reachwatch.store import StoreWriter, id_hash
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
        StoreWriter(db, batch_size=batch_size) as writer,
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
        if file_kind(path) is None:
            self.quarantine.add(path, 0, *_unread_file_reason(path))
        else:
            source = path_text(path)  # as stored in every row of this file
            try:
                for item in read_items(path):
                    if isinstance(item, Record):
                        self._take(path, source, item)
                    else:
                        self._reject(path, item)
            except OSError as exc:
                self.quarantine.add(path, 0, "unreadable_file", str(exc))
        self.file_done()

    def _reject(self, path: Path, problem: Problem) -> str:
        self.quarantine.add(path, problem.line, problem.reason, problem.detail, problem.raw)
        return problem.reason

    def _take(self, path: Path, source: str, item: Record) -> str:
        """Store one record, or count it: "stored", "duplicate" or the quarantine reason."""
        self._count(item.raw)
        found = _identify(path, item)
        if isinstance(found, Problem):
            return self._reject(path, found)
        value, identity, digest, cp_kind = found
        if self.writer.holds(digest):
            return self._duplicate(path, item.line, identity.measurement_id)
        outcome = _judged(self.judge, source, item, value, identity, cp_kind)
        return self._apply(path, item.line, item.raw, digest, outcome)

    def take_wire(self, path: Path, wire: tuple[Any, ...]) -> None:
        """Store or count one item as `wire_item` gave it (in a worker process): the same
        calls on the writer and the quarantine, in the same order, as `_take` would make."""
        kind = wire[0]
        if kind == _PROBLEM:
            self.quarantine.add(path, wire[1], wire[2], wire[3], wire[4])
            return
        raw: bytes = wire[2]
        self._count(raw)
        if kind == _REFUSED:
            self.quarantine.add(path, wire[1], wire[3], wire[4], raw)
            return
        digest: int = wire[3]
        if self.writer.holds(digest):
            self._duplicate(path, wire[1], wire[4])
        else:
            self._apply(path, wire[1], raw, digest, wire[5])

    def _count(self, raw: bytes) -> None:
        progress = self.progress
        progress.bytes_read += len(raw)
        progress.records += 1
        if self.on_progress and progress.records % 5000 == 0:
            self.on_progress(progress)

    def _duplicate(self, path: Path, line: int, measurement_id: str) -> str:
        self.duplicates += 1
        self.quarantine.write(path, line, "duplicate", measurement_id)
        return "duplicate"

    def _apply(
        self, path: Path, line: int, raw: bytes, digest: int, outcome: tuple[Any, ...]
    ) -> str:
        """Add what `_judged` made of a record that is not yet stored."""
        kind = outcome[0]
        if kind == _STORE:
            self.writer.add_observed(
                digest, outcome[1], outcome[2], outcome[3], outcome[4], raw, outcome[5],
                evidence_sha256=outcome[6],
            )  # fmt: skip
        elif kind == _KEEP_RAW:
            self.writer.add(
                digest,
                outcome[1],
                outcome[2],
                outcome[3],
                raw=outcome[4],
                size=len(raw),
                evidence=raw,
                evidence_sha256=outcome[5],
            )
            self.unsupported += 1
        else:
            return self._reject(path, Problem(line, outcome[1], outcome[2], raw))
        self.stored += 1
        return "stored"

    def ingest_end(self, path: Path, error: str | None) -> None:
        """A file read in a worker is done (`error`: why it could not be read on)."""
        if error is not None:
            self.quarantine.add(path, 0, "unreadable_file", error)
        self.file_done()

    def file_done(self) -> None:
        self.progress.files_done += 1
        if self.on_progress:
            self.on_progress(self.progress)


# What a record came to, as plain tuples: a worker process sends them to the one writer, so
# they pickle small and fast. `wire_item` gives one of:
#   (_PROBLEM, line, reason, detail, raw)                 the file's own problem, not a record
#   (_REFUSED, line, raw, reason, detail)                 a record that is not a measurement
#   (_JUDGED, line, raw, digest, measurement_id, outcome) a measurement, `_judged`'s outcome
# and `_judged` one of:
#   (_STORE, date, cc, measurement row, observation rows, facts, SHA-256 of the bytes)
#   (_KEEP_RAW, date, cc, measurement row, raw row, SHA-256)  a test reachwatch does not classify
#   (_INVALID, reason, detail)                            quarantined unless a duplicate
_PROBLEM, _REFUSED, _JUDGED = 0, 1, 2
_STORE, _KEEP_RAW, _INVALID = 0, 1, 2


def wire_item(judge: Judge, path: Path, source: str, item: Record | Problem) -> tuple[Any, ...]:
    """One item of a file judged, without the store: a duplicate is told by the writer."""
    if isinstance(item, Problem):
        return (_PROBLEM, item.line, item.reason, item.detail, item.raw)
    found = _identify(path, item)
    if isinstance(found, Problem):
        return (_REFUSED, item.line, item.raw, found.reason, found.detail)
    value, identity, digest, cp_kind = found
    outcome = _judged(judge, source, item, value, identity, cp_kind)
    return (_JUDGED, item.line, item.raw, digest, identity.measurement_id, outcome)


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
    """The rows to store for a measurement, or why it cannot be (see `wire_item`)."""
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
        return (_INVALID, "invalid_measurement", str(exc))
    except Exception as exc:  # a classifier bug must not stop the run or lose the line
        return (_INVALID, "classifier_error", f"{type(exc).__name__}: {exc}")
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
