"""Online alerts: a two-state Bernoulli CUSUM on the blocked share, fed one hour at a time.

While the series is clear, the statistic accumulates the log-likelihood ratio of "blocked share
p_blocked" against "p_clear"; when it crosses the threshold an alert is raised and the detector
switches to watching for the end with the roles reversed. An hour without decisive measurements
leaves the statistic untouched: no data is no evidence either way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class CusumParams:
    p_clear: float = 0.05  # blocked share expected when nothing is blocked (classifier noise)
    p_blocked: float = 0.6  # smallest blocked share worth an alert (partial blocking counts)
    p_still_blocked: float = 0.95  # share while a block holds, watching for its end
    p_restored: float = 0.3  # largest share that still counts as access coming back
    threshold: float = 9.0  # about four consecutive blocked measurements from a clear state


@dataclass(frozen=True, slots=True)
class Alert:
    index: int  # bucket index at whose close the alert was raised
    kind: Literal["start", "end"]


def _llr(p_from: float, p_to: float) -> tuple[float, float]:
    """Log-likelihood ratio contributed by one blocked and by one accessible measurement."""
    return math.log(p_to / p_from), math.log((1 - p_to) / (1 - p_from))


def cusum_alerts(
    decisive: npt.NDArray[np.int64],
    blocked: npt.NDArray[np.int64],
    params: CusumParams = CusumParams(),
) -> list[Alert]:
    """Alerts (start of blocking, end of blocking) for hourly counts, in order."""
    up = _llr(params.p_clear, params.p_blocked)
    down = _llr(params.p_still_blocked, params.p_restored)
    alerts: list[Alert] = []
    state_blocked = False
    stat = 0.0
    for i, (n, b) in enumerate(zip(decisive.tolist(), blocked.tolist(), strict=True)):
        if n == 0:
            continue
        w_blocked, w_clear = down if state_blocked else up
        stat = max(0.0, stat + b * w_blocked + (n - b) * w_clear)
        if stat > params.threshold:
            alerts.append(Alert(i, "end" if state_blocked else "start"))
            state_blocked = not state_blocked
            stat = 0.0
    return alerts
