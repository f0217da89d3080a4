"""Offline change points in a blocked share: exact PELT on the binomial likelihood.

Each hour contributes n decisive measurements of which b were blocked. A segment's cost is
minus its maximised binomial log-likelihood; PELT finds the segmentation minimising the total
cost plus a penalty per change, exactly (Killick et al. 2012). Likelihood costs satisfy PELT's
pruning condition, so a start is dropped once a change makes it hopeless; inside a long steady
stretch none is, and the search there is quadratic (a year of hourly buckets: ~30 million
candidate costs), which is why it runs compiled.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

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
    (blocked) per bucket. Buckets with n == 0 must be removed by the caller.

    The search is `pelt_reference`'s, step for step and bit for bit (the same sums in the same
    order, each segment's n log n terms taken from a table made by the same numpy function),
    as one compiled loop: on a year of hourly buckets the candidates PELT cannot prune (every
    start inside a long steady stretch) number thousands, and numpy's per-call overhead on each
    hour's vector of them made it seconds a series."""
    size = len(n)
    if size == 0:
        return []
    beta = default_penalty(int(n.sum())) if penalty is None else penalty
    cum_n = np.concatenate(([0], np.cumsum(n, dtype=np.int64)))
    cum_b = np.concatenate(([0], np.cumsum(b, dtype=np.int64)))
    # n log n of every count a segment can hold: segment counts are differences of these sums.
    table = _xlogx(np.arange(int(cum_n[-1]) + 1, dtype=np.float64))
    return _backtrack(_compiled_search()(cum_n, cum_b, table, float(beta)))


def pelt_reference(n: IntArray, b: IntArray, *, penalty: float | None = None) -> list[int]:
    """`pelt` in numpy alone: what the compiled search is tested against."""
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
    return _backtrack(last)


def _backtrack(last: IntArray) -> list[int]:
    changes: list[int] = []
    t = len(last) - 1
    while t > 0:
        s = int(last[t])
        if s > 0:
            changes.append(s)
        t = s
    return sorted(changes)


def _search(cum_n: IntArray, cum_b: IntArray, table: FloatArray, beta: float) -> IntArray:
    """PELT's forward pass: for each end t, the start of its last segment. `pelt_reference`'s
    loop with scalars: the same costs (best + ((nlogn - blogb) - rest), in that order), the
    first of equal minima, the same pruning (kept when cost <= best[t]), candidates in order."""
    size = len(cum_n) - 1
    last = np.zeros(size + 1, dtype=np.int64)
    starts = np.zeros(size + 1, dtype=np.int64)  # the candidates, packed at the front
    best = np.zeros(size + 1, dtype=np.float64)  # the optimum up to each candidate
    costs = np.zeros(size + 1, dtype=np.float64)
    best[0] = -beta
    alive = 1
    for t in range(1, size + 1):
        low = np.inf
        chosen = 0
        for j in range(alive):
            s = starts[j]
            sn = cum_n[t] - cum_n[s]
            sb = cum_b[t] - cum_b[s]
            cost = best[j] + ((table[sn] - table[sb]) - table[sn - sb])
            costs[j] = cost
            if cost < low:
                low = cost
                chosen = j
        best_t = low + beta
        last[t] = starts[chosen]
        kept = 0
        for j in range(alive):
            if costs[j] <= best_t:
                starts[kept] = starts[j]
                best[kept] = best[j]
                kept += 1
        starts[kept] = t
        best[kept] = best_t
        alive = kept + 1
    return last


_Search = Callable[[IntArray, IntArray, FloatArray, float], IntArray]


_compiling = threading.Lock()
_compiled: list[_Search] = []


def _compiled_search() -> _Search:
    """`_search` compiled by numba on first use (imported then: other commands never pay for
    it), cached on disk beside this module so later processes load it instead."""
    with _compiling:  # once, whichever thread asks first
        if not _compiled:
            import numba

            dispatcher = numba.njit(cache=True, nogil=True)(_search)
            # Loaded (or compiled) now for the arrays pelt passes, not at the first call.
            dispatcher.compile("(int64[::1], int64[::1], float64[::1], float64)")
            _compiled.append(dispatcher)
        return _compiled[0]


def prepare_search() -> None:
    """Import numba and load the compiled search in a background thread: about a second of
    imports that can run while the store is being read (DuckDB releases the GIL)."""
    threading.Thread(target=_compiled_search, daemon=True).start()


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
