"""The simulator's own exception."""

from __future__ import annotations

from reachwatch.errors import ReachwatchError


class SimulationError(ReachwatchError):
    """The case cannot be simulated as asked, or its corpus cannot be written; one-line message."""
