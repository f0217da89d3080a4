"""The store's own exceptions: each message is one line that says what is wrong and what to
run, which the command line prints as it is."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class StoreError(ReachwatchError):
    """The store cannot be used as asked; nothing in it was changed."""


class NotAStore(StoreError):
    """The folder is not a reachwatch store (or does not exist)."""


class StoreDamaged(StoreError):
    """The folder is a store whose manifest or committed files are not what it recorded."""


class StoreBusy(StoreError):
    """Another process is writing to the store."""
