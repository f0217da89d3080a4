"""Ingest's own exceptions: each message is one line that says what is wrong."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class IngestError(ReachwatchError):
    """An input to ingest cannot be used at all (not there); nothing was stored from it."""


class SyncError(ReachwatchError):
    """`ooni sync` cannot list, download or write what was asked; what finished is kept."""
