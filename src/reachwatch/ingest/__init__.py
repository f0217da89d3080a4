"""Ingest: OONI and Censored Planet corpora and reachwatch's own output into the store.

`ingest(paths, db)` reads, checks, dedupes, classifies and stores; `sync_ooni` downloads
OONI's raw measurements from its public bucket layout.
"""

from reachwatch.ingest._pipeline import IngestSummary, Progress, expand_paths, ingest

__all__ = ["IngestSummary", "Progress", "expand_paths", "ingest"]
