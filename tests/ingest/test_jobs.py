"""`ingest --jobs N` and `rejudge --jobs N`: worker processes judge, one writer stores, and
the store is the one `--jobs 1` writes, byte for byte apart from file names; a worker or the
writer killed with SIGKILL, then a rerun, ends with the tables of a run never interrupted."""

from __future__ import annotations

import gzip
import hashlib
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

import reachwatch.ingest._parallel as parallel
from reachwatch.classify import load_fingerprints
from reachwatch.ingest import ingest, rejudge
from reachwatch.store import open_store

_CLI = [sys.executable, "-c", "from reachwatch.cli import main; main()"]
REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))
Make = Callable[..., dict[str, Any]]

_CP_RECORD: dict[str, Any] = {
    "vp": "1.2.3.4",
    "location": {"country_code": "PK", "country_name": "Pakistan"},
    "service": "https",
    "test_url": "x.com",
    "response": [
        {
            "matches_template": False,
            "error": "read: connection reset by peer",
            "start_time": "2024-02-18T10:00:00.123456789+05:00",
            "end_time": "2024-02-18T10:00:00.2+05:00",
        }
    ],
    "anomaly": True,
    "controls_failed": False,
    "stateful_block": False,
    "tag": "2024-02-18T10:00:00",
}


def _corpus(folder: Path, make: Make, sample_lines: list[bytes], per_file: int = 700) -> None:
    """Every kind of input: OONI files with repeats inside and across files and bad lines,
    a test reachwatch keeps raw, a gzip cut in the middle, a Censored Planet file (with bad
    records), the sample lines (real OONI and Censored Planet when ../shared/reference is
    here), and files that are not read at all."""
    folder.mkdir()
    lines: list[bytes] = []
    for f in range(4):
        lines = []
        for i in range(per_file):
            m = make(
                f"j{f}-{i}",
                url=f"https://x.com/{i % 40}",
                cc=("PK", "IT", "IR")[i % 3],
                start=f"2024-02-{16 + i % 3} {i % 24:02d}:00:00",
                reset=i % 4 != 0,
            )
            if i % 97 == 5:
                m["test_name"] = "ndt"  # not classified: stored raw
            lines.append(orjson.dumps(m))
        lines[10] = lines[3]  # a repeat inside the file
        lines.insert(50, b"{broken")
        lines.insert(60, b"[1, 2]")  # JSON, not an object
        if f:
            lines.append(orjson.dumps(make(f"j{f - 1}-7")))  # a repeat of another file's
        (folder / f"ooni-{f}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    data = gzip.compress(b"\n".join(lines[:300]).replace(b'"j3-', b'"cut-') + b"\n")
    (folder / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    no_list = {**_CP_RECORD, "response": {"not": "a list"}}
    cp = [_CP_RECORD, no_list, {"resolver": "8.8.8.8"}, _CP_RECORD]
    (folder / "https_results_v2.json").write_bytes(b"\n".join(map(orjson.dumps, cp)) + b"\n")
    (folder / "samples.jsonl").write_bytes(b"\n".join(sample_lines * 2) + b"\n")
    (folder / "notes.txt").write_text("not a measurement file\n")
    (folder / "late.jsonl.part").write_text("{}\n")


def _store(db: Path) -> dict[str, Any]:
    """Everything a store holds, with file names left out: each table's files' bytes in
    commit order, the manifest with names and commit times left out, the quarantine file."""
    manifest: list[dict[str, Any]] = []
    tables: dict[str, list[str]] = {}
    for line in (db / "manifest.jsonl").read_bytes().splitlines():
        entry = orjson.loads(line)
        entry.pop("committed_at")
        files = entry.pop("files")
        checks = entry.pop("checks")
        entry["files"] = {
            table: [(str(Path(name).parent), checks[name]) for name in names]
            for table, names in files.items()
        }
        manifest.append(entry)
        for table, names in files.items():
            tables.setdefault(table, []).extend(
                hashlib.sha256((db / name).read_bytes()).hexdigest() for name in names
            )
    quarantine = [p.read_bytes() for p in sorted((db / "quarantine").glob("*.jsonl"))]
    return {"manifest": manifest, "tables": tables, "quarantine": quarantine}


def _summary(stdout: bytes) -> dict[str, Any]:
    doc: dict[str, Any] = orjson.loads(stdout)
    del doc["seconds"], doc["quarantine_file"]
    return doc


def _table(db: Path, table: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(f"SELECT * FROM {table} ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_jobs_2_and_3_write_the_store_jobs_1_writes(
    tmp_path: Path, make_measurement: Make, sample_lines: list[bytes]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines)
    stores, summaries = {}, {}
    for jobs in (1, 2, 3):
        db = tmp_path / f"db{jobs}"
        cmd = [*_CLI, "ingest", str(corpus), "--db", str(db), "--json", "--jobs", str(jobs)]
        done = subprocess.run([*cmd, "--batch-size", "900"], capture_output=True, check=True)
        assert done.stderr == b""
        summaries[jobs] = _summary(done.stdout)
        stores[jobs] = _store(db)
    one = summaries[1]
    assert one["stored"] > 2800 and one["duplicates"] >= 5 and one["unsupported"] > 0
    assert {"corrupt_gzip", "invalid_json", "not_an_object", "unsupported_file_type"} <= set(
        one["quarantined"]
    )
    assert len(stores[1]["manifest"]) > 3  # several batches: their cuts must match too
    assert summaries[2] == one and summaries[3] == one
    assert stores[2] == stores[1]
    assert stores[3] == stores[1]


@pytest.mark.parametrize("jobs", [2, 3])
def test_a_file_shared_by_every_worker_is_stored_as_one_process_stores_it(
    tmp_path: Path,
    make_measurement: Make,
    sample_lines: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
    jobs: int,
) -> None:
    """Every file is shared (each worker judges every `jobs`-th chunk of 500 items): items
    still reach the writer in file order, the cut gzip's problem at its place."""
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines, per_file=1600)
    alone = ingest([corpus], tmp_path / "alone", batch_size=2000)
    monkeypatch.setattr(parallel, "_SPLIT_BYTES", 0)
    shared = ingest([corpus], tmp_path / "shared", batch_size=2000, jobs=jobs)
    assert shared.to_json() | {"seconds": 0, "quarantine_file": ""} == alone.to_json() | {
        "seconds": 0,
        "quarantine_file": "",
    }
    assert _store(tmp_path / "shared") == _store(tmp_path / "alone")


def test_rejudge_jobs_2_gives_what_jobs_1_gives(
    tmp_path: Path, make_measurement: Make, sample_lines: list[bytes]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines)
    ingest([corpus], tmp_path / "one", jobs=1)
    shutil.copytree(tmp_path / "one", tmp_path / "two")
    csv = tmp_path / "dns.csv"  # a change that alters verdicts: x.com's address is a blockpage
    csv.write_text(
        "name,scope,location_found,pattern_type,pattern\nlab,nat,dns,full,104.244.42.1\n"
    )
    changed = load_fingerprints(ooni_dns=csv)
    first = rejudge(tmp_path / "one", fingerprints=changed, jobs=1)
    second = rejudge(tmp_path / "two", fingerprints=changed, jobs=2)
    assert first.rejudged > 2000 and first.changed > 0
    assert second.to_json() | {"seconds": 0} == first.to_json() | {"seconds": 0}
    assert _store(tmp_path / "two") == _store(tmp_path / "one")


def _one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: "), lines[0]
    assert result.returncode != 0
    return lines[0]


@pytest.mark.parametrize("command", ["ingest", "rejudge"])
@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5", ""])
def test_a_jobs_value_that_is_not_a_positive_integer_is_one_line(
    tmp_path: Path, command: str, value: str
) -> None:
    args = [command, str(tmp_path)] if command == "ingest" else [command]
    result = subprocess.run(
        [REACHWATCH, *args, "--db", str(tmp_path / "db"), "--jobs", value],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "--jobs" in _one_error_line(result)
    assert result.returncode == 2
    assert not (tmp_path / "db").exists()


def test_jobs_defaults_to_the_cores_this_process_may_use() -> None:
    shown = subprocess.run([REACHWATCH, "ingest", "--help"], capture_output=True, text=True)
    assert "--jobs" in shown.stdout and "the cores this process may use" in shown.stdout


# -- SIGKILL ------------------------------------------------------------------------------

KILL_FILES, KILL_PER_FILE = 8, 1200


def _kill_corpus(folder: Path, make: Make) -> int:
    folder.mkdir()
    for f in range(KILL_FILES):
        lines = [
            orjson.dumps(make(f"k{f}-{i}", url=f"https://x.com/{i % 50}", cc=("PK", "IT")[i % 2]))
            for i in range(KILL_PER_FILE)
        ]
        lines.append(lines[0])
        lines.append(b"{broken")
        (folder / f"part-{f}.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    return KILL_FILES * KILL_PER_FILE


def _ingest_cmd(src: Path, db: Path, jobs: int) -> list[str]:
    return [*_CLI, "ingest", str(src), "--db", str(db), "--json", "--batch-size", "1200",
            "--jobs", str(jobs)]  # fmt: skip


def _committed(db: Path) -> int:
    manifest = db / "manifest.jsonl"
    return manifest.read_bytes().count(b"\n") if manifest.exists() else 0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start_and_wait(cmd: list[str], db: Path, batches: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while _committed(db) < batches:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "no batch committed in time"
        time.sleep(0.005)
    return proc


def _clean_run(src: Path, db: Path, total: int) -> None:
    clean = subprocess.run(_ingest_cmd(src, db, 1), capture_output=True, check=True)
    assert orjson.loads(clean.stdout)["stored"] == total


def _rerun_completes(src: Path, db: Path, clean: Path, total: int) -> None:
    partial = len(_table(db, "measurements"))
    assert 0 < partial < total, partial
    rerun = subprocess.run(_ingest_cmd(src, db, 2), capture_output=True, check=True)
    resumed = orjson.loads(rerun.stdout)
    assert resumed["stored"] == total - partial
    assert resumed["duplicates"] == partial + KILL_FILES
    for table in ("measurements", "observations", "facts", "evidence"):
        assert _table(db, table) == _table(clean, table), table
    assert not list(db.rglob("*.tmp"))


def test_a_worker_killed_stops_the_run_with_one_line_and_a_rerun_completes_it(
    tmp_path: Path, make_measurement: Make
) -> None:
    src = tmp_path / "corpus"
    total = _kill_corpus(src, make_measurement)
    db = tmp_path / "killed"
    proc = _start_and_wait(_ingest_cmd(src, db, 2), db, 1)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)  # it stops; it does not hang
    stderr = err.decode()
    assert "Traceback" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
    assert stderr.startswith("reachwatch: error: worker process"), stderr
    assert "SIGKILL" in stderr and "run it again" in stderr
    assert proc.returncode not in (0, None)
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers):  # the other worker is stopped too
        assert time.monotonic() < deadline, "a worker outlived its run"
        time.sleep(0.05)
    check = subprocess.run([*_CLI, "store", "check", "--db", str(db)], capture_output=True)
    assert check.returncode == 0, check.stderr

    _clean_run(src, tmp_path / "clean", total)
    _rerun_completes(src, db, tmp_path / "clean", total)


def test_the_writer_killed_takes_its_workers_and_a_rerun_completes_it(
    tmp_path: Path, make_measurement: Make
) -> None:
    src = tmp_path / "corpus"
    total = _kill_corpus(src, make_measurement)
    db = tmp_path / "killed"
    proc = _start_and_wait(_ingest_cmd(src, db, 2), db, 2)
    workers = _children(proc.pid)
    assert len(workers) == 2, workers
    proc.send_signal(signal.SIGKILL)
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    deadline = time.monotonic() + 30
    while any(_alive(pid) for pid in workers):  # nobody judges for a writer that is gone
        assert time.monotonic() < deadline, "a worker outlived its writer"
        time.sleep(0.05)

    _clean_run(src, tmp_path / "clean", total)
    _rerun_completes(src, db, tmp_path / "clean", total)


def test_the_progress_bar_follows_a_run_with_workers(
    tmp_path: Path, make_measurement: Make
) -> None:
    """On a terminal the bar counts files and records as the writer takes them."""
    src = tmp_path / "corpus"
    _kill_corpus(src, make_measurement)
    master, slave = pty.openpty()
    shown: list[bytes] = []

    def drain() -> None:  # the terminal must be read as it is written, or the child blocks
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed its end
                return
            if not chunk:
                return
            shown.append(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    cmd = [REACHWATCH, "ingest", str(src), "--db", str(tmp_path / "db"), "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    out, _ = proc.communicate(timeout=300)
    reader.join(timeout=30)
    os.close(master)
    terminal = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(shown).decode(errors="replace"))
    assert proc.returncode == 0, terminal
    assert f"{KILL_FILES}/{KILL_FILES} files" in terminal, terminal
    assert f"{KILL_FILES * (KILL_PER_FILE + 1):,} records" in terminal, terminal  # + repeats
    assert "stored" in out.decode()
