"""No accepted measurement is lost: concurrent uploads with readers, a server killed after
accepting, an ingest started while the server writes."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx
import orjson

from reachwatch.store import open_store
from reachwatch.web import SubmitLimits, TokenStore

from .conftest import (
    REACHWATCH,
    free_port,
    measurement_lines,
    running_server,
    serve_process,
    stored_ids,
)


def test_concurrent_uploads_and_readers_lose_no_row(tmp_path: Path) -> None:
    uploaders, requests_each, per_request = 6, 8, 25
    lines = measurement_lines(uploaders * requests_each * per_request)
    limits = SubmitLimits(rate_per_minute=1e9, burst=10_000)
    accepted: list[str] = []
    failures: list[str] = []
    reads: list[list[int]] = [[], []]  # each reader's own counts, in the order it saw them
    done = threading.Event()
    with running_server(tmp_path / "db", limits) as server:
        tokens = [server.tokens.add(f"client{n}") for n in range(uploaders)]

        def upload(n: int) -> None:
            with httpx.Client() as client:
                for r in range(requests_each):
                    start = (n * requests_each + r) * per_request
                    chunk = lines[start : start + per_request]
                    # Some wait for their outcome, some only for the spool's fsync.
                    response = server.post(chunk, token=tokens[n], wait=r % 2 * 10, client=client)
                    if response.status_code not in (201, 202):
                        failures.append(response.text)
                        continue
                    accepted.extend(x["id"] for x in response.json()["results"])

        def read(mine: list[int]) -> None:
            # Readers never wait on the writer, and each sees the count only grow.
            while not done.is_set():
                con = open_store(server.db, read_only=True)
                try:
                    row = con.execute("SELECT count(*) FROM observations o JOIN measurements m "
                                      "USING (measurement_id)").fetchone()  # fmt: skip
                    (count,) = con.execute("SELECT count(*) FROM measurements").fetchone() or (0,)
                finally:
                    con.close()
                assert row is not None
                mine.append(count)

        threads = [threading.Thread(target=upload, args=(n,)) for n in range(uploaders)]
        readers = [threading.Thread(target=read, args=(mine,)) for mine in reads]
        for t in threads + readers:
            t.start()
        for t in threads:
            t.join(120)
        done.set()
        for t in readers:
            t.join(60)
        assert not failures, failures[:3]
    # The server closed: everything accepted is committed.
    ids = stored_ids(tmp_path / "db")
    assert len(accepted) == len(lines) == len(ids) == len(set(ids))
    assert set(ids) == set(accepted)
    for mine in reads:
        assert len(mine) > 3 and mine == sorted(mine), mine
    assert not list((tmp_path / "db" / "submit" / "spool").iterdir())


def test_a_server_killed_after_accepting_stores_the_uploads_on_restart(tmp_path: Path) -> None:
    db = tmp_path / "db"
    token = TokenStore(db).add("probe1")
    lines = measurement_lines(30)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api/v1/measurements"
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"}
    # A writer that gathers for a minute: what is accepted is still only in the spool.
    with serve_process(db, port, "--submit-linger", "60") as process:
        receipts = []
        for part in (lines[:10], lines[10:]):
            response = httpx.post(url, params={"wait": 0}, content=b"\n".join(part),
                                  headers=headers)  # fmt: skip
            assert response.status_code == 202, response.text
            receipts.append(response.json()["receipt"])
        os.kill(process.pid, signal.SIGKILL)
        process.wait(30)
    assert stored_ids(db) == []
    spooled = list((db / "submit" / "spool").iterdir())
    assert len(spooled) == 1 and spooled[0].read_bytes().count(b"\n") == 30
    with serve_process(db, port) as process:
        ids = stored_ids(db)  # stored before the server listens
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/submissions/{receipts[1]}",
                           headers=headers).json()  # fmt: skip
        # The read API of the same server shows them.
        shown = httpx.get(f"http://127.0.0.1:{port}/api/v1/measurements/{ids[0]}")
        os.kill(process.pid, signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert sorted(ids) == sorted(_ids(lines))
    assert [x["id"] for x in answer["results"]] == _ids(lines[10:])
    assert answer["status"] == "done" and answer["counts"]["stored"] == 20
    assert shown.status_code == 200, shown.text
    assert b"stored 30 measurements an earlier run had accepted (30 new" in stderr
    assert not list((db / "submit" / "spool").iterdir())


def _ids(lines: list[bytes]) -> list[str]:
    return [orjson.loads(line)["measurement_uid"] for line in lines]


def test_ingest_while_the_server_writes_says_so_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "db"
    TokenStore(db).add("probe1")
    source = tmp_path / "m.jsonl"
    source.write_bytes(b"\n".join(measurement_lines(3)) + b"\n")
    port = free_port()
    with serve_process(db, port):
        result = subprocess.run([REACHWATCH, "ingest", str(source), "--db", str(db)],
                                capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"reachwatch: error: {db}: `reachwatch serve` (pid ")
    assert f"POST http://127.0.0.1:{port}/api/v1/measurements" in lines[0]
    assert lines[0].endswith("or stop the server first")
    # Stopped, the store is ingest's again.
    again = subprocess.run([REACHWATCH, "ingest", str(source), "--db", str(db), "--json"],
                           capture_output=True, text=True, timeout=120)  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert len(stored_ids(db)) == 3


def test_serve_refuses_a_store_an_ingest_is_writing(tmp_path: Path) -> None:
    from reachwatch.store import StoreWriter

    db = tmp_path / "db"
    with StoreWriter(db):
        started = time.monotonic()
        result = subprocess.run([REACHWATCH, "serve", "--db", str(db), "--port", str(free_port())],
                                capture_output=True, text=True, timeout=60)  # fmt: skip
    assert time.monotonic() - started < 60
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"reachwatch: error: {db}: another ingest (or rejudge, repair) is writing to this store"
    ]


def test_a_store_that_cannot_commit_stops_uploads_and_loses_nothing(tmp_path: Path) -> None:
    """A commit that fails (here a file where the writer needs a partition folder) stops the
    writer: the upload it held is answered as failed but spooled, later ones are 503, and the
    next start stores them all."""
    db = tmp_path / "db"
    lines = measurement_lines(4)
    first = orjson.loads(lines[0])
    day = first["measurement_start_time"][:10]
    with running_server(db) as server:
        blocker = db / "parquet" / "measurements" / f"date={day}" / f"cc={first['probe_cc']}"
        blocker.parent.mkdir(parents=True)
        blocker.write_text("in the way\n")
        failed = server.post(lines[:2])
        assert failed.status_code == 202, failed.text
        doc = failed.json()
        assert doc["status"] == "failed" and "the store writer stopped" in doc["message"]
        refused = server.post(lines[2:])
        assert refused.status_code == 503 and refused.json()["error"] == "not_accepting"
        assert refused.headers["retry-after"] == "30"
    assert stored_ids(db) == []
    blocker.unlink()
    with running_server(db, name="probe2") as server:
        replayed = server.submissions.replayed
        assert (replayed.measurements, replayed.stored) == (2, 2)
        assert server.post(lines[2:]).json()["counts"]["stored"] == 2
    assert sorted(stored_ids(db)) == sorted(_ids(lines))


def test_a_receipt_can_be_asked_about_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "db"
    lines = measurement_lines(3)
    with running_server(db) as server:
        doc = server.post(lines).json()
        token = server.token
    assert doc["status"] == "done"
    with running_server(db, name="probe2") as server:
        answer = httpx.get(f"{server.url}/api/v1/submissions/{doc['receipt']}",
                           headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        other = httpx.get(f"{server.url}/api/v1/submissions/{doc['receipt']}",
                          headers={"Authorization": f"Bearer {server.token}"})  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json() == doc
    assert other.status_code == 403
