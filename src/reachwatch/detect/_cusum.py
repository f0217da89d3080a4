"""Online alerts: a two-state Bernoulli CUSUM on the blocked share, fed one hour at a time.

While the series is clear, the statistic accumulates the log-likelihood ratio of "blocked share
p_blocked" against "p_clear"; when it crosses the threshold an alert is raised and the detector
switches to watching for the end: "share back down to p_restored" against the block's own share
as measured so far. So the alert state follows the blocked share, whatever level it settled at,
rather than each hour that dips below one half. An hour without decisive measurements leaves the
statistic untouched: no data is no evidence either way.
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
    # While a block holds, the end is judged against the block's own blocked share, measured
    # since its alert and drawn towards p_blocked by `prior` measurements' worth, and kept
    # within [2 * p_restored, p_still_blocked]: a block that hits 60% of measurements must
    # not read as "access back" each time an hour dips below one half.
    p_still_blocked: float = 0.8
    p_restored: float = 0.15  # largest share that still counts as access coming back
    prior: float = 10.0
    threshold: float = 9.0  # about four consecutive blocked measurements from a clear state
    # "Access back" asks for more evidence (e^-13.5, one in 700,000): a block that hits half
    # of the measurements has many runs of mostly accessible hours; each must not page.
    end_threshold: float = 13.5


@dataclass(frozen=True, slots=True)
class Alert:
    index: int  # bucket index at whose close the alert was raised
    kind: Literal["start", "end"]


def _llr(p_from: float, p_to: float) -> tuple[float, float]:
    """Log-likelihood ratio contributed by one blocked and by one accessible measurement."""
    return math.log(p_to / p_from), math.log((1 - p_to) / (1 - p_from))


def _block_share(params: CusumParams, n: int, b: int) -> float:
    """The blocked share a holding block is judged against, from its n measurements so far."""
    estimate = (b + params.prior * params.p_blocked) / (n + params.prior)
    return min(max(estimate, 2 * params.p_restored), params.p_still_blocked)


def cusum_alerts(
    decisive: npt.NDArray[np.int64],
    blocked: npt.NDArray[np.int64],
    params: CusumParams = CusumParams(),
) -> list[Alert]:
    """Alerts (start of blocking, end of blocking) for hourly counts, in order."""
    up = _llr(params.p_clear, params.p_blocked)
    alerts: list[Alert] = []
    state_blocked = False
    stat = 0.0
    run_n = run_b = 0  # measurements since the statistic last sat at zero
    for i, (n, b) in enumerate(zip(decisive.tolist(), blocked.tolist(), strict=True)):
        if n == 0:
            continue
        if state_blocked:
            # Judged on the share before this hour: the hour must not vouch for itself.
            w_blocked, w_clear = _llr(_block_share(params, run_n, run_b), params.p_restored)
        else:
            w_blocked, w_clear = up
        stat = max(0.0, stat + b * w_blocked + (n - b) * w_clear)
        # While clear, the run is the hours raising a start alert; once blocked, the block.
        if state_blocked or stat > 0.0:
            run_n, run_b = run_n + n, run_b + b
        else:
            run_n = run_b = 0
        if stat > (params.end_threshold if state_blocked else params.threshold):
            alerts.append(Alert(i, "end" if state_blocked else "start"))
            state_blocked = not state_blocked
            stat = 0.0
            if not state_blocked:
                run_n = run_b = 0
    return alerts
