"""Ingest: OONI and Censored Planet corpora and reachwatch's own output into the store."""
