"""The report's own exception."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class ReportError(ReachwatchError):
    """The report cannot be written or printed where asked; one-line message."""
