"""A transfer's timeline read exactly: its measures, the minimum of evidence and the stall test at
their bounds, and what is skipped."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify._transfer import (
    MIN_BYTES,
    MIN_POINTS,
    MIN_SECONDS,
    STALL_FACTOR,
    STALL_SECONDS,
    Transfer,
    page_transfer,
    sample_transfer,
)


def test_the_stall_bounds_are_documented_as_configured() -> None:
    # docs/conformance.md: a quiet end of 2 s and of 3 mean gaps between arrivals.
    assert (STALL_SECONDS, STALL_FACTOR) == (2.0, 3.0)


def test_measures_run_from_the_first_arrival_to_the_last() -> None:
    t = Transfer([(1.0, 100.0), (2.0, 300.0), (4.0, 700.0)], None)
    assert (t.seconds, t.flow_bytes, t.rate) == (3.0, 600.0, 200.0)
    assert t.intervals() == [(1.0, 200.0), (2.0, 400.0)]
    assert Transfer([(1.0, 100.0)], None).rate is None


def _even(points: int, seconds: float, size: float) -> list[tuple[float, float]]:
    step = seconds / (points - 1)
    return [(i * step, i * size / (points - 1)) for i in range(points)]


def test_the_minimum_of_evidence_at_its_bounds() -> None:
    assert Transfer(_even(MIN_POINTS, MIN_SECONDS, MIN_BYTES), None).enough
    assert not Transfer(_even(MIN_POINTS - 1, MIN_SECONDS, MIN_BYTES), None).enough
    assert not Transfer(_even(MIN_POINTS, MIN_SECONDS * 0.99, MIN_BYTES), None).enough
    assert not Transfer(_even(MIN_POINTS, MIN_SECONDS, MIN_BYTES - 1), None).enough


@pytest.mark.parametrize(
    ("gap", "quiet", "stalled"),
    [
        (0.5, STALL_SECONDS, False),  # short gaps: the fixed bound decides
        (0.5, STALL_SECONDS + 0.01, True),
        (1.0, STALL_FACTOR * 1.0, False),  # long gaps: three of them decide
        (1.0, STALL_FACTOR * 1.0 + 0.01, True),
    ],
)
def test_a_stall_is_a_quiet_end_longer_than_both_bounds(
    gap: float, quiet: float, stalled: bool
) -> None:
    points = [(i * gap, i * 1000.0) for i in range(4)]
    assert Transfer(points, points[-1][0] + quiet).stalled is stalled
    assert not Transfer(points, None).stalled  # no end recorded: nothing to tell


def test_page_transfer_reads_the_final_request() -> None:
    keys: dict[str, Any] = {"requests": [{"t": 5.0, "x_arrivals": [[1, 10], [2, 20]]}, {}]}
    t = page_transfer(keys)
    assert t is not None and (t.points, t.end) == ([(1.0, 10.0), (2.0, 20.0)], 5.0)
    assert page_transfer({"requests": []}) is None
    assert page_transfer({"requests": "no"}) is None
    assert page_transfer({"requests": [{"x_arrivals": []}]}) is None


def test_sample_transfer_ends_when_the_sample_did() -> None:
    t = sample_transfer({"samples": [[0.5, 10], [1.0, 20]], "seconds": 3.0})
    assert t is not None and t.end == 3.0
    assert sample_transfer(None) is None
    assert sample_transfer({"samples": []}) is None


def test_malformed_points_are_skipped_and_reading_goes_on() -> None:
    raw = [[0.5], ["1", 2], [1.0, 10], [0.9, 20], [2.0, 5], [3.0, 30], [True, 40]]
    t = page_transfer({"requests": [{"x_arrivals": raw}]})
    assert t is not None and t.points == [(1.0, 10.0), (3.0, 30.0)]


def test_ooni_events_of_the_transaction_from_its_start() -> None:
    events = [
        {"operation": "read", "num_bytes": 100, "t": 0.5, "transaction_id": 4},  # before t0
        {"operation": "read", "num_bytes": 100, "t": 1.0, "transaction_id": 4},
        {"operation": "read", "num_bytes": 100, "t": 2.0, "transaction_id": 5},  # not this one
        {"operation": "write", "num_bytes": 50, "t": 2.5, "transaction_id": 4},
        {"operation": "read", "num_bytes": 100, "t": 3.0, "transaction_id": 4},
    ]
    keys = {"requests": [{"transaction_id": 4, "t0": 0.8}], "network_events": events}
    t = page_transfer(keys)
    assert t is not None and t.points == [(1.0, 100.0), (3.0, 200.0)]
    no_start = {"requests": [{"transaction_id": 4}], "network_events": events}
    t = page_transfer(no_start)
    assert t is not None and t.points[0] == (0.5, 100.0)
    assert page_transfer({"requests": [{}], "network_events": events}) is None
    assert page_transfer({"requests": [{"transaction_id": 4}], "network_events": {}}) is None
