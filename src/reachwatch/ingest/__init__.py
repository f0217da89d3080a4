"""Ingest: OONI and Censored Planet corpora and reachwatch's own output into the store.

`ingest(paths, db)` reads, checks, dedupes, classifies and stores; `rejudge(db)` classifies
the stored measurements again from the bytes the store keeps; `sync_ooni` downloads
OONI's raw measurements from its public bucket layout.
"""

from reachwatch.ingest._errors import IngestError, SyncError
from reachwatch.ingest._pipeline import IngestSummary, Progress, expand_paths, ingest
from reachwatch.ingest._rejudge import RejudgeSummary, rejudge

__all__ = [
    "IngestError",
    "IngestSummary",
    "Progress",
    "RejudgeSummary",
    "SyncError",
    "expand_paths",
    "ingest",
    "rejudge",
]
