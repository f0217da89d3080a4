"""Rejudge: the verdicts again, from the measurement bytes the store keeps, after a rule or
fingerprint change, without reading the corpus files again.

The measurements and observations files of every partition from `since` on are replaced as
one batch: the new rows are written, and the manifest line that commits them also names the
files they supersede, so readers see either the old verdicts or the new, never both. The old
files stay on disk. A measurement whose bytes the store does not hold (ingested before it kept
them) or that no longer classifies keeps its old rows.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from reachwatch.classify import Fingerprints, InvalidMeasurement, Unsupported
from reachwatch.classify.verdicts import Classified
from reachwatch.formats.censoredplanet import record_kind
from reachwatch.formats.ooni import is_ooni
from reachwatch.ingest._judge import Judge
from reachwatch.ingest._pipeline import _observed_rows
from reachwatch.store import StoreWriter, id_hash, open_store
from reachwatch.store._layout import inspect_store
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

_VERDICT = list(MEASUREMENTS_COLUMNS).index("verdict")


@dataclass(slots=True)
class RejudgeSummary:
    measurements: int  # measurements in the partitions rejudged
    rejudged: int  # classified again from their bytes
    changed: int  # whose overall verdict or technique changed
    kept: int  # kept as they were (no bytes stored, or not classifiable now)
    seconds: float

    def to_json(self) -> dict[str, Any]:
        return {
            "measurements": self.measurements,
            "rejudged": self.rejudged,
            "changed": self.changed,
            "kept": self.kept,
            "seconds": round(self.seconds, 3),
        }


def rejudge(
    db: Path | str, *, since: date | None = None, fingerprints: Fingerprints | None = None
) -> RejudgeSummary:
    """Classify every stored measurement from `since` on (all when None) again."""
    started = time.monotonic()
    db = Path(db)
    judge = Judge(fingerprints)
    with StoreWriter(db, batch_size=1 << 62) as writer:
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
            judged = [
                _classify(judge, row[0], data) if data is not None else None for row, data in rows
            ]
            kept = [row for (row, _), new in zip(rows, judged, strict=True) if new is None]
            carried = _carried(con, kept, since)
            for (row, _), new in zip(rows, judged, strict=True):
                _store_one(writer, row, new, carried, counts)
        finally:
            con.close()
        writer.commit(supersedes=replaced)
    return RejudgeSummary(
        len(rows), counts.rejudged, counts.changed, counts.kept, time.monotonic() - started
    )


@dataclass(slots=True)
class _Counts:
    rejudged: int = 0
    changed: int = 0
    kept: int = 0


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
    row: tuple[Any, ...],
    judged: Classified | None,
    carried: dict[str, list[tuple[Any, ...]]],
    counts: _Counts,
) -> None:
    """The measurement's rows: new verdicts, or its old rows whole when it was not judged."""
    measurement_id, cc, day = row[0], row[6], row[9].isoformat()
    digest = id_hash(measurement_id)
    if judged is None:
        counts.kept += 1
        writer.add(digest, day, cc, row, carried.get(measurement_id, []))
        return
    counts.rejudged += 1
    new = (*row[:_VERDICT], judged.verdict, judged.technique, True, *row[_VERDICT + 3 :])
    if new[_VERDICT : _VERDICT + 2] != row[_VERDICT : _VERDICT + 2]:
        counts.changed += 1
    writer.add_observed(digest, day, cc, new, _observed_rows(judged))


def _classify(judge: Judge, measurement_id: str, data: bytes) -> Classified | None:
    """The measurement judged again; None when it cannot be (not classified, malformed)."""
    try:
        value = orjson.loads(data)
        if not isinstance(value, dict):
            return None
        if is_ooni(value):
            return judge.ooni(value, measurement_id)
        if record_kind(value) is None:
            return None
        return judge.censoredplanet(value)
    except (orjson.JSONDecodeError, Unsupported, InvalidMeasurement):
        return None
    except Exception:  # a classifier bug: keep the old verdicts rather than lose the row
        return None
