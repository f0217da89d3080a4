"""Detection quality on simulated corpora with known truth, and change points on the real daily
Pakistan series next to known events.

Part 1 plays random scenarios (at least 20 incidents across networks, with the noise of real
data), classifies every measurement with the real classifier into an in-memory store (the
ingest pipeline is skipped for speed: no files, no dedupe), runs `reachwatch.detect.detect`
and compares with the truth. Baseline: hourly majority vote (an hour is blocked when at least
half of its decisive measurements are), what a dashboard colouring hours would show.

Part 2 reads ../shared/reference/acsac-series/ooni/ooni-data-pk.csv (daily counts per verdict
bucket, 2021-01 to 2023-03), finds change points in the anomaly share with the same PELT
(quasi-binomial: penalty scaled by the series' overdispersion) and lists them next to the
events of ../shared/reference/events/cenalert/by_country/PK.csv and OONI's event labels.

Run: .venv/bin/python bench/detect.py [--seeds N] [--days D] [--rate R]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import os
import random
import statistics
import time
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from reachwatch.cases import SimulatedSpell
from reachwatch.detect import (
    CusumParams,
    Detection,
    cusum_alerts,
    default_penalty,
    detect,
    load_series,
    pelt,
)
from reachwatch.simulate import (
    CORPUS_KINDS,
    Block,
    Scenario,
    detection_corpus,
    generate,
    memory_store,
)

HOUR = timedelta(hours=1)
NAN = float("nan")
TECHNIQUES = ("tls.reset", "tls.timeout", "dns.nxdomain", "dns.bogon", "tcp.timeout", "tcp.reset")
DURATIONS_H = (2, 4, 6, 9, 12, 24, 48, 72, 120)
TOLERANCE = timedelta(hours=2)  # a detection matches a block that overlaps it within this


@dataclass(slots=True)
class Truth:
    network: str
    start: datetime
    end: datetime | None  # None: beyond the window
    technique: str

    def hours(self, window_end: datetime) -> float:
        return ((self.end or window_end) - self.start) / HOUR


def random_scenario(seed: int, days: int, rate: float, networks: int) -> Scenario:
    """Blocks of random length and technique on every network, spaced at least two days
    apart, one with a short restoration inside; one network's probes vanish for a day and the
    platform is down for everyone for three hours."""
    rng = random.Random(seed)
    start = datetime(2024, 3, 1)
    end = start + timedelta(days=days)
    nets = tuple(f"AS{64500 + i}" for i in range(networks))
    blocks: dict[str, list[Block]] = {}
    for net in nets:
        t = start + timedelta(hours=rng.uniform(24, 72))
        spells: list[Block] = []
        while True:
            length = timedelta(hours=rng.choice(DURATIONS_H), minutes=rng.randrange(60))
            if t + length >= end - timedelta(hours=12):
                break
            spells.append(Block(t, t + length, rng.choice(TECHNIQUES)))
            t += length + timedelta(hours=rng.uniform(48, 120))
        blocks[net] = spells
    # A restoration of four hours inside the first long block of the first network.
    first = nets[0]
    long_blocks = [b for b in blocks[first] if b.end and b.end - b.start >= timedelta(hours=24)]
    if long_blocks:
        b = long_blocks[0]
        assert b.end is not None
        hole = b.start + (b.end - b.start) / 2
        i = blocks[first].index(b)
        blocks[first][i : i + 1] = [
            Block(b.start, hole, b.technique),
            Block(hole + timedelta(hours=4), b.end, b.technique),
        ]
    vanish_at = start + timedelta(days=rng.uniform(3, days - 5))
    outage_at = start + timedelta(days=rng.uniform(3, days - 5))
    return Scenario(
        cc="PK",
        platform="x",
        networks=nets,
        start=start,
        end=end,
        rate=rate,
        blocks=blocks,
        vanish=(SimulatedSpell(vanish_at, vanish_at + timedelta(days=1), (nets[-1],)),),
        outages=(SimulatedSpell(outage_at, outage_at + timedelta(hours=3)),),
    )


@dataclass(slots=True)
class Found:
    network: str
    start: datetime
    end: datetime | None
    start_bounds: tuple[datetime, datetime] | None = None
    end_bounds: tuple[datetime, datetime] | None = None


@dataclass(slots=True)
class Scores:
    delays_h: list[float]
    delays_buckets: list[float]  # inf for a block that got no alert at all
    live_delays_buckets: list[float]  # the same, seeing only what was uploaded by then
    start_errors_h: list[float]
    start_covered: list[float]  # 1 when the true start lies within the reported bounds
    end_errors_h: list[float]
    end_covered: list[float]  # 1 when the true end lies within the reported bounds
    true_blocks: int
    true_long: int
    hit: int
    hit_long: int
    detected: int
    correct: int
    false_alarms: int
    false_ends: int  # "access is back" alerts while the block truly held
    series_days: float


def _overlaps(f: Found, t: Truth, window_end: datetime) -> bool:
    f_end = f.end or window_end
    t_end = t.end or window_end
    return f.start < t_end + TOLERANCE and t.start - TOLERANCE < f_end


def _delay_buckets(alerts: list[tuple[str, datetime]], t: Truth, window_end: datetime) -> float:
    """Hourly buckets from the one holding the true start to the alert's; inf when none."""
    mine = [
        a
        for n, a in alerts
        if n == t.network and t.start - HOUR <= a <= (t.end or window_end) + HOUR
    ]
    if not mine:
        return math.inf
    bucket0 = t.start.replace(minute=0, second=0, microsecond=0)
    return float(round((mine[0] - bucket0) / HOUR))


def score(
    truths: list[Truth],
    found: list[Found],
    alerts: list[tuple[str, datetime]],
    window_end: datetime,
    series_days: float,
    live_alerts: list[tuple[str, datetime]] | None = None,
    end_alerts: list[tuple[str, datetime]] | None = None,
) -> Scores:
    s = Scores([], [], [], [], [], [], [], 0, 0, 0, 0, len(found), 0, 0, 0, series_days)
    for t in truths:
        # Every true block counts in the delay, a missed one as never alerted (inf): leaving
        # misses out would flatter the median.
        s.delays_buckets.append(_delay_buckets(alerts, t, window_end))
        if live_alerts is not None:
            s.live_delays_buckets.append(_delay_buckets(live_alerts, t, window_end))
    for t in truths:
        long = t.hours(window_end) >= 6
        s.true_blocks += 1
        s.true_long += long
        matches = [f for f in found if f.network == t.network and _overlaps(f, t, window_end)]
        if not matches:
            continue
        s.hit += 1
        s.hit_long += long
        first = min(matches, key=lambda f: f.start)
        s.start_errors_h.append(abs(first.start - t.start) / HOUR)
        if first.start_bounds is not None:
            lo, hi = first.start_bounds
            s.start_covered.append(float(lo <= t.start <= hi))
        last = max(matches, key=lambda f: f.end or window_end)
        if t.end is not None and last.end is not None:
            s.end_errors_h.append(abs(last.end - t.end) / HOUR)
            if last.end_bounds is not None:
                lo, hi = last.end_bounds
                s.end_covered.append(float(lo <= t.end <= hi))
        mine = [
            a
            for n, a in alerts
            if n == t.network and t.start - HOUR <= a <= (t.end or window_end) + HOUR
        ]
        if mine:
            s.delays_h.append((mine[0] - t.start) / HOUR)
    for f in found:
        if any(t.network == f.network and _overlaps(f, t, window_end) for t in truths):
            s.correct += 1
    # False alarms: detections matching no true block, and alerts raised outside every block.
    s.false_alarms = s.detected - s.correct
    for network, at in alerts:
        inside = any(
            t.network == network and t.start - TOLERANCE <= at <= (t.end or window_end) + TOLERANCE
            for t in truths
        )
        s.false_alarms += not inside
    for network, at in end_alerts or []:
        held = any(
            t.network == network
            and t.start + TOLERANCE <= at
            and (t.end is None or at <= t.end - TOLERANCE)
            for t in truths
        )
        s.false_ends += held
    return s


def found_by_reachwatch(
    detection: Detection,
) -> tuple[list[Found], list[tuple[str, datetime]], list[tuple[str, datetime]]]:
    found = []
    alerts = []
    end_alerts: list[tuple[str, datetime]] = []
    for tl in detection.timelines:
        if tl.platform != "x":
            # Other platforms are never blocked in the scenarios: every alert there is false.
            alerts += [(f"{tl.network}/{tl.platform}", t) for t, k in tl.alerts if k == "start"]
            found += [
                Found(f"{tl.network}/{tl.platform}", p.first, p.last)
                for p in tl.periods
                if p.state != "clear"
            ]
            continue
        for p in tl.periods:
            if p.state == "clear":
                continue
            found.append(
                Found(
                    tl.network,
                    p.start.at if p.start else p.first,
                    p.end.at if p.end else None,
                    (p.start.earliest, p.start.latest) if p.start else None,
                    (p.end.earliest, p.end.latest) if p.end else None,
                )
            )
        alerts += [(tl.network, t) for t, k in tl.alerts if k == "start"]
        end_alerts += [(tl.network, t) for t, k in tl.alerts if k == "end"]
    return found, alerts, end_alerts


def restorations_seen(scenario: Scenario, detection: Detection) -> list[str]:
    """For each short restoration inside a true block (two blocks of one network less than
    12 h apart): was a clear period found over it, a partial one, or nothing?"""
    out = []
    for net, blocks in scenario.blocks.items():
        timeline = next(
            t for t in detection.timelines if t.network == net and t.platform == scenario.platform
        )
        for a, b in itertools.pairwise(blocks):
            if a.end is None or b.start - a.end >= timedelta(hours=12):
                continue
            over = {
                p.state
                for p in timeline.periods
                if (p.start.at if p.start else p.first) < b.start
                and (p.end.at if p.end else scenario.end) > a.end
            }
            out.append("clear" if "clear" in over else "partial" if "partial" in over else "missed")
    return out


def live_alerts(
    con: Any, uploaded: dict[str, datetime], params: CusumParams | None = None
) -> list[tuple[str, datetime]]:
    """Start alerts of the online detector as a live monitor raises them: each hour's bucket
    holds only the measurements uploaded by the time the bucket closes (late uploads arrive
    after the detector has moved on)."""
    rows = con.execute(
        "SELECT probe_asn, measurement_start_time, measurement_id, verdict = 'blocked' "
        "FROM measurements WHERE platform = 'x' AND verdict IN ('blocked', 'accessible')"
    ).fetchall()
    per_net: dict[str, dict[datetime, list[int]]] = {}
    for net, t, mid, blocked in rows:
        bucket = t.replace(minute=0, second=0, microsecond=0)
        if uploaded[mid] > bucket + HOUR:
            continue  # not there yet when the bucket closed
        counts = per_net.setdefault(net, {}).setdefault(bucket, [0, 0])
        counts[0] += 1
        counts[1] += bool(blocked)
    out: list[tuple[str, datetime]] = []
    for net, buckets in per_net.items():
        hours = sorted(buckets)
        n = np.array([buckets[h][0] for h in hours], dtype=np.int64)
        b = np.array([buckets[h][1] for h in hours], dtype=np.int64)
        out += [
            (net, hours[a.index] + HOUR)
            for a in cusum_alerts(n, b, params or CusumParams())
            if a.kind == "start"
        ]
    return out


def found_by_majority(con: object, window_end: datetime) -> list[Found]:
    """Baseline: runs of hours where at least half of the decisive measurements are blocked
    (runs one empty hour apart joined)."""
    found: list[Found] = []
    for s in load_series(con, platform="x"):  # type: ignore[arg-type]
        keep = s.decisive > 0
        hours = s.hours[keep]
        flagged = (s.blocked[keep] * 2 >= s.decisive[keep]).tolist()
        run_start: datetime | None = None
        last: datetime | None = None
        for h, flag in zip(hours, flagged, strict=True):
            t = h.astype("datetime64[us]").item()
            if flag and run_start is None:
                run_start = t
            elif not flag and run_start is not None and last is not None:
                found.append(Found(s.key.network, run_start, t))
                run_start = None
            if flag:
                last = t + HOUR
        if run_start is not None:
            found.append(
                Found(
                    s.key.network, run_start, None if last and last >= window_end - HOUR else last
                )
            )
    return found


def simulated_part(seeds: int, days: int, rate: float, networks: int) -> None:
    print(f"== simulated corpora: {seeds} seed(s) x {networks} networks x {days} days at "
          f"{rate:g} measurements/network/hour (x) + 0.25 (wikipedia)")  # fmt: skip
    print("   rows built by ingest's own identity check, classifier and row builders into an")
    print("   in-memory store (files, Parquet and quarantine skipped for speed)")
    ours: list[Scores] = []
    base: list[Scores] = []
    holes: dict[str, int] = {}
    clock = time.monotonic()
    total_measurements = 0
    for seed in range(seeds):
        scenario = random_scenario(seed, days, rate, networks)
        truths = [
            Truth(n, b.start, b.end, b.technique) for n, bs in scenario.blocks.items() for b in bs
        ]
        items = list(generate(scenario, seed))
        measurements = [item.measurement for item in items]
        uploaded = {str(i.measurement["measurement_uid"]): i.uploaded for i in items}
        total_measurements += len(measurements)
        con = memory_store(measurements)
        detection = detect(con)
        # Every series, quiet ones included (the wikipedia series are never blocked).
        series_days = len(detection.timelines) * days
        found, alerts, ends = found_by_reachwatch(detection)
        live = live_alerts(con, uploaded)
        ours.append(score(truths, found, alerts, scenario.end, series_days, live, ends))
        for state in restorations_seen(scenario, detection):
            holes[state] = holes.get(state, 0) + 1
        base.append(
            score(truths, found_by_majority(con, scenario.end), [], scenario.end, series_days)
        )
    elapsed = time.monotonic() - clock
    figure("measurements simulated and classified", total_measurements, "")
    figure("wall time (simulate + classify + detect)", elapsed, "s")
    _report(ours, base)
    shown = ", ".join(f"{holes.get(k, 0)} {k}" for k in ("clear", "partial", "missed"))
    print(f"   short restorations inside a block (4 h): {shown}")
    print("   (clear: access back reported; partial: a partial spell; missed: one block)")


def _report(ours: list[Scores], base: list[Scores]) -> None:
    def pool(scores: list[Scores], name: str) -> list[float]:
        return [x for s in scores for x in getattr(s, name)]

    def total(scores: list[Scores], name: str) -> float:
        return float(sum(getattr(s, name) for s in scores))

    def q(values: list[float], p: float) -> float:
        return float(np.percentile(values, p)) if values else float("nan")

    true_blocks = total(ours, "true_blocks")
    figure("true incidents (network blocks)", true_blocks, "")
    figure("   of which >= 6 h", total(ours, "true_long"), "")
    series_days = total(ours, "series_days")

    def median(values: list[float]) -> float:
        return statistics.median(values) if values else NAN

    def figures(scores: list[Scores]) -> dict[str, float]:
        return {
            "median alert delay (hourly buckets)": median(pool(scores, "delays_buckets")),
            "median alert delay, live (buckets)": median(pool(scores, "live_delays_buckets")),
            "median start error (h)": median(pool(scores, "start_errors_h")),
            "p90 start error (h)": q(pool(scores, "start_errors_h"), 90),
            "true start within the start bounds": statistics.fmean(pool(scores, "start_covered"))
            if pool(scores, "start_covered")
            else NAN,
            "median end error (h)": median(pool(scores, "end_errors_h")),
            "true end within the end bounds": statistics.fmean(pool(scores, "end_covered"))
            if pool(scores, "end_covered")
            else NAN,
            "p90 end error (h)": q(pool(scores, "end_errors_h"), 90),
            "false alarms per 1,000 series-days": 1000
            * total(scores, "false_alarms")
            / max(series_days, 1),
            "precision": total(scores, "correct") / max(total(scores, "detected"), 1),
            "recall (all blocks)": total(scores, "hit") / max(true_blocks, 1),
            "recall (blocks >= 6 h)": total(scores, "hit_long")
            / max(total(scores, "true_long"), 1),
        }

    # (target or None when the issue sets none, lower is better)
    targets: dict[str, tuple[float | None, bool]] = {
        "median alert delay (hourly buckets)": (2.0, True),
        "median alert delay, live (buckets)": (2.0, True),
        "median start error (h)": (1.0, True),
        "p90 start error (h)": (1.0, True),
        "true start within the start bounds": (0.95, False),
        "median end error (h)": (1.0, True),
        "true end within the end bounds": (0.95, False),
        "p90 end error (h)": (1.0, True),
        "false alarms per 1,000 series-days": (1.0, True),
        "precision": (None, False),
        "recall (all blocks)": (None, False),
        "recall (blocks >= 6 h)": (1.0, False),
    }
    mine, theirs = figures(ours), figures(base)
    theirs["median alert delay (hourly buckets)"] = NAN  # the baseline raises no alerts
    theirs["median alert delay, live (buckets)"] = NAN
    print()
    print(f"{'figure':40} {'reachwatch':>11} {'baseline':>9} {'target':>7} {'ratio':>6}")
    for name, (target, lower) in targets.items():
        value = mine[name]
        if target is None:
            print(f"{name:40} {value:11.3f} {theirs[name]:9.3f} {'-':>7} {'-':>6}")
            continue
        ok = value <= target if lower else value >= target
        print(
            f"{name:40} {value:11.3f} {theirs[name]:9.3f} {target:7.2f} "
            f"{value / target:6.2f} {'ok' if ok else 'MISSED'}"
        )
    for name in ("start_errors_h", "end_errors_h"):
        worst = max(pool(ours, name), default=NAN)
        over = sum(e > 1.0 for e in pool(ours, name))
        label = f"   max {name.split('_')[0]} error (h)"
        print(f"{label:40} {worst:11.3f}   ({over} of {len(pool(ours, name))} over 1 h)")
    delays = pool(ours, "delays_buckets")
    print(f"{'   alert delay p90 (hourly buckets)':40} {q(delays, 90):11.3f}")
    missed = sum(math.isinf(d) for d in delays)
    print(f"{'   true blocks never alerted':40} {missed:11d}   (counted as inf in the delays)")
    ends = 1000 * total(ours, "false_ends") / max(series_days, 1)
    print(f"{'   false end alerts per 1,000 series-days':40} {ends:11.3f}   (block still held)")
    print("   live = only measurements uploaded by the bucket's close (late uploads miss it)")
    print("   ratio = reachwatch / target; baseline = hourly majority vote on the same series")
    figure("series-days judged", series_days, "")


# -- part 1b: the hard classes -------------------------------------------------------------


@dataclass(slots=True)
class ClassScores:
    blocks: int = 0
    ended: int = 0
    found: int = 0
    long_enough: int = 0  # >= 3 h with >= 8 decisive measurements: must be an incident
    long_enough_found: int = 0
    start_errors_h: list[float] = dataclass_field(default_factory=list)
    end_errors_h: list[float] = dataclass_field(default_factory=list)
    start_covered: list[float] = dataclass_field(default_factory=list)
    end_covered: list[float] = dataclass_field(default_factory=list)
    flips: list[int] = dataclass_field(default_factory=list)  # alerts beyond start and end
    false_alarms: int = 0
    series_days: float = 0.0


def _decisive_in(con: Any, network: str, start: datetime, end: datetime) -> int:
    row = con.execute(
        "SELECT count(*) FROM measurements WHERE platform = 'x' AND probe_asn = ? "
        "AND verdict IN ('blocked', 'accessible') AND measurement_start_time >= ? "
        "AND measurement_start_time < ?",
        [network, start, end],
    ).fetchone()
    return int(row[0]) if row else 0


def _flips(alerts: list[tuple[datetime, str]], block: Block, next_start: datetime) -> int:
    """Alerts beyond the one start and the one end a block should raise, from its start to
    the next block's (an alert raised late still belongs to it)."""
    mine = [k for at, k in alerts if block.start - TOLERANCE <= at < next_start]
    return max(0, len(mine) - (1 if block.end is None else 2))


def score_class(scenario: Scenario, con: Any, detection: Detection, into: ClassScores) -> None:
    days = (scenario.end - scenario.start) / timedelta(days=1)
    into.series_days += len(detection.timelines) * days
    found, alerts, _ = found_by_reachwatch(detection)
    truths = [
        Truth(n, b.start, b.end, b.technique) for n, bs in scenario.blocks.items() for b in bs
    ]
    # False alarms as in the main part: detections matching no block, start alerts outside.
    s = score(truths, found, alerts, scenario.end, into.series_days)
    into.false_alarms += s.false_alarms
    for tl in detection.timelines:
        if tl.platform != scenario.platform:
            continue
        blocks = scenario.blocks.get(tl.network, [])
        periods = [p for p in tl.periods if p.state != "clear"]
        for i, block in enumerate(blocks):
            into.blocks += 1
            next_start = blocks[i + 1].start - TOLERANCE if i + 1 < len(blocks) else scenario.end
            into.flips.append(_flips(tl.alerts, block, next_start))
            block_end = block.end or scenario.end
            long = block_end - block.start >= 3 * HOUR
            enough = long and _decisive_in(con, tl.network, block.start, block_end) >= 8
            into.long_enough += enough
            t = Truth(tl.network, block.start, block.end, block.technique)
            hits = [
                p
                for p in periods
                if _overlaps(
                    Found(
                        tl.network, p.start.at if p.start else p.first, p.end.at if p.end else None
                    ),
                    t,
                    scenario.end,
                )
            ]
            if not hits:
                continue
            into.found += 1
            into.long_enough_found += enough
            first, last = hits[0], hits[-1]
            if first.start is not None:
                into.start_errors_h.append(abs(first.start.at - block.start) / HOUR)
                into.start_covered.append(
                    float(first.start.earliest <= block.start <= first.start.latest)
                )
            if block.end is not None and last.end is not None:
                into.ended += 1
                into.end_errors_h.append(abs(last.end.at - block.end) / HOUR)
                into.end_covered.append(float(last.end.earliest <= block.end <= last.end.latest))


def class_part(seeds: int) -> None:
    print()
    print(f"== hard classes: {seeds} seed(s) each, 6 networks, 3% background failures, 2% leaks")
    print("   (reachwatch.simulate.detection_corpus: partial = 50-70% of measurements blocked;")
    print("   short = 3 h blocks at 2-5/h; lone-failure = one failure 5-60 min before each start")
    print("   and after each end; sparse = 0.3-1 measurement/h, probes vanishing for a day)")
    pooled = ClassScores()
    rows: list[tuple[str, ClassScores]] = []
    clock = time.monotonic()
    for kind in CORPUS_KINDS:
        scores = ClassScores()
        for seed in range(seeds):
            scenario = detection_corpus(kind, seed)
            con = memory_store(item.measurement for item in generate(scenario, seed))
            score_class(scenario, con, detect(con), scores)
        rows.append((kind, scores))
        for name in ClassScores.__slots__:
            value = getattr(scores, name)
            if isinstance(value, list):
                getattr(pooled, name).extend(value)
            else:
                setattr(pooled, name, getattr(pooled, name) + value)
    rows.append(("all classes", pooled))
    figure("wall time (simulate + classify + detect)", time.monotonic() - clock, "s")

    def mean(v: list[float] | list[int]) -> float:
        return statistics.fmean(v) if v else NAN

    def q(v: list[float], p: float) -> float:
        return float(np.percentile(v, p)) if v else NAN

    print()
    head = ("class", "blocks", "found", ">=3h&>=8", "recall", "flips/blk", "start med/p90 h",
            "end med/p90 h", "start cov", "end cov", "FA/1000sd")  # fmt: skip
    print(f"{head[0]:13}" + "".join(f"{h:>16}" for h in head[1:]))
    for kind, sc in rows:
        cells = [
            f"{sc.blocks}",
            f"{sc.found}",
            f"{sc.long_enough_found}/{sc.long_enough}",
            f"{sc.long_enough_found / max(sc.long_enough, 1):.1%}",
            f"{mean(sc.flips):.3f}",
            f"{statistics.median(sc.start_errors_h) if sc.start_errors_h else NAN:.2f}"
            f" / {q(sc.start_errors_h, 90):.2f}",
            f"{statistics.median(sc.end_errors_h) if sc.end_errors_h else NAN:.2f}"
            f" / {q(sc.end_errors_h, 90):.2f}",
            f"{mean(sc.start_covered):.1%} ({len(sc.start_covered)})",
            f"{mean(sc.end_covered):.1%} ({len(sc.end_covered)})",
            f"{1000 * sc.false_alarms / max(sc.series_days, 1):.2f}",
        ]
        print(f"{kind:13}" + "".join(f"{c:>16}" for c in cells))
    partial = dict(rows)["partial"]
    print()
    print("targets: flips/blk (alerts beyond the start and the end of a partial block) 0;")
    print("recall of blocks >= 3 h with >= 8 decisive measurements 100%; start and end")
    print("coverage (true change inside the reported bounds) >= 95%; FA/1000sd (false alarms")
    print("per 1,000 series-days) <= 1")
    checks = (
        ("alert flips per partial block", mean(partial.flips), 0.0, True),
        ("recall, blocks >= 3 h & >= 8 decisive", pooled.long_enough_found
         / max(pooled.long_enough, 1), 1.0, False),
        ("start bound coverage", mean(pooled.start_covered), 0.95, False),
        ("end bound coverage", mean(pooled.end_covered), 0.95, False),
        ("false alarms per 1,000 series-days", 1000 * pooled.false_alarms
         / max(pooled.series_days, 1), 1.0, True),
    )  # fmt: skip
    for name, value, target, lower in checks:
        ok = value <= target if lower else value >= target
        print(f"{name:48} {value:12.3f}   target {target:g}  {'ok' if ok else 'MISSED'}")


# -- part 2: real daily series ------------------------------------------------------------


def _reference() -> Path | None:
    override = os.environ.get("REACHWATCH_REFERENCE")
    path = (
        Path(override) if override else Path(__file__).resolve().parents[2] / "shared" / "reference"
    )
    return path if path.is_dir() else None


BUCKETS = {
    "anomaly": ("dns", "http", "tls"),
    "dns": ("dns",),
    "http": ("http",),
    "tls": ("tls",),
}


def real_part() -> None:
    ref = _reference()
    print()
    if ref is None:
        print("== real series: ../shared/reference not found (set REACHWATCH_REFERENCE); skipped")
        return
    path = ref / "acsac-series" / "ooni" / "ooni-data-pk.csv"
    with path.open() as fh:
        rows = [r for r in csv.DictReader(fh) if int(r["total"]) > 0]
    days = [date.fromisoformat(r["date"]) for r in rows]
    n_arr = np.array([int(r["total"]) for r in rows], dtype=np.int64)
    print(f"== real series: {path.relative_to(ref)} ({len(days)} days, {days[0]} to {days[-1]})")
    print("   share of each verdict bucket per day; PELT penalty scaled by the overdispersion")
    events = _events(ref, days[0], days[-1])
    found_by: dict[int, list[str]] = {}
    shares: dict[str, np.ndarray] = {}
    for bucket, columns in BUCKETS.items():
        b_arr = np.array([sum(int(r[c]) for c in columns) for r in rows], dtype=np.int64)
        shares[bucket] = b_arr
        phi = _overdispersion(n_arr, b_arr)
        changes = pelt(n_arr, b_arr, penalty=default_penalty(int(n_arr.sum())) * phi)
        print(f"   -- {bucket} ({' + '.join(columns)}): overdispersion {phi:.1f}, "
              f"{len(changes)} change points")  # fmt: skip
        bounds = [0, *changes, len(days)]
        for i, c in enumerate(changes):
            before = b_arr[bounds[i] : c].sum() / n_arr[bounds[i] : c].sum()
            after = b_arr[c : bounds[i + 2]].sum() / n_arr[c : bounds[i + 2]].sum()
            near = [
                j for j, e in enumerate(events) if any(abs((d - days[c]).days) <= 3 for d in e[0])
            ]
            for j in near:
                found_by.setdefault(j, []).append(f"{bucket} {days[c]}")
            label = "; ".join(f"{events[j][1]} ({events[j][2]})" for j in near) or "-"
            print(f"   {days[c]}  {before:6.1%} -> {after:6.1%}   near: {label}")
    print(f"   known events in the window: {len(events)}; with a change point within 3 days: "
          f"{len(found_by)}")  # fmt: skip
    print("   (anomaly share in the 14 days before -> during the event, or its first 3 days)")
    index = {d: i for i, d in enumerate(days)}
    for j, (dates, what, source) in enumerate(events):
        shift = _share_shift(index, n_arr, shares["anomaly"], dates)
        where = ", ".join(found_by.get(j, [])) or "no change point"
        print(f"   {' to '.join(str(d) for d in dates):24} {shift:17} {what} ({source}): {where}")
    print("   note: the series pools every OONI test in Pakistan; a block of one platform moves")
    print("   the country-wide share only when that platform is a large part of the tests run,")
    print("   so many events are invisible here. Per-platform series are what reachwatch builds.")


def _share_shift(
    index: dict[date, int],
    n: np.ndarray,
    b: np.ndarray,
    dates: tuple[date, ...],
) -> str:
    start = dates[0]
    end = dates[-1] if len(dates) > 1 else start + timedelta(days=2)
    before = [index[d] for d in _days(start - timedelta(days=14), start) if d in index]
    during = [index[d] for d in _days(start, end + timedelta(days=1)) if d in index]
    if not before or not during:
        return "no data"
    s0 = b[before].sum() / n[before].sum()
    s1 = b[during].sum() / n[during].sum()
    return f"{s0:6.1%} -> {s1:6.1%}"


def _days(first: date, stop: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((stop - first).days)]


def _overdispersion(n: np.ndarray, b: np.ndarray) -> float:
    """Pearson dispersion against a 7-day rolling share: how much noisier days are than
    binomial counts (volunteer probes come and go, and test lists change)."""
    share = b / n
    smooth = np.array([np.median(share[max(0, i - 3) : i + 4]) for i in range(len(share))])
    smooth = np.clip(smooth, 1e-3, 1 - 1e-3)
    resid = (b - n * smooth) ** 2 / (n * smooth * (1 - smooth))
    # The median of a chi-square with one degree of freedom is 0.455: rescale so that binomial
    # data would give 1, without letting a few event days inflate the estimate as a mean would.
    return float(max(1.0, np.median(resid) / 0.455))


def _events(ref: Path, first: date, last: date) -> list[tuple[tuple[date, ...], str, str]]:
    out: list[tuple[tuple[date, ...], str, str]] = []
    with (ref / "events" / "cenalert" / "by_country" / "PK.csv").open() as fh:
        for row in csv.DictReader(fh):
            if row["source"].strip() == "Other":
                continue  # non-censorship explanations of VPN interest
            start = date.fromisoformat(row["start_date"])
            end = date.fromisoformat(row["end_date"]) if row["end_date"] else None
            if first <= start <= last or (end and first <= end <= last):
                what = row["affected_services"].split(",")[0][:50]
                out.append(((start, end) if end else (start,), what, "CenAlert " + row["source"]))
    labels = ref / "ooni" / "labels" / "2026-08-06-event-labels-arturo.json"
    if labels.exists():
        for e in json.loads(labels.read_text())["events"]:
            if e.get("probe_cc") != "PK" or not e.get("onset_earliest"):
                continue
            start = date.fromisoformat(e["onset_earliest"][:10])
            end = (
                date.fromisoformat(e["resolution_earliest"][:10])
                if e.get("resolution_earliest")
                else None
            )
            if first <= start <= last:
                out.append(((start, end) if end else (start,), e["title"][:50], "OONI label"))
    return sorted(out, key=lambda e: e[0][0])


def figure(name: str, value: float, unit: str) -> None:
    print(f"{name:48} {value:12.3f} {unit}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--networks", type=int, default=6)
    args = parser.parse_args()
    simulated_part(args.seeds, args.days, args.rate, args.networks)
    class_part(args.seeds)
    real_part()


if __name__ == "__main__":
    main()
