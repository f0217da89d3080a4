"""Step timings: OONI's t0/t are seconds since the measurement started."""

from __future__ import annotations

import time


def now() -> float:
    return time.monotonic()


def since(started: float | None, moment: float) -> float:
    """Seconds from `started` (or from `moment` itself when no start is known) to `moment`."""
    return round(moment - (started if started is not None else moment), 6)


def span(started: float | None, begin: float) -> dict[str, float]:
    """The t0/t pair of a step that began at `begin` and ends now."""
    base = started if started is not None else begin
    return {"t0": round(begin - base, 6), "t": round(now() - base, 6)}
