"""The writer stores exactly the rows it is given, however they are added and batched, and
remembers exactly the ids it stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from reachwatch.store import FACT_OWN_COLUMNS, FACTS_COLUMNS, StoreWriter, id_hash, open_store
from reachwatch.store._writer import _distinct, _merged


def _measurement(i: int, cc: str) -> tuple[Any, ...]:
    t = dt.datetime(2024, 2, 17, 10, 0, i % 60, i)
    blocked = i % 3 == 0
    return (
        f"m{i}", "ooni", "web_connectivity", f"https://h{i}.example/", f"h{i}.example",
        None if i % 2 else "x", cc, f"AS{i}", t, t.date(), "blocked" if blocked else None,
        "tls.reset" if blocked else None, i % 5 != 0, i % 7 == 0, "a.jsonl", i + 1,
        None if i % 5 == 0 else f"0.1.0+rules.{i % 2}", None if i % 5 == 0 else "ab" * 32,
    )  # fmt: skip


def _own(i: int, k: int) -> tuple[Any, ...]:
    return (
        None if k else "x", f"h{i}.example", f"192.0.2.{k}" if k % 2 else None, "tls",
        "ok", f"rule{k}", None, "connection_reset" if k == 2 else None, k / 4, 0.5, 1 - k / 4,
    )  # fmt: skip


def _full(row: tuple[Any, ...], own: tuple[Any, ...]) -> tuple[Any, ...]:
    """An observation row with every column: the shared ones come from its measurement."""
    return (row[0], row[6], row[7], row[8], row[9], *own, row[13], row[16], row[17])


def _fact(i: int, k: int) -> tuple[Any, ...]:
    """A fact's own columns (FACT_OWN_COLUMNS), varied so a shifted column would show."""
    values: list[Any] = [
        ("dns_answer", "tcp_connect", "http_request")[k % 3],
        ("probe", "control")[i % 2],
        k,
        k if k % 3 == 2 else None,
        i * 10 + k,
        f"h{i}.example",
        f"192.0.2.{k}",
        443 + k,
        13414 if k else None,
    ]
    for name in FACT_OWN_COLUMNS[len(values) :]:
        values.append(_FACT_VALUES[FACTS_COLUMNS[name]](i, k))
    return tuple(values)


_FACT_VALUES: dict[str, Callable[[int, int], Any]] = {
    "VARCHAR": lambda i, k: None if (i + k) % 4 == 0 else f"v{i}.{k}",
    "BOOLEAN": lambda i, k: None if (i + k) % 3 == 0 else bool(k % 2),
    "INTEGER": lambda i, k: (i * 7 + k) % 600,
    "BIGINT": lambda i, k: None if k == 1 else i * 1_000_000_007 + k,
    "DOUBLE": lambda i, k: i + k / 8,
}


def _full_fact(row: tuple[Any, ...], fact: tuple[Any, ...]) -> tuple[Any, ...]:
    return (row[0], row[6], row[7], row[8], row[9], row[13], *fact)


def _rows(db: Path, table: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
    finally:
        con.close()


@pytest.mark.parametrize("batch_size", [5, 1000])
def test_rows_come_back_exactly_as_added(tmp_path: Path, batch_size: int) -> None:
    db = tmp_path / "db"
    measurements, observations, raw, facts = [], [], [], []
    with StoreWriter(db, batch_size=batch_size) as writer:
        for i in range(40):
            cc = ("PK", "IT", "ZZ")[i % 3]
            row = _measurement(i, cc)
            own = [_own(i, k) for k in range(i % 4)]
            measurements.append(row)
            if i % 10 == 9:  # stored raw, beside classified ones of the same partition
                raw_row = (row[0], "ooni", "tor", cc, row[8], row[9], "a.jsonl", i + 1, "{}")
                writer.add(id_hash(row[0]), "2024-02-17", cc, row, raw=raw_row, size=2)
                raw.append(raw_row)
                continue
            observations += [_full(row, o) for o in own]
            if i % 10 == 8:  # whole observation rows
                writer.add(id_hash(row[0]), "2024-02-17", cc, row, [_full(row, o) for o in own])
            else:
                mine = [_fact(i, k) for k in range(i % 5)]
                facts += [_full_fact(row, f) for f in mine]
                flat = [value for f in mine for value in f]
                writer.add_observed(id_hash(row[0]), "2024-02-17", cc, row, own, facts=flat)
    assert _rows(db, "measurements") == sorted(measurements, key=repr)
    assert _rows(db, "observations") == sorted(observations, key=repr)
    assert _rows(db, "raw") == sorted(raw, key=repr)
    assert facts and _rows(db, "facts") == sorted(facts, key=repr)


def test_a_row_of_the_wrong_width_is_refused_and_the_batch_stays_whole(tmp_path: Path) -> None:
    db = tmp_path / "db"
    with StoreWriter(db) as writer:
        writer.add_observed(id_hash("m1"), "2024-02-17", "PK", _measurement(1, "PK"), [_own(1, 1)])
        with pytest.raises(ValueError, match="columns"):
            writer.add_observed(id_hash("m2"), "2024-02-17", "PK", _measurement(2, "PK")[:-1], [])
        with pytest.raises(ValueError, match="columns"):
            bad = [_own(3, 1), _own(3, 2)[:-1]]
            writer.add_observed(id_hash("m3"), "2024-02-17", "PK", _measurement(3, "PK"), bad)
        with pytest.raises(ValueError, match="columns"):
            cut = [*_fact(4, 0), *_fact(4, 1)[:-1]]
            writer.add_observed(
                id_hash("m4"), "2024-02-17", "PK", _measurement(4, "PK"), [], facts=cut
            )
    assert [r[0] for r in _rows(db, "measurements")] == ["m1"]
    assert len(_rows(db, "observations")) == 1


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
