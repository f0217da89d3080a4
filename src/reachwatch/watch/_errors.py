"""The watch's own exceptions."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class WatchError(ReachwatchError):
    """A watch that cannot run as asked: a bad schedule, webhook or state file."""


class WatchStopped(Exception):
    """Raised inside a round when a stop was asked for; the loop catches it and ends."""
