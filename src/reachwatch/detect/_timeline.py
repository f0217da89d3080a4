"""One network's story for one platform: segments of blocked share, their boundaries placed
between two single measurements, gaps in the data, and the online alerts."""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

import duckdb
import numpy as np

from reachwatch.detect._changepoints import default_penalty, pelt, split_interval
from reachwatch.detect._cusum import CusumParams, cusum_alerts
from reachwatch.detect._series import Series

State = Literal["blocked", "partial", "clear"]
HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class DetectParams:
    cusum: CusumParams = field(default_factory=CusumParams)
    penalty_scale: float = 1.0  # multiplies the default change-point penalty
    blocked_share: float = 0.7  # a segment at or above this share is blocked
    partial_share: float = 0.2  # at or above this (and below blocked_share) it is partial
    min_blocked: int = 3  # fewer blocked measurements than this is never a period of blocking
    merge_hours: float = 48.0  # clear spells shorter than this interrupt one incident
    min_gap_hours: float = 12.0  # hours without decisive data before a gap is reported...
    gap_expected: float = 8.0  # ...and only when the series' usual rate would have given this many
    evidence_per_network: int = 5  # first and last blocked measurement ids kept per network
    collapse_ratio: float = 0.25  # a day below this share of the usual volume is a collapse
    collapse_min_daily: int = 12  # networks quieter than this per day are not judged
    restoration_run: int = 6  # this many accessible in a row inside a block is access back...
    restoration_span_hours: float = 1.0  # ...when they span this long (not one probe's burst)
    restoration_alpha: float = 0.01  # chance of such a run anywhere in a block, by leaks alone
    short_block_min: int = 6  # this many blocked measurements in a clear or partial period...
    short_block_span_hours: float = 1.0  # ...spanning this long, at a blocked share...
    short_block_alpha: float = 0.01  # ...whose chance anywhere in the period is below this
    bound_level: float = 0.99  # posterior probability that a change lies within its bounds
    bound_reach_hours: float = 24.0  # how far into each side a change is looked for


@dataclass(frozen=True, slots=True)
class Boundary:
    """A change placed between single measurements: most likely between `before_id` and
    `after_id` (at = the time of the latter, the first observation of the new state), and
    within [earliest, latest] at the likelihood level of `split_interval`."""

    earliest: datetime
    at: datetime
    latest: datetime
    before_id: str | None
    after_id: str | None


@dataclass(slots=True)
class Period:
    state: State
    first: datetime  # start of the period's first hour with decisive data
    last: datetime  # end of its last hour with decisive data
    decisive: int
    blocked: int
    start: Boundary | None = None  # None: the period opens the data
    end: Boundary | None = None  # None: the period runs to the end of the data

    @property
    def share(self) -> float:
        return self.blocked / self.decisive if self.decisive else 0.0


@dataclass(frozen=True, slots=True)
class Gap:
    start: datetime  # first hour without decisive data
    end: datetime | None  # first hour with data again; None when data never resumed

    def hours(self, data_end: datetime) -> float:
        return ((self.end or data_end) - self.start) / HOUR


@dataclass(slots=True)
class Timeline:
    cc: str
    network: str
    platform: str
    periods: list[Period] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)
    alerts: list[tuple[datetime, str]] = field(default_factory=list)  # (time, start|end)
    first_data: datetime | None = None
    last_data: datetime | None = None
    decisive_hours: int = 0


def _to_dt(value: np.datetime64) -> datetime:
    out = value.astype("datetime64[us]").item()
    assert isinstance(out, datetime)
    return out


def _state(share: float, blocked: int, params: DetectParams) -> State:
    if blocked < params.min_blocked:
        return "clear"
    if share >= params.blocked_share:
        return "blocked"
    return "partial" if share >= params.partial_share else "clear"


def _merge_runs(
    bounds: list[int], n: np.ndarray, b: np.ndarray, params: DetectParams
) -> list[tuple[int, int, State]]:
    """Segments [s, e) labelled by state, neighbours with the same state merged."""
    runs: list[tuple[int, int, State]] = []
    for s, e in itertools.pairwise(bounds):
        nn, bb = int(n[s:e].sum()), int(b[s:e].sum())
        state = _state(bb / nn if nn else 0.0, bb, params)
        if runs and runs[-1][2] == state:
            runs[-1] = (runs[-1][0], e, state)
        else:
            runs.append((s, e, state))
    # A merge can lift a short run above min_blocked; relabel once more on the merged runs.
    relabelled: list[tuple[int, int, State]] = []
    for s, e, _ in runs:
        nn, bb = int(n[s:e].sum()), int(b[s:e].sum())
        state = _state(bb / nn if nn else 0.0, bb, params)
        if relabelled and relabelled[-1][2] == state:
            relabelled[-1] = (relabelled[-1][0], e, state)
        else:
            relabelled.append((s, e, state))
    return relabelled


# The decisive measurements of one series in a time window, in a stable order.
_WINDOW_SQL = """
SELECT measurement_start_time, measurement_id, verdict = 'blocked' AS blocked
FROM measurements
WHERE classified AND probe_cc = ? AND probe_asn = ? AND platform = ?
  AND verdict IN ('blocked', 'accessible')
  AND measurement_start_time >= ? AND measurement_start_time < ?
ORDER BY measurement_start_time, measurement_id
"""


def _window(left: Period, right: Period, params: DetectParams) -> tuple[datetime, datetime]:
    """Where the change between two periods is looked for: hourly change points can be off by
    hours (one background failure after an end drags an hour into the block), so the window
    reaches into each period, up to half of it (the other half is its other boundary's), at
    least its last or first hour and at most bound_reach_hours, gaps between them included."""
    cap = timedelta(hours=params.bound_reach_hours)
    back = min(cap, max(HOUR, (left.last - left.first) / 2))
    ahead = min(cap, max(HOUR, (right.last - right.first) / 2))
    return left.last - back, right.first + ahead


def _place(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    window: tuple[datetime, datetime],
    shares: tuple[float, float],
    level: float,
) -> Boundary:
    """Place a change between two single measurements within the window."""
    k = series.key
    rows = con.execute(_WINDOW_SQL, [k.cc, k.network, k.platform, *window]).fetchall()
    if not rows:
        return Boundary(window[0], window[1], window[1], None, None)
    flags = np.array([bool(r[2]) for r in rows])
    edges = [window[0], *(r[0] for r in rows), window[1]]
    gaps = np.array([(b - a).total_seconds() for a, b in itertools.pairwise(edges)])
    best, first, last = split_interval(flags, *shares, gaps=gaps, level=level)

    def time_before(j: int) -> datetime:
        return rows[j - 1][0] if j > 0 else window[0]

    def time_after(j: int) -> datetime:
        return rows[j][0] if j < len(rows) else window[1]

    return Boundary(
        earliest=time_before(first),
        at=time_after(best),
        latest=time_after(last),
        before_id=str(rows[best - 1][1]) if best > 0 else None,
        after_id=str(rows[best][1]) if best < len(rows) else None,
    )


def build_timeline(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    *,
    data_end: datetime,
    params: DetectParams = DetectParams(),
) -> Timeline:
    """Segments, boundaries, gaps and alerts of one (cc, network, platform) overall series."""
    k = series.key
    timeline = Timeline(k.cc, k.network, k.platform)
    keep = series.decisive > 0
    hours = series.hours[keep]
    n, b = series.decisive[keep], series.blocked[keep]
    timeline.gaps = timeline_gaps(series, data_end, params)
    if len(hours) == 0:
        return timeline
    starts = [_to_dt(h) for h in hours]
    timeline.first_data, timeline.last_data = starts[0], starts[-1] + HOUR
    timeline.decisive_hours = len(hours)
    penalty = default_penalty(int(n.sum())) * params.penalty_scale
    cuts = [0, *pelt(n, b, penalty=penalty), len(n)]
    runs = _merge_runs(cuts, n, b, params)
    runs = _split_restorations(con, series, runs, starts, (n, b), params)
    runs = _split_short_blocks(con, series, runs, starts, (n, b), params)
    # Each piece is labelled by its own counts: what is left of a block beside a restoration
    # may be one background failure, which is no block.
    runs = _merge_runs([s for s, _, _ in runs] + [len(n)], n, b, params)
    cusum = _calibrated(params.cusum, runs, n, b)
    timeline.alerts = [(starts[a.index] + HOUR, a.kind) for a in cusum_alerts(n, b, cusum)]
    for s, e, state in runs:
        timeline.periods.append(
            Period(state, starts[s], starts[e - 1] + HOUR, int(n[s:e].sum()), int(b[s:e].sum()))
        )
    for left, right in itertools.pairwise(timeline.periods):
        window = _window(left, right, params)
        boundary = _place(con, series, window, (left.share, right.share), params.bound_level)
        left.end = right.start = boundary
    return timeline


def timeline_gaps(series: Series, data_end: datetime, params: DetectParams) -> list[Gap]:
    """The gaps of the series' timeline: hours without decisive data, longer than its usual
    spacing, up to `data_end` (the only part of a timeline the end of the data moves)."""
    keep = series.decisive > 0
    hours = series.hours[keep]
    measured_from = _to_dt(series.hours[0])
    if len(hours) == 0:
        # Measurements, but none that says blocked or accessible (all down or inconclusive):
        # the whole span is unknown, and must show as a gap rather than as nothing.
        return [Gap(measured_from, None)]
    starts = [_to_dt(h) for h in hours]
    span_hours = max((starts[-1] + HOUR - starts[0]) / HOUR, 1.0)
    rate = float(series.decisive[keep].sum()) / span_hours
    min_gap = max(params.min_gap_hours, params.gap_expected / rate)
    gaps = _gaps(starts, data_end, min_gap)
    if (starts[0] - measured_from) / HOUR >= min_gap:
        # Measured from earlier, but nothing decisive until starts[0]: unknown, not clear.
        gaps.insert(0, Gap(measured_from, starts[0]))
    return gaps


def _split_restorations(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    runs: list[tuple[int, int, State]],
    starts: list[datetime],
    counts: tuple[np.ndarray, np.ndarray],
    params: DetectParams,
) -> list[tuple[int, int, State]]:
    """Short restorations inside a block, which hourly change points miss at night: a few
    hours hold too few measurements to pay the change penalty. Measurement by measurement
    they are plain: while a block lets 5% through, six accessible in a row happen by chance
    about once in 60 million. Such a run spanning at least an hour (so not one probe's burst
    of tests) splits the block; its hours form the restoration, the hours at its edges going
    to whichever side most of their measurements belong to."""
    n, b = counts
    out: list[tuple[int, int, State]] = []
    for s, e, state in runs:
        if state != "blocked":
            out.append((s, e, state))
            continue
        cursor = s
        for i0, i1 in _access_runs(con, series, starts, s, e, params):
            # The edge hours hold the block's last and first measurements too.
            if b[i0] * 2 >= n[i0]:
                i0 += 1
            if b[i1] * 2 >= n[i1]:
                i1 -= 1
            if i0 > i1 or i0 <= cursor or i1 + 1 >= e:
                continue  # within an hour, or at the block's edge (the change points' job)
            mid_n, mid_b = int(n[i0 : i1 + 1].sum()), int(b[i0 : i1 + 1].sum())
            out.append((cursor, i0, "blocked"))
            out.append((i0, i1 + 1, _state(mid_b / mid_n, mid_b, params)))
            cursor = i1 + 1
        out.append((cursor, e, "blocked"))
    return out


def _access_runs(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    starts: list[datetime],
    s: int,
    e: int,
    params: DetectParams,
) -> list[tuple[int, int]]:
    """(first hour index, last hour index) of each long run of accessible measurements."""
    k = series.key
    window = [starts[s], starts[e - 1] + HOUR]
    # As arrays: a block can last a year, hundreds of thousands of measurements.
    cols = con.execute(_WINDOW_SQL, [k.cc, k.network, k.platform, *window]).fetchnumpy()
    times = np.asarray(cols["measurement_start_time"], dtype="datetime64[us]")
    accessible = ~np.asarray(cols["blocked"], dtype=bool)
    if not len(times):
        return []
    index = {t: i for i, t in enumerate(starts[s:e], start=s)}
    span = np.timedelta64(timedelta(hours=params.restoration_span_hours), "us")
    # A leaky block (a share of 0.75 lets one in four through) makes long runs of accessible
    # measurements likely by chance: ask for a run whose chance anywhere in the block is
    # below restoration_alpha, never shorter than restoration_run.
    leak = min(max(int(accessible.sum()) / len(times), 0.01), 0.5)
    needed = max(
        params.restoration_run,
        math.ceil(math.log(params.restoration_alpha / len(times)) / math.log(leak)),
    )
    # Each run of accessible measurements: from a first one (none just before) to a last.
    edges = np.diff(np.concatenate(([False], accessible, [False])).astype(np.int8))
    firsts, lasts = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
    long = (lasts - firsts + 1 >= needed) & (times[lasts] - times[firsts] >= span)
    return [
        (
            index[_to_dt(times[i].astype("datetime64[h]"))],
            index[_to_dt(times[j].astype("datetime64[h]"))],
        )
        for i, j in zip(firsts[long].tolist(), lasts[long].tolist(), strict=True)
    ]


def _split_short_blocks(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    runs: list[tuple[int, int, State]],
    starts: list[datetime],
    counts: tuple[np.ndarray, np.ndarray],
    params: DetectParams,
) -> list[tuple[int, int, State]]:
    """Short blocks inside clear (or partial) periods, which hourly change points miss on a
    long series: a block of three hours holds too few measurements to pay two changes' penalty
    against a month of background failures, and on sparse data a day's block may be folded
    into a week-long "partial" period. Measurement by measurement such a block is plain: a
    stretch of mostly blocked measurements whose chance anywhere in the period, at the
    period's own blocked share, is below short_block_alpha. Its hours become a period of their
    own, the hours at its edges going to whichever side most of their measurements are; what
    is left either side is labelled again by its own counts."""
    n, b = counts
    hour_index = {t: i for i, t in enumerate(starts)}
    out: list[tuple[int, int, State]] = []
    for s, e, state in runs:
        if state == "blocked":
            out.append((s, e, state))
            continue
        cursor = s
        for t0, t1 in _blocked_stretches(con, series, (starts[s], starts[e - 1] + HOUR), params):
            i0 = hour_index[t0.replace(minute=0, second=0, microsecond=0)]
            i1 = hour_index[t1.replace(minute=0, second=0, microsecond=0)]
            if b[i0] * 2 < n[i0]:
                i0 += 1
            if b[i1] * 2 < n[i1]:
                i1 -= 1
            if i0 > i1 or i0 < cursor:
                continue
            mid_n, mid_b = int(n[i0 : i1 + 1].sum()), int(b[i0 : i1 + 1].sum())
            mid = _state(mid_b / mid_n, mid_b, params)
            if mid == state:
                continue
            if i0 > cursor:
                out.append((cursor, i0, state))
            out.append((i0, i1 + 1, mid))
            cursor = i1 + 1
        if cursor < e:
            out.append((cursor, e, state))
    return out


def _blocked_stretches(
    con: duckdb.DuckDBPyConnection,
    series: Series,
    window: tuple[datetime, datetime],
    params: DetectParams,
) -> list[tuple[datetime, datetime]]:
    """(first, last) times of each stretch of mostly blocked measurements in a window that
    the window's own blocked share would produce anywhere in it with a chance below alpha, in
    time order. Stretches run from a blocked measurement to a blocked measurement; the most
    telling is taken first, then the most telling of those not overlapping it, and so on."""
    k = series.key
    # As arrays: the window is a whole clear period, up to a year of one network's
    # measurements, and a Python tuple per row cost more than everything done with them.
    cols = con.execute(_WINDOW_SQL, [k.cc, k.network, k.platform, *window]).fetchnumpy()
    times = np.asarray(cols["measurement_start_time"], dtype="datetime64[us]")
    flags = np.asarray(cols["blocked"], dtype=bool)
    where = np.flatnonzero(flags)
    if len(where) < params.short_block_min:
        return []
    p = min(max(len(where) / len(times), 0.01), 0.9)
    needed = math.log(len(times) / params.short_block_alpha)
    span = timedelta(hours=params.short_block_span_hours)
    # Microseconds over 10**6, correctly rounded, as timedelta.total_seconds() gives them.
    seconds = (times - times[0]).astype(np.int64) / 1e6
    candidates: list[tuple[float, int, int]] = []
    for a in range(len(where) - params.short_block_min + 1):
        c = np.arange(a + params.short_block_min - 1, len(where))
        m = (c - a + 1).astype(np.float64)  # blocked measurements in the stretch...
        size = (where[c] - where[a] + 1).astype(np.float64)  # ...of this many
        q = np.minimum(m / size, 0.95)
        llr = m * np.log(q / p) + (size - m) * np.log((1 - q) / (1 - p))
        ok = (
            (m / size >= params.blocked_share)
            & (llr >= needed)
            & (seconds[where[c]] - seconds[where[a]] >= span.total_seconds())
        )
        for hit in np.flatnonzero(ok).tolist():
            candidates.append((float(llr[hit]), int(where[a]), int(where[c[hit]])))
    taken: list[tuple[int, int]] = []
    for _, i, j in sorted(candidates, reverse=True):
        if all(j < x or i > y for x, y in taken):
            taken.append((i, j))
    return [(_to_dt(times[i]), _to_dt(times[j])) for i, j in sorted(taken)]


def _calibrated(
    cusum: CusumParams, runs: list[tuple[int, int, State]], n: np.ndarray, b: np.ndarray
) -> CusumParams:
    """The alert detector's idea of "clear" from this series' own clear periods: a network
    whose clear share of blocked verdicts is 12% (a noisy resolver, a flaky middlebox) must
    not page on every busy hour. Never below the default, so quiet series stay sensitive."""
    clear_n = sum(int(n[s:e].sum()) for s, e, state in runs if state == "clear")
    clear_b = sum(int(b[s:e].sum()) for s, e, state in runs if state == "clear")
    if clear_n < 50:
        return cusum
    p_clear = min(max(cusum.p_clear, clear_b / clear_n), 0.3)
    if p_clear == cusum.p_clear:
        return cusum
    return dataclasses.replace(
        cusum,
        p_clear=p_clear,
        p_blocked=max(cusum.p_blocked, p_clear + 0.35),
        p_restored=max(cusum.p_restored, p_clear + 0.1),
    )


def _gaps(starts: list[datetime], data_end: datetime, min_hours: float) -> list[Gap]:
    gaps: list[Gap] = []
    for a, c in itertools.pairwise(starts):
        if (c - a) / HOUR - 1 >= min_hours:
            gaps.append(Gap(a + HOUR, c))
    if (data_end - (starts[-1] + HOUR)) / HOUR >= min_hours:
        gaps.append(Gap(starts[-1] + HOUR, None))
    return gaps
