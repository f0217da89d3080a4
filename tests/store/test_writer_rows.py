"""The writer remembers exactly the ids it stored."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from reachwatch.store import StoreWriter, id_hash
from reachwatch.store._writer import _distinct, _merged


def _measurement(i: int, cc: str) -> tuple[Any, ...]:
    t = dt.datetime(2024, 2, 17, 10, 0, i % 60, i)
    blocked = i % 3 == 0
    return (
        f"m{i}", "ooni", "web_connectivity", f"https://h{i}.example/", f"h{i}.example",
        None if i % 2 else "x", cc, f"AS{i}", t, t.date(), "blocked" if blocked else None,
        "tls.reset" if blocked else None, i % 5 != 0, i % 7 == 0, "a.jsonl", i + 1,
    )  # fmt: skip


def test_ids_are_remembered_over_many_batches_and_runs(tmp_path: Path) -> None:
    db = tmp_path / "db"
    ids = [f"m{i}" for i in range(50)]
    for run in range(2):
        with StoreWriter(db, batch_size=7) as writer:
            for i, mid in enumerate(ids[run * 25 : run * 25 + 25]):
                writer.add(id_hash(mid), "2024-02-17", "PK", (mid, *_measurement(i, "PK")[1:]))
    with StoreWriter(db) as writer:
        assert all(writer.holds(id_hash(mid)) for mid in ids)
        assert not writer.holds(id_hash("m50"))


_DIGESTS = st.lists(st.integers(0, 2**64 - 1) | st.integers(0, 40), max_size=60)


@given(_DIGESTS, _DIGESTS)
def test_merging_digests_is_a_sorted_union(stored: list[int], fresh: list[int]) -> None:
    before = np.unique(np.array(stored, dtype=np.uint64))
    merged = _merged(before, np.array(sorted(set(fresh)), dtype=np.uint64)[::-1])
    assert merged.dtype == np.uint64
    assert merged.tolist() == sorted(set(stored) | set(fresh))


@given(_DIGESTS)
def test_distinct_digests_are_sorted_and_each_once(digests: list[int]) -> None:
    distinct = _distinct(np.array(digests, dtype=np.uint64))
    assert distinct.dtype == np.uint64
    assert distinct.tolist() == sorted(set(digests))
