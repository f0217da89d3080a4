"""Ingest: OONI and Censored Planet corpora and reachwatch's own output into the store.

`ingest(paths, db)` reads, checks, dedupes, classifies and stores, with the facts read from
each measurement and, with each verdict, the `classifier_version()` and `fingerprints_sha256`
that gave it; `rejudge(db)` classifies the stored measurements again from the bytes the store
keeps; `IngestSession` feeds records one at a time through the same path into a writer a
long-running process holds (`reachwatch serve`); `sync_ooni` downloads
OONI's raw measurements from its public bucket layout.
"""

from reachwatch.ingest._errors import IngestError, SyncError
from reachwatch.ingest._pipeline import IngestSummary, Progress, expand_paths, ingest
from reachwatch.ingest._provenance import classifier_version, fingerprints_sha256
from reachwatch.ingest._rejudge import RejudgeSummary, rejudge
from reachwatch.ingest._session import DUPLICATE, STORED, IngestSession

__all__ = [
    "DUPLICATE",
    "STORED",
    "IngestError",
    "IngestSession",
    "IngestSummary",
    "Progress",
    "RejudgeSummary",
    "SyncError",
    "classifier_version",
    "expand_paths",
    "fingerprints_sha256",
    "ingest",
    "rejudge",
]
