"""The compiled PELT search gives the numpy reference's change points, on every kind of series
detection meets: steady, with several changes, sparse hours, tiny and huge penalties."""

from __future__ import annotations

import numpy as np
import pytest

from reachwatch.detect import pelt
from reachwatch.detect._changepoints import pelt_reference


@pytest.mark.parametrize("seed", range(12))
def test_compiled_search_equals_the_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(25):
        size = int(rng.integers(1, 300))
        n = rng.poisson(rng.uniform(0.3, 40), size).astype(np.int64)
        share = np.full(size, rng.uniform(0, 0.1))
        for _ in range(int(rng.integers(0, 4))):
            share[int(rng.integers(0, size)) :] = rng.uniform(0, 1)
        b = rng.binomial(n, share).astype(np.int64)
        n, b = n[n > 0], b[n > 0]
        penalty = None if seed % 3 == 0 else float(rng.uniform(0.01, 30))
        assert pelt(n, b, penalty=penalty) == pelt_reference(n, b, penalty=penalty)


def test_a_year_of_hours_with_a_block_is_found_the_same_way() -> None:
    rng = np.random.default_rng(1)
    hours = 24 * 366
    n = rng.poisson(30, hours).astype(np.int64)
    share = np.where((np.arange(hours) >= 5_800) & (np.arange(hours) < 6_700), 0.97, 0.02)
    b = rng.binomial(n, share).astype(np.int64)
    n, b = n[n > 0], b[n > 0]
    found = pelt(n, b)
    assert found == pelt_reference(n, b)
    assert len(found) >= 2 and abs(found[0] - 5_800) <= 2 and abs(found[-1] - 6_700) <= 2
