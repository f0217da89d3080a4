"""`serve --no-submissions` leaves the store to ingest; a damaged spool line is quarantined,
never dropped; a measurement sent twice in one upload is stored once."""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import orjson

from reachwatch.web import TokenStore, WriteQueue

from .conftest import REACHWATCH, free_port, measurement_lines, serve_process, stored_ids


def test_without_submissions_the_server_only_reads(tmp_path: Path) -> None:
    db = tmp_path / "db"
    token = TokenStore(db).add("probe1")
    source = tmp_path / "m.jsonl"
    source.write_bytes(b"\n".join(measurement_lines(3)) + b"\n")
    port = free_port()
    with serve_process(db, port, "--no-submissions"):
        ingested = subprocess.run([REACHWATCH, "ingest", str(source), "--db", str(db)],
                                  capture_output=True, text=True, timeout=120)  # fmt: skip
        upload = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/measurements",
            content=source.read_bytes(),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
        )
    assert ingested.returncode == 0, ingested.stderr
    assert upload.status_code == 405 and upload.json()["error"] == "method_not_allowed"
    assert len(stored_ids(db)) == 3


def test_a_damaged_spool_line_is_quarantined_and_the_rest_stored(tmp_path: Path) -> None:
    db = tmp_path / "db"
    lines = measurement_lines(3)
    TokenStore(db).add("probe1")  # a store, with its submit/ folder
    spool = db / "submit" / "spool"
    spool.mkdir()
    good = [
        b'{"r":"s-1","t":"probe1","i":%d,"m":%s}' % (i, line) for i, line in enumerate(lines[:2])
    ]
    damaged = b'{"r":"s-1","t":"probe1","i":2,"m":' + lines[2][:50]  # not an entry any more
    cut = b'{"r":"s-2","t":"probe1","i":0,"m":' + lines[2][:40]  # no newline: never accepted
    (spool / "00000007.jsonl").write_bytes(b"\n".join([*good, damaged]) + b"\n" + cut)
    queue = WriteQueue(db)
    replayed = queue.start()
    # New uploads go to a segment numbered after the one found.
    job = queue.submit("probe1", [orjson.loads(lines[2])["measurement_uid"]], [lines[2]])
    assert [p.name for p in spool.iterdir()] == ["00000008.jsonl"]
    quarantine = queue.quarantine_file
    queue.close()
    assert job.done and job.outcomes is not None and job.outcomes[0].status == "stored"
    assert (replayed.measurements, replayed.stored, replayed.damaged_lines) == (2, 2, 1)
    assert sorted(stored_ids(db)) == sorted(orjson.loads(x)["measurement_uid"] for x in lines)
    assert quarantine is not None
    entries = [orjson.loads(x) for x in quarantine.read_bytes().splitlines()]
    assert [(e["file"], e["reason"], e["raw"]) for e in entries] == [
        ("spool:00000007.jsonl", "invalid_json", damaged.decode())
    ]
    assert not list(spool.iterdir())


def test_one_measurement_twice_in_an_upload_is_stored_once(tmp_path: Path) -> None:
    from .conftest import running_server

    with running_server(tmp_path / "db") as server:
        line = measurement_lines(1)[0]
        doc = server.post([line, line]).json()
    assert [r["status"] for r in doc["results"]] == ["stored", "duplicate"]
    assert len(stored_ids(tmp_path / "db")) == 1
