"""Ingest one record at a time into a writer the caller holds: the same checks, dedupe,
classification and quarantine as `ingest`, for a long-running process (`reachwatch serve`)
that keeps the store's one writer open and feeds it measurements as they arrive."""

from __future__ import annotations

from pathlib import Path

import orjson

from reachwatch.ingest._judge import Fingerprints, Judge
from reachwatch.ingest._lines import Problem, Record
from reachwatch.ingest._pipeline import IngestSummary, _Run
from reachwatch.ingest._quarantine import DEFAULT_CAP, Quarantine
from reachwatch.store import StoreWriter
from reachwatch.store._manifest import QUARANTINE_DIR

STORED = "stored"
DUPLICATE = "duplicate"


class IngestSession:
    """Feeds single records through ingest's own path into `writer`, which stays the
    caller's: `take` buffers, `commit` makes what was taken durable (the store's batch and
    the quarantine file), `close` ends the quarantine file. One thread at a time."""

    def __init__(
        self,
        writer: StoreWriter,
        *,
        fingerprints: Fingerprints | None = None,
        quarantine_cap: int = DEFAULT_CAP,
    ) -> None:
        self.writer = writer
        quarantine = Quarantine(writer.db / QUARANTINE_DIR, quarantine_cap)
        self._run = _Run(writer, Judge(fingerprints), quarantine, 0, None)

    @property
    def quarantine_file(self) -> Path:
        return self._run.quarantine.path

    def take(self, source: str, line: int, raw: bytes) -> str:
        """Store one JSON record (its exact bytes) or count it: "stored", "duplicate", or the
        reason it was quarantined (docs/store-schema.md). `source` names where it came from,
        as `source_file` does for a file; `line` its position there."""
        path = Path(source)
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            self._run._reject(path, Problem(line, "invalid_json", str(exc), raw))
            return "invalid_json"
        return self._run.take_record(path, source, Record(line, value, raw))

    def commit(self) -> None:
        """Commit the writer's batch, then sync the quarantine file: both are on disk when
        this returns."""
        self.writer.commit()
        self._run.quarantine.sync()

    def summary(self) -> IngestSummary:
        return self._run.summary()

    def close(self) -> None:
        self._run.quarantine.close()
