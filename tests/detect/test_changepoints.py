"""Change points and CUSUM on synthetic series whose truth is known."""

from __future__ import annotations

import numpy as np

from reachwatch.detect import CusumParams, best_split, cusum_alerts, pelt, split_interval


def _series(
    shares: list[tuple[int, float]], per_hour: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = np.concatenate([np.full(length, per_hour) for length, _ in shares]).astype(np.int64)
    b = np.concatenate(
        [rng.binomial(per_hour, share, size=length) for length, share in shares]
    ).astype(np.int64)
    return n, b


def test_pelt_finds_the_true_changes_within_an_hour() -> None:
    for seed in range(5):
        n, b = _series([(100, 0.02), (40, 0.97), (8, 0.03), (60, 0.97)], 5, seed)
        changes = pelt(n, b)
        assert len(changes) == 3, (seed, changes)
        for found, true in zip(changes, (100, 140, 148), strict=True):
            assert abs(found - true) <= 1, (seed, changes)


def test_pelt_finds_nothing_in_a_quiet_series() -> None:
    for seed in range(5):
        n, b = _series([(24 * 30, 0.03)], 5, seed)
        assert pelt(n, b) == []


def test_pelt_ignores_a_lone_noisy_hour() -> None:
    n, b = _series([(200, 0.0)], 5, 0)
    b[80] = 4  # one hour where a handful of measurements misfire
    assert pelt(n, b) == []


def test_best_split_places_the_change_between_two_measurements() -> None:
    flags = np.array([False] * 7 + [True] * 5)
    assert best_split(flags, 0.02, 0.97) == 7
    flags = np.array([False, False, True, False, True, True, True])
    assert best_split(flags, 0.02, 0.97) in (2, 4)


def test_cusum_alerts_start_and_end_and_sits_still_in_gaps() -> None:
    n, b = _series([(50, 0.02), (30, 1.0), (40, 0.02)], 5, 1)
    alerts = cusum_alerts(n, b)
    assert [a.kind for a in alerts] == ["start", "end"]
    assert 50 <= alerts[0].index <= 51  # raised at the close of the first or second bucket
    assert 80 <= alerts[1].index <= 81
    # Empty hours (gaps) between blocked hours neither raise nor clear anything.
    n_gap = n.copy()
    b_gap = b.copy()
    n_gap[60:75] = 0
    b_gap[60:75] = 0
    kinds = [a.kind for a in cusum_alerts(n_gap, b_gap)]
    assert kinds == ["start", "end"]


def test_cusum_stays_quiet_on_noise_at_the_clear_rate() -> None:
    n, b = _series([(24 * 60, 0.03)], 5, 3)
    assert cusum_alerts(n, b, CusumParams()) == []


def test_split_interval_covers_a_measurement_that_leaked_through() -> None:
    # Clear, then blocked from index 6 on, but the measurement at index 7 got through.
    flags = np.array([False] * 6 + [True, False] + [True] * 6)
    best, first, last = split_interval(flags, 0.02, 0.97)
    assert first <= 6 <= last  # the true change is inside the bounds
    assert best in (6, 8)
    # A clean change gives one measurement either side: with shares capped to [0.05, 0.95],
    # the measurement next to the change being a leak or a background failure has a chance
    # of about 5% each, too much for a bound that holds the truth 99% of the time.
    clean = np.array([False] * 6 + [True] * 6)
    assert split_interval(clean, 0.02, 0.97) == (6, 5, 7)


def test_split_interval_weighs_time_between_measurements() -> None:
    """The change is equally likely at any moment: a contrary first measurement after a
    three-hour silence leaves the silence inside the bounds, and a change after a long gap
    is not pinned to the few seconds between two close measurements."""
    # Clear, a gap, then an accessible measurement (a leak) followed by blocked ones.
    flags = np.array([False] * 5 + [False] + [True] * 6)
    gaps = np.array([600.0] * 5 + [10800.0] + [30.0] + [600.0] * 5 + [600.0])
    best, first, last = split_interval(flags, 0.03, 0.97, gaps=gaps)
    assert best == 6 and first <= 5 <= last
    # Without the time between measurements, the likelihood alone excludes the gap.
    assert split_interval(flags, 0.03, 0.97, level=0.9)[1] == 6
