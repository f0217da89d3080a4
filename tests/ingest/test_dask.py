"""`ingest` and `rejudge` with `--engine dask`: Dask workers judge, this process writes, and
the store is the one the embedded engine (`--jobs 1`) writes, byte for byte apart from file
names: on a `LocalCluster` of 2 workers, and on a `dask scheduler` with 2 `dask worker`
processes this test starts on loopback. Nothing here leaves 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.conftest import free_port
from tests.ingest.test_jobs import (
    _CLI,
    Make,
    _clean_run,
    _corpus,
    _ingest_cmd,
    _kill_corpus,
    _one_error_line,
    _start_and_wait,
    _store,
    _summary,
    _table,
)

import reachwatch.ingest._parallel as parallel
from reachwatch.classify import Fingerprints, load_fingerprints
from reachwatch.cluster import ClusterError, Engine
from reachwatch.ingest import ingest, rejudge

_BIN = Path(sys.executable).parent


def _changed_fingerprints(tmp_path: Path) -> Fingerprints:
    csv = tmp_path / "dns.csv"  # a change that alters verdicts: x.com's address is a blockpage
    csv.write_text(
        "name,scope,location_found,pattern_type,pattern\nlab,nat,dns,full,104.244.42.1\n"
    )
    return load_fingerprints(ooni_dns=csv)


def _ingest_cli(corpus: Path, db: Path, *extra: str, cwd: Path | None = None) -> dict[str, Any]:
    cmd = [*_CLI, "ingest", str(corpus), "--db", str(db), "--json", "--batch-size", "900"]
    done = subprocess.run([*cmd, *extra], capture_output=True, check=False, cwd=cwd)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    return _summary(done.stdout)


def test_a_local_dask_cluster_of_2_workers_writes_the_store_jobs_1_writes(
    tmp_path: Path, make_measurement: Make, sample_lines: list[bytes]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines)
    alone = _ingest_cli(corpus, tmp_path / "alone", "--jobs", "1")
    on_dask = _ingest_cli(corpus, tmp_path / "dask", "--engine", "dask", "--jobs", "2")
    assert alone["stored"] > 2800 and alone["quarantined"]
    assert on_dask == alone
    assert _store(tmp_path / "dask") == _store(tmp_path / "alone")


def test_shared_files_and_rejudge_on_a_local_dask_cluster_match_one_process(
    tmp_path: Path,
    make_measurement: Make,
    sample_lines: list[bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every file shared by both workers (each judges every other chunk), then the store
    judged again with other fingerprints: the same as one process at each step."""
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines, per_file=1600)
    alone = ingest([corpus], tmp_path / "alone", batch_size=2000)
    monkeypatch.setattr(parallel, "_SPLIT_BYTES", 0)
    engine = Engine("dask", jobs=2)
    shared = ingest([corpus], tmp_path / "dask", batch_size=2000, engine=engine)
    blank = {"seconds": 0, "quarantine_file": ""}
    assert shared.to_json() | blank == alone.to_json() | blank
    assert _store(tmp_path / "dask") == _store(tmp_path / "alone")

    # Rejudge names the files it supersedes: both start from the same copy.
    shutil.copytree(tmp_path / "alone", tmp_path / "again")
    changed = _changed_fingerprints(tmp_path)
    first = rejudge(tmp_path / "alone", fingerprints=changed, jobs=1)
    second = rejudge(tmp_path / "again", fingerprints=changed, engine=engine)
    assert first.rejudged > 2000 and first.changed > 0
    assert second.to_json() | {"seconds": 0} == first.to_json() | {"seconds": 0}
    assert _store(tmp_path / "again") == _store(tmp_path / "alone")


def test_a_dask_scheduler_and_2_workers_on_loopback_write_the_store_jobs_1_writes(
    tmp_path: Path, make_measurement: Make, sample_lines: list[bytes], dask_cluster: str
) -> None:
    """Run from another folder with a relative corpus path: the workers (in a folder of their
    own) read the files where the writer does, and the rows name them as one process does."""
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines)
    alone = _ingest_cli(Path("corpus"), tmp_path / "alone", "--jobs", "1", cwd=tmp_path)
    on_dask = _ingest_cli(
        Path("corpus"), tmp_path / "dask", "--engine", "dask", "--scheduler", dask_cluster,
        cwd=tmp_path,
    )  # fmt: skip
    assert alone["stored"] > 2800
    assert on_dask == alone
    assert _store(tmp_path / "dask") == _store(tmp_path / "alone")

    # Rejudge names the files it supersedes: both start from the same copy.
    shutil.copytree(tmp_path / "alone", tmp_path / "again")
    for db, extra in (
        ("alone", ["--jobs", "1"]),
        ("again", ["--engine", "dask", "--scheduler", dask_cluster]),
    ):
        done = subprocess.run(
            [*_CLI, "rejudge", "--db", str(tmp_path / db), "--json", *extra],
            capture_output=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr.decode()
    assert _store(tmp_path / "again") == _store(tmp_path / "alone")


def test_a_scheduler_nobody_listens_on_is_one_line_and_the_store_is_unchanged(
    tmp_path: Path, make_measurement: Make, sample_lines: list[bytes]
) -> None:
    corpus = tmp_path / "corpus"
    _corpus(corpus, make_measurement, sample_lines, per_file=50)
    db = tmp_path / "db"
    ingest([corpus], db)
    before = _store(db)
    nobody = f"tcp://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [*_CLI, "ingest", str(corpus), "--db", str(db), "--engine", "dask", "--scheduler", nobody],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    line = _one_error_line(done)
    assert f"cannot reach the Dask scheduler at {nobody}" in line
    assert _store(db) == before


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--scheduler", "tcp://127.0.0.1:8786"], "--scheduler needs --engine dask"),
        (["--engine", "dask", "--scheduler", " "], "--scheduler is empty"),
        (["--engine", "spark"], "Invalid value for '--engine'"),
    ],
)
def test_engine_options_used_wrongly_are_one_line(
    tmp_path: Path, args: list[str], says: str
) -> None:
    (tmp_path / "m.jsonl").write_text("")
    for command in (["ingest", str(tmp_path / "m.jsonl")], ["rejudge"]):
        done = subprocess.run(
            [*_CLI, *command, "--db", str(tmp_path / "db"), *args],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert says in _one_error_line(done)
    assert not (tmp_path / "db").exists()


def test_a_worker_running_other_code_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """The identity check compares every worker's code with this process's: a worker whose
    answer differs (here, this process pretending to be another release) is refused."""
    from reachwatch.cluster import _engine, dask_client

    monkeypatch.setattr(_engine, "code_identity", lambda: "another release")
    with (
        pytest.raises(ClusterError, match="runs another reachwatch"),
        dask_client(Engine("dask", jobs=1)),
    ):
        pass


def test_a_dask_worker_killed_mid_run_has_its_task_run_again_and_the_store_is_whole(
    tmp_path: Path, make_measurement: Make, dask_cluster: str
) -> None:
    """SIGKILL of a worker process once the writer has committed a batch: Dask runs its
    task again (on the other worker, or the one its nanny restarts), and the run ends with
    the tables of a run never interrupted."""
    from distributed import Client

    corpus = tmp_path / "corpus"
    total = _kill_corpus(corpus, make_measurement)
    _clean_run(corpus, tmp_path / "clean", total)
    db = tmp_path / "db"
    cmd = [*_ingest_cmd(corpus, db, 1), "--engine", "dask", "--scheduler", dask_cluster]
    with Client(dask_cluster, timeout=10) as client:  # type: ignore[no-untyped-call]
        pids = client.run(os.getpid)
    proc = _start_and_wait(cmd, db, 1)
    victim = min(pids.values())
    assert proc.poll() is None, "the run ended before a worker could be killed"
    os.kill(victim, signal.SIGKILL)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert orjson.loads(out)["stored"] == total
    for table in ("measurements", "observations", "facts", "evidence"):
        assert _table(db, table) == _table(tmp_path / "clean", table), table
