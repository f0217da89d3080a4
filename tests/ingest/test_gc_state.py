"""A run keeps the collector away from the heap that existed before it, and gives it back."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from reachwatch.ingest import ingest


def _corpus(folder: Path, make: Callable[..., Any]) -> Path:
    path = folder / "in.jsonl"
    path.write_bytes(b"".join(orjson.dumps(make(f"m{i}")) + b"\n" for i in range(3)))
    return path


def test_heap_is_unfrozen_after_a_run(tmp_path: Path, make_measurement: Any) -> None:
    assert gc.get_freeze_count() == 0
    summary = ingest([_corpus(tmp_path, make_measurement)], tmp_path / "db")
    assert summary.stored == 3
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_by_the_application_stays_frozen(
    tmp_path: Path, make_measurement: Any
) -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        ingest([_corpus(tmp_path, make_measurement)], tmp_path / "db")
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()
