"""Rejudge: the verdicts again, from the measurement bytes the store keeps, after a rule or
fingerprint change, without reading the corpus files again.

The measurements and observations files of every partition from `since` on are replaced as
one batch: the new rows are written, with the classifier version and fingerprint hash that
gave them, and the manifest line that commits them also names the files they supersede, so
readers see either the old verdicts or the new, never both. The old files stay on disk. A
measurement whose bytes the store does not hold (ingested before it kept them) or that no
longer classifies keeps its old rows. Facts are read from the bytes, not judged: the facts
files are left as they are, and only a measurement that has none (stored before the store
kept facts) gets its facts, in the same batch.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from reachwatch.classify import Fingerprints, InvalidMeasurement, Unsupported
from reachwatch.classify.verdicts import Classified
from reachwatch.cluster import Engine
from reachwatch.formats.censoredplanet import record_kind
from reachwatch.formats.ooni import is_ooni
from reachwatch.ingest._facts import FACT_WIDTH, ooni_facts
from reachwatch.ingest._judge import Judge
from reachwatch.ingest._parallel import Units, local_units, map_in_workers
from reachwatch.ingest._pipeline import _cluster_units, _observed_rows
from reachwatch.store import StoreWriter, id_hash, open_store
from reachwatch.store._layout import inspect_store
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

_VERDICT = list(MEASUREMENTS_COLUMNS).index("verdict")
_VERSION = list(MEASUREMENTS_COLUMNS).index("classifier_version")
_FINGERPRINTS = list(MEASUREMENTS_COLUMNS).index("fingerprints_sha256")

# A measurement judged again: its verdict, technique and observation rows (their own columns),
# and its facts when it had none stored. Plain values: a worker process sends them back.
_Judged = tuple[str, str | None, list[tuple[Any, ...]], list[Any] | None]
# Measurements a worker judges again per unit of work (`jobs` > 1).
_CHUNK = 500


@dataclass(slots=True)
class RejudgeSummary:
    measurements: int  # measurements in the partitions rejudged
    rejudged: int  # classified again from their bytes
    changed: int  # whose overall verdict or technique changed
    kept: int  # kept as they were (no bytes stored, or not classifiable now)
    seconds: float
    classifier_version: str = ""  # what the new verdicts were judged with
    fingerprints_sha256: str = ""
    facts_added: int = 0  # fact rows read for measurements stored without facts

    def to_json(self) -> dict[str, Any]:
        return {
            "measurements": self.measurements,
            "rejudged": self.rejudged,
            "changed": self.changed,
            "kept": self.kept,
            "facts_added": self.facts_added,
            "classifier_version": self.classifier_version,
            "fingerprints_sha256": self.fingerprints_sha256,
            "seconds": round(self.seconds, 3),
        }


def rejudge(
    db: Path | str,
    *,
    since: date | None = None,
    fingerprints: Fingerprints | None = None,
    jobs: int = 1,
    engine: Engine | None = None,
) -> RejudgeSummary:
    """Classify every stored measurement from `since` on (all when None) again; with
    `jobs` > 1 in that many worker processes, or on the Dask cluster `engine` names (the same
    result: this process writes, in order)."""
    engine = engine or Engine("embedded", jobs=jobs)
    started = time.monotonic()
    db = Path(db)
    judge = Judge(fingerprints)
    # The cluster first: one that cannot be used stops the run before the store is touched.
    with (
        _cluster_units(engine, judge, True) as units,
        StoreWriter(db, batch_size=1 << 62, threads=engine.jobs) as writer,
    ):
        manifest = inspect_store(db)
        replaced = [
            name
            for table in ("measurements", "observations")
            for name in manifest.files.get(table, [])
            if since is None or _partition_date(name) >= since
        ]
        counts = _Counts()
        con = open_store(db, read_only=True)
        try:
            rows = _rows(con, since)
            with_facts = _with_facts(con, since)
            judged = _judge_all(judge, rows, with_facts, engine.jobs, units)
            kept = [row for (row, _), new in zip(rows, judged, strict=True) if new is None]
            carried = _carried(con, kept, since)
            for (row, _), new in zip(rows, judged, strict=True):
                _store_one(writer, judge, row, new, carried, counts)
        finally:
            con.close()
        writer.commit(supersedes=replaced)
    return RejudgeSummary(
        len(rows),
        counts.rejudged,
        counts.changed,
        counts.kept,
        time.monotonic() - started,
        judge.version,
        judge.fingerprints_sha256,
        counts.facts_added,
    )


@dataclass(slots=True)
class _Counts:
    rejudged: int = 0
    changed: int = 0
    kept: int = 0
    facts_added: int = 0


def _partition_date(name: str) -> date:
    part = next(p for p in Path(name).parts if p.startswith("date="))
    return date.fromisoformat(part.removeprefix("date="))


def _rows(con: Any, since: date | None) -> list[tuple[tuple[Any, ...], bytes | None]]:
    columns = ", ".join(f"m.{c}" for c in MEASUREMENTS_COLUMNS)
    where = "" if since is None else "WHERE m.date >= ?"
    found = con.execute(
        f"SELECT {columns}, e.bytes FROM measurements m "
        f"LEFT JOIN evidence e USING (measurement_id) {where} ORDER BY m.measurement_id",
        [] if since is None else [since],
    ).fetchall()
    return [(tuple(r[:-1]), bytes(r[-1]) if r[-1] is not None else None) for r in found]


def _with_facts(con: Any, since: date | None) -> set[str]:
    """The measurements that have facts stored."""
    where = "" if since is None else "WHERE date >= ?"
    found = con.execute(
        f"SELECT DISTINCT measurement_id FROM facts {where}", [] if since is None else [since]
    ).fetchall()
    return {row[0] for row in found}


def _carried(
    con: Any, rows: list[tuple[Any, ...]], since: date | None
) -> dict[str, list[tuple[Any, ...]]]:
    """The observation rows, whole, of the measurements that keep their old rows."""
    by_id: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    if not rows:
        return by_id
    columns = ", ".join(OBSERVATIONS_COLUMNS)
    where = "" if since is None else "WHERE date >= ?"
    wanted = {row[0] for row in rows}
    for obs in con.execute(
        f"SELECT {columns} FROM observations {where}", [] if since is None else [since]
    ).fetchall():
        if obs[0] in wanted:
            by_id[obs[0]].append(tuple(obs))
    return by_id


def _store_one(
    writer: StoreWriter,
    judge: Judge,
    row: tuple[Any, ...],
    found: _Judged | None,
    carried: dict[str, list[tuple[Any, ...]]],
    counts: _Counts,
) -> None:
    """The measurement's rows: new verdicts, or its old rows whole when it was not judged."""
    measurement_id, cc, day = row[0], row[6], row[9].isoformat()
    digest = id_hash(measurement_id)
    if found is None:
        counts.kept += 1
        writer.add(digest, day, cc, row, carried.get(measurement_id, []))
        return
    verdict, technique, observed, facts = found
    counts.rejudged += 1
    new = list(row)
    new[_VERDICT : _VERDICT + 3] = (verdict, technique, True)
    new[_VERSION] = judge.version
    new[_FINGERPRINTS] = judge.fingerprints_sha256
    if new[_VERDICT : _VERDICT + 2] != list(row[_VERDICT : _VERDICT + 2]):
        counts.changed += 1
    if facts:
        counts.facts_added += len(facts) // FACT_WIDTH
    writer.add_observed(digest, day, cc, tuple(new), observed, facts=facts or ())


def _judge_all(
    judge: Judge,
    rows: list[tuple[tuple[Any, ...], bytes | None]],
    with_facts: set[str],
    jobs: int,
    units: Units | None,
) -> list[_Judged | None]:
    """Every row judged again (None: not judged), in order; on the Dask cluster's `units`
    when given, else in `jobs` worker processes when more than one, each judging a chunk of
    rows at a time."""
    work = [(row[0], data, row[0] not in with_facts) for row, data in rows]
    if units is None and (jobs == 1 or len(work) <= _CHUNK):
        return [
            _classify(judge, mid, data, missing) if data is not None else None
            for mid, data, missing in work
        ]
    chunks = ((work[i : i + _CHUNK],) for i in range(0, len(work), _CHUNK))
    return list(
        map_in_workers(_judge_chunk, chunks, units or local_units(judge.fingerprints, jobs))
    )


def _judge_chunk(
    judge: Judge, work: list[tuple[str, bytes | None, bool]]
) -> Iterator[tuple[Any, ...]]:
    """A worker's unit: a chunk of measurements judged again (see `map_in_workers`)."""
    judged = [
        _classify(judge, mid, data, missing) if data is not None else None
        for mid, data, missing in work
    ]
    yield ("items", judged, True)
    yield ("end", None)


def _classify(
    judge: Judge, measurement_id: str, data: bytes, facts_missing: bool
) -> _Judged | None:
    """The measurement judged again, and its facts when `facts_missing`; None when it cannot
    be judged (not classified, malformed)."""
    try:
        value = orjson.loads(data)
        if not isinstance(value, dict):
            return None
        if is_ooni(value):
            judged = judge.ooni(value, measurement_id)
            return _plain(judged, ooni_facts(value) if facts_missing else None)
        if record_kind(value) is None:
            return None
        return _plain(judge.censoredplanet(value), None)
    except (orjson.JSONDecodeError, Unsupported, InvalidMeasurement):
        return None
    except Exception:  # a classifier bug: keep the old verdicts rather than lose the row
        return None


def _plain(classified: Classified, facts: list[Any] | None) -> _Judged:
    return classified.verdict, classified.technique, _observed_rows(classified), facts
