"""Collapses in measurement volume per (country, network): the probes going quiet is itself
news (an ISP blocking the measurement backend, an outage), and it is why a gap is never read
as "not blocked"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median

import duckdb

_DAILY_SQL = """
SELECT probe_cc, probe_asn, CAST(measurement_start_time AS DATE) AS day, count(*) AS volume,
       min(measurement_start_time), max(measurement_start_time)
FROM measurements
WHERE true {where}
GROUP BY ALL
ORDER BY 1, 2, 3
"""


@dataclass(frozen=True, slots=True)
class VolumeCollapse:
    cc: str
    network: str
    start: datetime  # first day below the usual volume (00:00 UTC)
    end: datetime | None  # first day back to normal; None when still low at the end of data
    expected_per_day: float  # median of the previous normal days
    observed_per_day: float
    last_before: datetime | None  # the last measurement before the collapse
    first_after: datetime | None  # the first measurement once volume came back


def volume_collapses(
    con: duckdb.DuckDBPyConnection,
    *,
    cc: str | None = None,
    ratio: float = 0.25,
    min_daily: int = 12,
    baseline_days: int = 7,
) -> list[VolumeCollapse]:
    """Runs of days whose volume fell below `ratio` of the median of the previous normal days,
    judged over the whole period the store covers (a network that stops reporting collapses)."""
    where, params = ("AND probe_cc = ?", [cc.upper()]) if cc else ("", [])
    rows = con.execute(_DAILY_SQL.format(where=where), params).fetchall()
    if not rows:
        return []
    first_day = min(r[2] for r in rows)
    last_day = max(r[2] for r in rows)
    data_end = max(r[5] for r in rows)
    # The store's last day is usually cut short (data up to 03:00 is not a collapse): that
    # day is judged against the share of the day the data covers.
    last_fraction = max((data_end - _midnight(last_day)) / timedelta(days=1), 1 / 24)
    per_network: dict[tuple[str, str], dict[date, tuple[int, datetime, datetime]]] = {}
    for c, net, day, vol, t0, t1 in rows:  # one row per network and day
        per_network.setdefault((str(c), str(net)), {})[day] = (int(vol), t0, t1)
    out: list[VolumeCollapse] = []
    for (c, net), days in sorted(per_network.items()):
        out.extend(
            _runs(
                c, net, days, (first_day, last_day, last_fraction), ratio, min_daily, baseline_days
            )
        )
    return out


def _runs(
    cc: str,
    network: str,
    days: dict[date, tuple[int, datetime, datetime]],
    span: tuple[date, date, float],  # first day, last day, share of the last day covered
    ratio: float,
    min_daily: int,
    baseline_days: int,
) -> list[VolumeCollapse]:
    normal: list[int] = []
    run: list[tuple[date, int, float]] = []
    last_seen: datetime | None = None
    out: list[VolumeCollapse] = []
    first_day, last_day, last_fraction = span
    day = first_day
    while day <= last_day:
        entry = days.get(day)
        vol, t0, t1 = entry if entry else (0, None, None)
        expected = median(normal[-baseline_days:]) if len(normal) >= 3 else 0.0
        covered = last_fraction if day == last_day else 1.0
        low = expected >= min_daily and vol < ratio * expected * covered
        if low:
            run.append((day, vol, expected))
        else:
            if run:
                out.append(_collapse(cc, network, run, last_seen, t0, ended=day))
                run = []
            if vol:
                normal.append(vol)
        if t1 is not None and not low:
            last_seen = t1
        day = day + timedelta(days=1)
    if run:
        out.append(_collapse(cc, network, run, last_seen, None, ended=None))
    return out


def _midnight(d: date) -> datetime:
    return datetime(d.year, d.month, d.day)


def _collapse(
    cc: str,
    network: str,
    run: list[tuple[date, int, float]],
    last_seen: datetime | None,
    first_after: datetime | None,
    ended: date | None,
) -> VolumeCollapse:
    return VolumeCollapse(
        cc=cc,
        network=network,
        start=_midnight(run[0][0]),
        end=_midnight(ended) if ended is not None else None,
        expected_per_day=float(median(r[2] for r in run)),
        observed_per_day=sum(r[1] for r in run) / len(run),
        last_before=last_seen,
        first_after=first_after,
    )
