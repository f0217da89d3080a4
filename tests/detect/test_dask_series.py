"""The hourly series detect reads, counted on a Dask `LocalCluster` of 2 workers: equal, row
for row, to the embedded engine's; and `detect --engine dask` prints what `detect` prints,
on a local cluster and on a scheduler with 2 workers the test starts on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from tests.detect.conftest import two_country_store

from reachwatch import LAYERS
from reachwatch.cluster import Engine
from reachwatch.detect import load_series
from reachwatch.detect._on_dask import series_on_dask
from reachwatch.detect._series import Series
from reachwatch.store import open_store

_CLI = [sys.executable, "-c", "from reachwatch.cli import main; main()"]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Two countries over many days, in small batches: many files per partition."""
    db, records = two_country_store(tmp_path_factory.mktemp("dask-series"), batch_size=700)
    return db, str(records[0]["probe_cc"])


def _as_rows(series: list[Series]) -> list[tuple[Any, ...]]:
    rows = []
    for s in series:
        for i, hour in enumerate(s.hours):
            counts = (s.accessible[i], s.blocked[i], s.down[i], s.inconclusive[i], s.volume[i])
            rows.append((s.key, np.datetime64(hour, "h"), *(int(c) for c in counts)))
    return rows


def test_series_counted_on_dask_equal_the_embedded_engines(store: tuple[Path, str]) -> None:
    db, cc = store
    manifest = (db / "manifest.jsonl").read_bytes().splitlines()
    assert len(manifest) > 3, "several batches: partitions with several files"
    con = open_store(db, read_only=True)
    engine = Engine("dask", jobs=2)
    scopes: list[dict[str, Any]] = [
        {},
        {"cc": cc},
        {"cc": "IR", "platform": "x"},
        {"cc": cc, "layers": tuple(["all", *LAYERS])},
        {"cc": "DE"},
    ]
    try:
        for scope in scopes:
            expected = load_series(con, **scope)
            got = series_on_dask(engine, db, **scope)
            assert _as_rows(got) == _as_rows(expected), scope
            assert [s.hours.dtype for s in got] == [s.hours.dtype for s in expected]
        assert len(load_series(con)) > 2 and load_series(con, cc="DE") == []
    finally:
        con.close()


def test_detect_on_dask_prints_what_detect_prints(
    store: tuple[Path, str], dask_cluster: str
) -> None:
    """On a local Dask cluster, and on the test's `dask scheduler` and 2 `dask worker`s."""
    db, cc = store
    outputs = []
    for extra in ([], ["--engine", "dask"], ["--engine", "dask", "--scheduler", dask_cluster]):
        done = subprocess.run(
            [*_CLI, "detect", "--db", str(db), "--cc", cc, "--platform", "x", "--json", *extra],
            capture_output=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
        outputs.append(orjson.loads(done.stdout))
    assert outputs[0]["incidents"], "the corpus has blocks: an empty answer would prove nothing"
    assert outputs[1] == outputs[0]
    assert outputs[2] == outputs[0]
