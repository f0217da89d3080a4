"""What the classifier refuses to start on: a fingerprint file or a measurement file that
cannot be used at all. (Per-record fates are in `_errors`, which is compiled; these are raised
once per file, so they stay interpreted and can derive from `ReachwatchError`.)"""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class FingerprintError(ReachwatchError):
    """A fingerprint file cannot be read, or holds a line that is not a usable fingerprint."""


class MeasurementFileError(ReachwatchError):
    """A file of measurements cannot be read at all (missing, unreadable, empty)."""
