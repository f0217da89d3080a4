"""Property: however real samples are mangled around them, every intact valid line is stored
exactly once, and the run never fails."""

from __future__ import annotations

import gzip
import itertools
from pathlib import Path

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reachwatch.formats.censoredplanet import censoredplanet_identity, record_kind
from reachwatch.formats.ooni import is_ooni, ooni_identity
from reachwatch.ingest import ingest
from reachwatch.store import open_store

_counter = itertools.count()


def _id(line: bytes) -> str:
    value = orjson.loads(line)
    if is_ooni(value):
        return ooni_identity(value, line).measurement_id
    kind = record_kind(value)
    assert kind is not None
    return censoredplanet_identity(value, kind, line, Path("sample.jsonl")).measurement_id


def _stored_ids(db: Path) -> list[str]:
    con = open_store(db, read_only=True)
    try:
        rows = con.execute("SELECT measurement_id FROM measurements").fetchall()
        return [str(row[0]) for row in rows]
    finally:
        con.close()


@pytest.fixture(scope="module")
def valid_ids(sample_lines: list[bytes], tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """The ids a clean ingest of the samples stores: what 'valid' means here."""
    folder = tmp_path_factory.mktemp("clean")
    (folder / "clean.jsonl").write_bytes(b"\n".join(sample_lines) + b"\n")
    ingest([folder / "clean.jsonl"], folder / "db")
    ids = set(_stored_ids(folder / "db"))
    assert len(ids) == len(sample_lines)
    return ids


_OPS = st.sampled_from(["keep", "keep", "duplicate", "garbage_before", "flip", "truncate"])


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), compress=st.booleans())
def test_intact_valid_lines_survive_any_mangling(
    data: st.DataObject,
    compress: bool,
    sample_lines: list[bytes],
    valid_ids: set[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    out: list[bytes] = []
    intact: list[bytes] = []
    for line in sample_lines:
        op = data.draw(_OPS)
        if op == "flip":
            pos = data.draw(st.integers(0, len(line) - 1))
            bit = data.draw(st.integers(0, 7))
            mangled = bytearray(line)
            mangled[pos] ^= 1 << bit
            out.append(bytes(mangled))
        elif op == "truncate":
            out.append(line[: data.draw(st.integers(0, len(line) - 1))])
        else:
            if op == "garbage_before":
                garbage = data.draw(st.binary(min_size=1, max_size=60))
                out.append(garbage.replace(b"\n", b" "))
            out.append(line)
            if op == "duplicate":
                out.append(line)
            intact.append(line)
    blob = b"\n".join(out) + b"\n"
    folder = tmp_path_factory.mktemp(f"mangled{next(_counter)}")
    path = folder / ("in.jsonl.gz" if compress else "in.jsonl")
    path.write_bytes(gzip.compress(blob) if compress else blob)

    summary = ingest([path], folder / "db")

    stored = _stored_ids(folder / "db")
    assert len(stored) == len(set(stored)) == summary.stored
    for line in intact:
        measurement_id = _id(line)
        if measurement_id in valid_ids:
            assert stored.count(measurement_id) == 1, measurement_id
