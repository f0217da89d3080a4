"""Detection on corpora of the hardest classes, with known truth: partial blocking, short
blocks, a lone failure next to a change, sparse data. Each corpus is simulated measurement by
measurement, classified by the real classifier into a store, and detected as `detect` would."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from reachwatch.detect import Detection, DetectParams, Period, Timeline, cusum_alerts, detect
from reachwatch.simulate import Block, detection_corpus, generate, memory_store

from .conftest import make_store, measurement

HOUR = timedelta(hours=1)
T0 = datetime(2024, 2, 10)


def _corpus(kind: str, seed: int) -> tuple[Any, Detection, dict[str, list[Block]]]:
    scenario = detection_corpus(kind, seed, networks=3)
    con = memory_store(item.measurement for item in generate(scenario, seed))
    return con, detect(con), scenario.blocks


def _blocking(timeline: Timeline) -> list[Period]:
    return [p for p in timeline.periods if p.state != "clear"]


def _overlapping(timeline: Timeline, block: Block) -> list[Period]:
    end = block.end or datetime.max
    return [
        p
        for p in _blocking(timeline)
        if (p.start.at if p.start else p.first) < end + HOUR
        and (p.end.at if p.end else datetime.max) > block.start - HOUR
    ]


def _x(detection: Detection) -> list[Timeline]:
    return [t for t in detection.timelines if t.platform == "x"]


def _assert_bounds_hold(timeline: Timeline, block: Block) -> None:
    periods = _overlapping(timeline, block)
    assert periods, (timeline.network, block)
    first, last = periods[0].start, periods[-1].end
    assert first is not None and first.earliest <= block.start <= first.latest, (block, first)
    if block.end is not None:
        assert last is not None and last.earliest <= block.end <= last.latest, (block, last)


def _assert_no_false_period(timeline: Timeline, blocks: list[Block]) -> None:
    for p in _blocking(timeline):
        start, end = p.start.at if p.start else p.first, p.end.at if p.end else datetime.max
        assert any(
            start < (b.end or datetime.max) + 2 * HOUR and b.start - 2 * HOUR < end for b in blocks
        ), (timeline.network, p)


@pytest.mark.parametrize("seed", [0, 1])
def test_partial_blocks_raise_one_start_and_one_end_alert(seed: int) -> None:
    """50-70% of measurements blocked throughout: one incident per block, bounds holding its
    start and end, and the alerts follow the share: no "access back" while it holds."""
    _, detection, truth = _corpus("partial", seed)
    for timeline in _x(detection):
        blocks = truth[timeline.network]
        _assert_no_false_period(timeline, blocks)
        for i, block in enumerate(blocks):
            _assert_bounds_hold(timeline, block)
            until = blocks[i + 1].start - 2 * HOUR if i + 1 < len(blocks) else datetime.max
            kinds = [k for at, k in timeline.alerts if block.start - 2 * HOUR <= at < until]
            assert kinds == ["start", "end"], (timeline.network, block, timeline.alerts)


def test_short_blocks_with_eight_measurements_are_incidents() -> None:
    """3-hour blocks at 2-5 measurements an hour: each with at least 8 decisive measurements
    is found, with bounds holding its start and end; nothing else is."""
    con, detection, truth = _corpus("short", 0)
    checked = 0
    for timeline in _x(detection):
        blocks = truth[timeline.network]
        _assert_no_false_period(timeline, blocks)
        for block in blocks:
            assert block.end is not None
            row = con.execute(
                "SELECT count(*) FROM measurements WHERE probe_asn = ? AND platform = 'x' "
                "AND verdict IN ('blocked', 'accessible') AND measurement_start_time >= ? "
                "AND measurement_start_time < ?",
                [timeline.network, block.start, block.end],
            ).fetchone()
            if row[0] >= 8:
                _assert_bounds_hold(timeline, block)
                checked += 1
    assert checked >= 10


def test_a_lone_failure_next_to_a_change_does_not_move_it() -> None:
    """One blocking-like failure 5-60 minutes before each start and after each end: starts
    and ends stay within the hour of the truth, inside their bounds."""
    _, detection, truth = _corpus("lone-failure", 0)
    for timeline in _x(detection):
        for block in truth[timeline.network]:
            _assert_bounds_hold(timeline, block)
            periods = _overlapping(timeline, block)
            start, end = periods[0].start, periods[-1].end
            assert start is not None and end is not None and block.end is not None
            assert abs(start.at - block.start) < HOUR and abs(end.at - block.end) < HOUR


def test_sparse_data_widens_bounds_instead_of_missing_the_truth() -> None:
    """0.3 to 1 measurement an hour, probes vanishing for a day: every block is found and
    its bounds, wide as they must be, hold its start and end."""
    _, detection, truth = _corpus("sparse", 0)
    for timeline in _x(detection):
        _assert_no_false_period(timeline, truth[timeline.network])
        for block in truth[timeline.network]:
            _assert_bounds_hold(timeline, block)


def _background(rng: random.Random, days: int, per_hour: int = 4) -> list[dict[str, Any]]:
    """Access with 3% background failures, `per_hour` measurements an hour."""
    rows = []
    for h in range(24 * days):
        for k in range(per_hour):
            t = T0 + timedelta(hours=h, minutes=k * 60 // per_hour + 3)
            rows.append(measurement(t, "blocked" if rng.random() < 0.03 else "accessible"))
    return rows


def test_a_three_hour_block_of_eleven_measurements_is_an_incident() -> None:
    """Eleven resets in three hours, clean data either side, a month of background failures:
    too few measurements to pay hourly change points' penalty (the hours at its edges are
    mixed), plain one by one."""
    rng = random.Random(0)
    start, end = (
        T0 + timedelta(days=12, hours=15, minutes=20),
        T0 + timedelta(days=12, hours=18, minutes=20),
    )
    rows = [r for r in _background(rng, 30) if not start <= r["measurement_start_time"] < end]
    rows += [measurement(start + timedelta(minutes=8 + 16 * k), "blocked") for k in range(11)]
    con = make_store(rows)
    (incident,) = detect(con).to_json()["incidents"]
    (net,) = incident["networks"]
    lo, hi = net["start_bounds"]
    assert lo <= "2024-02-22T15:20:00Z" <= hi
    lo, hi = net["end_bounds"]
    assert lo <= "2024-02-22T18:20:00Z" <= hi
    # Hourly change points alone do not see it.
    assert detect(con, params=DetectParams(short_block_min=10**6)).incidents == []


def test_a_lone_failure_after_an_end_and_a_silence_leaves_the_end_in_its_bounds() -> None:
    """Access comes back at 12:00, the probes fall silent at night, and the first measurement
    after the silence is a background reset at 13:50: alone in its hour, it drags that hour
    into the block. The end is sought well before that hour, and its bounds span the silence
    where the change happened (the measurements cannot tell where in it)."""
    rng = random.Random(6)
    start, end = T0 + timedelta(days=8, hours=6), T0 + timedelta(days=9, hours=12)
    rows = []
    for r in _background(rng, 20):
        t = r["measurement_start_time"]
        if start <= t < end:
            rows.append(measurement(t, "blocked"))
        elif t >= end + 2 * HOUR or t < start:
            rows.append(r if t >= end + 3 * HOUR or t < start else measurement(t, "accessible"))
    rows.append(measurement(end + timedelta(minutes=110), "blocked", ident="lone"))
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    (net,) = incident["networks"]
    lo, hi = net["end_bounds"]
    assert lo <= "2024-02-19T12:00:00Z" <= hi


def test_alerts_follow_the_share_of_a_partial_block() -> None:
    """A week at 60% blocked, hour after hour: one start, one end, however many hours dip
    below one half."""
    rng = np.random.default_rng(3)
    hours = [(72, 0.03), (24 * 7, 0.6), (72, 0.03)]
    n = np.concatenate([rng.poisson(5, size=h) for h, _ in hours]).astype(np.int64)
    share = np.concatenate([np.full(h, p) for h, p in hours])
    b = rng.binomial(n, share).astype(np.int64)
    assert sum(1 for x in range(72, 72 + 24 * 7) if b[x] * 2 < n[x]) > 20  # many dips
    alerts = cusum_alerts(n, b)
    assert [a.kind for a in alerts] == ["start", "end"]
    assert 72 <= alerts[0].index <= 75 and 240 <= alerts[1].index <= 246
