"""A run killed with SIGKILL halfway, started again, ends with exactly the rows of a run that
was never interrupted."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from reachwatch.store import open_store

_CLI = [sys.executable, "-c", "from reachwatch.cli import main; main()"]
FILES = 8
PER_FILE = 1500


def _corpus(folder: Path, make_measurement: Callable[..., dict[str, Any]]) -> None:
    folder.mkdir()
    for f in range(FILES):
        lines = []
        for i in range(PER_FILE):
            day = 16 + (i % 3)
            m = make_measurement(
                f"k{f}-{i}",
                url=f"https://x.com/{i % 50}",
                cc=("PK", "IT")[i % 2],
                start=f"2024-02-{day} {i % 24:02d}:00:00",
                reset=i % 4 != 0,
            )
            lines.append(orjson.dumps(m))
        lines.append(lines[0])  # a duplicate inside the file
        lines.append(b"{broken")
        (folder / f"part-{f}.jsonl").write_bytes(b"\n".join(lines) + b"\n")


def _ingest_cmd(src: Path, db: Path) -> list[str]:
    return [*_CLI, "ingest", str(src), "--db", str(db), "--json", "--batch-size", "1500"]


def _committed(db: Path) -> int:
    manifest = db / "manifest.jsonl"
    return manifest.read_bytes().count(b"\n") if manifest.exists() else 0


def _table(db: Path, table: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_sigkill_halfway_then_rerun_equals_uninterrupted_run(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    src = tmp_path / "corpus"
    _corpus(src, make_measurement)
    total = FILES * PER_FILE

    killed_db = tmp_path / "killed"
    proc = subprocess.Popen(
        _ingest_cmd(src, killed_db), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 240
    while _committed(killed_db) < 3:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no batch committed in time"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    partial = len(_table(killed_db, "measurements"))
    assert 0 < partial < total, partial

    rerun = subprocess.run(_ingest_cmd(src, killed_db), capture_output=True, check=True)
    resumed = orjson.loads(rerun.stdout)
    assert resumed["stored"] == total - partial
    assert resumed["duplicates"] == partial + FILES  # what was stored, plus in-file repeats

    clean_db = tmp_path / "clean"
    clean = subprocess.run(_ingest_cmd(src, clean_db), capture_output=True, check=True)
    assert orjson.loads(clean.stdout)["stored"] == total

    for table in ("measurements", "observations", "raw"):
        assert _table(killed_db, table) == _table(clean_db, table), table
    assert not list(killed_db.rglob("*.tmp"))
