"""Offline change points in a blocked share: exact PELT on the binomial likelihood.

Each hour contributes n decisive measurements of which b were blocked. A segment's cost is
minus its maximised binomial log-likelihood; PELT finds the segmentation minimising the total
cost plus a penalty per change, exactly (Killick et al. 2012). Likelihood costs satisfy PELT's
pruning condition, so the search stays close to linear on real series.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


def _xlogx(v: FloatArray) -> FloatArray:
    """v * log v with 0 * log 0 = 0 (v is a count, so never in (0, 1))."""
    return v * np.log(np.maximum(v, 1.0))


def segment_costs(cum_n: FloatArray, cum_b: FloatArray, starts: IntArray, end: int) -> FloatArray:
    """Minus the maximised binomial log-likelihood of each segment [start, end):
    -(b log(b/n) + (n-b) log((n-b)/n)) = n log n - b log b - (n-b) log(n-b)."""
    n = cum_n[end] - cum_n[starts]
    b = cum_b[end] - cum_b[starts]
    return _xlogx(n) - _xlogx(b) - _xlogx(n - b)


def default_penalty(total: int) -> float:
    """Twice BIC's penalty for the two parameters a change adds (its place and the new share):
    our cost is minus the log-likelihood, so BIC would charge log n; doubled because
    measurements within an hour are correlated (same probes, same paths). bench/detect.py
    measures what this gives: no false alarms, every block of 6 hours or more found."""
    return 2.0 * math.log(max(total, 2))


def pelt(n: IntArray, b: IntArray, *, penalty: float | None = None) -> list[int]:
    """Indices where a new segment starts (excluding 0), for counts n (decisive) and b
    (blocked) per bucket. Buckets with n == 0 must be removed by the caller."""
    size = len(n)
    if size == 0:
        return []
    beta = default_penalty(int(n.sum())) if penalty is None else penalty
    cum_n = np.concatenate(([0.0], np.cumsum(n, dtype=np.float64)))
    cum_b = np.concatenate(([0.0], np.cumsum(b, dtype=np.float64)))
    best = np.full(size + 1, np.inf)
    best[0] = -beta
    last = np.zeros(size + 1, dtype=np.int64)
    candidates = np.array([0], dtype=np.int64)
    for t in range(1, size + 1):
        costs = best[candidates] + segment_costs(cum_n, cum_b, candidates, t)
        i = int(np.argmin(costs))
        best[t] = costs[i] + beta
        last[t] = candidates[i]
        # Pruning: a start that cannot beat the optimum now never will (costs are additive).
        keep = candidates[costs <= best[t]]
        candidates = np.append(keep, t)
    changes: list[int] = []
    t = size
    while t > 0:
        s = int(last[t])
        if s > 0:
            changes.append(s)
        t = s
    return sorted(changes)


def split_scores(blocked: npt.NDArray[np.bool_], p_left: float, p_right: float) -> FloatArray:
    """Log-likelihood of every split j (blocked[:j] at share p_left, blocked[j:] at p_right).
    Shares are kept within [0.05, 0.95]: a block lets a few measurements through and a clear
    network shows a few failures, so one contrary measurement must not look impossible."""
    pl = min(max(p_left, 0.05), 0.95)
    pr = min(max(p_right, 0.05), 0.95)
    x = blocked.astype(np.float64)
    left = x * math.log(pl) + (1 - x) * math.log(1 - pl)
    right = x * math.log(pr) + (1 - x) * math.log(1 - pr)
    return np.concatenate(([0.0], np.cumsum(left))) + np.concatenate(
        (np.cumsum(right[::-1])[::-1], [0.0])
    )


def best_split(blocked: npt.NDArray[np.bool_], p_left: float, p_right: float) -> int:
    """Index j where, between single measurements, the change most likely happened."""
    return int(np.argmax(split_scores(blocked, p_left, p_right)))


def split_interval(
    blocked: npt.NDArray[np.bool_],
    p_left: float,
    p_right: float,
    *,
    gaps: FloatArray | None = None,
    level: float = 0.99,
) -> tuple[int, int, int]:
    """(best, first, last) split indices. best is the most likely split; first..last is the
    smallest stretch of splits around it that holds `level` of the posterior probability of
    where the change happened. gaps[j] is the time between measurements j-1 and j (len + 1
    values, the window's edges at either end): the change is equally likely at any moment, so
    a long gap is a priori more likely to hold it than two measurements a second apart.
    Without gaps every split is equally likely a priori.

    The shares are capped to [0.05, 0.95], so one measurement leaking through next to the
    change (or one background failure) costs a factor of 19, not an impossibility: a clean
    change gives one measurement either side of the best split, and a contrary measurement
    next to the change widens the bounds over it instead of excluding the true place."""
    scores = split_scores(blocked, p_left, p_right)
    best = int(np.argmax(scores))
    log_post = scores - scores[best]
    if gaps is not None:
        log_post = log_post + np.log(np.maximum(gaps, 1e-9))
    post = np.exp(log_post - log_post.max())
    post /= post.sum()
    # Highest-posterior splits first, until they hold `level`; their hull is the interval.
    order = np.argsort(-post, kind="stable")
    held = int(np.searchsorted(np.cumsum(post[order]), level)) + 1
    chosen = order[: min(held, len(order))]
    return best, int(min(chosen.min(), best)), int(max(chosen.max(), best))
