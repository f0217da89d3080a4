"""POST /api/v1/measurements on a real uvicorn server over a real store: what is stored, what
is refused and how each refusal reads."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson

from reachwatch.store import evidence_of, open_store
from reachwatch.web import SubmitLimits

from .conftest import Server, measurement_lines, running_server, stored_ids


def _error(response: httpx.Response, status: int, code: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "message"} and body["error"] == code, body
    assert "\n" not in body["message"]
    message: str = body["message"]
    return message


def test_an_upload_is_stored_with_its_exact_bytes(server: Server) -> None:
    lines = measurement_lines(20)
    response = server.post(lines)
    assert response.status_code == 201, response.text
    doc = response.json()
    assert doc["status"] == "done" and doc["counts"] == {
        "stored": 20, "duplicate": 0, "quarantined": 0
    }  # fmt: skip
    ids = [r["id"] for r in doc["results"]]
    assert ids == [orjson.loads(line)["measurement_uid"] for line in lines]
    assert response.headers["location"] == f"/api/v1/submissions/{doc['receipt']}"
    assert sorted(stored_ids(server.db)) == sorted(ids)
    con = open_store(server.db, read_only=True)
    try:
        evidence = evidence_of(con, ids[3])
        source = con.execute(
            "SELECT source_file, source_line, verdict FROM measurements WHERE measurement_id = ?",
            [ids[3]],
        ).fetchone()
    finally:
        con.close()
    assert evidence.raw == lines[3]
    assert source is not None
    assert source[:2] == (f"upload:probe1/{doc['receipt']}", 4)
    assert source[2] in ("accessible", "blocked", "down", "inconclusive")
    # The receipt tells the same, to the token that sent it.
    receipt = httpx.get(
        f"{server.url}{response.headers['location']}",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert receipt.status_code == 200 and receipt.json()["results"] == doc["results"]


def test_a_json_document_upload_is_stored_too(server: Server) -> None:
    measurements = [orjson.loads(line) for line in measurement_lines(3)]
    response = httpx.post(
        f"{server.url}/api/v1/measurements",
        json={"measurements": measurements},
        headers={"Authorization": f"Bearer {server.token}"},
    )
    assert response.status_code == 201, response.text
    assert response.json()["counts"]["stored"] == 3
    assert len(stored_ids(server.db)) == 3


def test_a_second_upload_of_the_same_measurements_is_duplicates(server: Server) -> None:
    lines = measurement_lines(10)
    assert server.post(lines[:6]).json()["counts"]["stored"] == 6
    doc = server.post(lines).json()
    assert doc["counts"] == {"stored": 4, "duplicate": 6, "quarantined": 0}
    assert [r["status"] for r in doc["results"]] == ["duplicate"] * 6 + ["stored"] * 4
    assert len(stored_ids(server.db)) == 10


def test_a_measurement_ingest_cannot_store_is_quarantined_with_its_reason(server: Server) -> None:
    good, bad = measurement_lines(2)
    broken = orjson.loads(bad)
    broken["measurement_start_time"] = "2024-02-30 10:00:00"  # fits the schema, no such day
    response = server.post([good, orjson.dumps(broken)])
    assert response.status_code == 201, response.text
    results = response.json()["results"]
    assert results[0]["status"] == "stored"
    assert results[1] == {
        "id": broken["measurement_uid"], "status": "quarantined", "reason": "bad_timestamp"
    }  # fmt: skip
    assert stored_ids(server.db) == [results[0]["id"]]
    quarantine = server.submissions.queue.quarantine_file
    assert quarantine is not None
    entries = [orjson.loads(line) for line in quarantine.read_bytes().splitlines()]
    assert [(e["reason"], e["line"], e["raw"]) for e in entries] == [
        ("bad_timestamp", 2, orjson.dumps(broken).decode())
    ]
    assert entries[0]["file"].startswith("upload:probe1/s-")


def test_a_measurement_off_the_schema_refuses_the_whole_upload(server: Server) -> None:
    lines = measurement_lines(3)
    wrong = orjson.loads(lines[1])
    wrong["probe_cc"] = "Pakistan"
    message = _error(server.post([lines[0], orjson.dumps(wrong), lines[2]]), 422, "invalid")
    assert message.startswith("measurements[1].probe_cc: 'Pakistan' does not match")
    del wrong["probe_cc"]
    message = _error(server.post([lines[0], orjson.dumps(wrong)]), 422, "invalid")
    assert message == "measurements[1]: 'probe_cc' is a required property"
    wrong = orjson.loads(lines[1])
    wrong["test_keys"] = []
    message = _error(server.post([orjson.dumps(wrong)]), 422, "invalid")
    assert message.startswith("measurements[0].test_keys: [] is not of type 'object'")
    assert stored_ids(server.db) == []


def test_bodies_that_are_not_measurements(server: Server) -> None:
    auth = {"Authorization": f"Bearer {server.token}"}
    url = f"{server.url}/api/v1/measurements"
    assert "line 2: not JSON" in _error(
        server.post([measurement_lines(1)[0], b"{nope"]), 400, "bad_json"
    )
    _error(httpx.post(url, content=b"[1", headers=auth), 400, "bad_json")
    _error(httpx.post(url, json={"items": []}, headers=auth), 422, "invalid")
    assert _error(httpx.post(url, json=[], headers=auth), 422, "invalid").endswith(
        "no measurement in the body"
    )
    assert _error(httpx.post(url, json=[1], headers=auth), 422, "invalid") == (
        "measurements[0]: not an object"
    )
    headers = {**auth, "Content-Type": "text/csv"}
    _error(httpx.post(url, content=b"a,b", headers=headers), 415, "unsupported_media_type")


def test_size_limits_are_413(tmp_path: Path) -> None:
    limits = SubmitLimits(max_body_bytes=64 * 1024, max_measurements=5, burst=100)
    with running_server(tmp_path / "db", limits) as server:
        lines = measurement_lines(40)
        big = b"\n".join(lines)
        assert len(big) > 64 * 1024
        message = _error(server.post(lines), 413, "body_too_large")
        assert "65536 bytes" in message
        # Chunked, without a length: counted as it streams in.
        response = httpx.post(
            f"{server.url}/api/v1/measurements",
            content=iter([big[i : i + 8192] for i in range(0, len(big), 8192)]),
            headers={"Authorization": f"Bearer {server.token}",
                     "Content-Type": "application/x-ndjson"},
        )  # fmt: skip
        _error(response, 413, "body_too_large")
        message = _error(server.post(lines[:6]), 413, "too_many_measurements")
        assert message == "6 measurements in one request; at most 5"
        assert server.post(lines[:5]).status_code == 201
        assert len(stored_ids(server.db)) == 5


def test_a_token_over_its_rate_is_429_with_retry_after(tmp_path: Path) -> None:
    limits = SubmitLimits(max_measurements=10, burst=10, rate_per_minute=60)
    with running_server(tmp_path / "db", limits) as server:
        lines = measurement_lines(25)
        assert server.post(lines[:10]).status_code == 201
        response = server.post(lines[10:13])
        message = _error(response, 429, "rate_limited")
        assert int(response.headers["retry-after"]) in (2, 3)  # 3 at 1 a second, less what refilled
        assert "60 measurements a minute" in message
        # Another token has its own allowance.
        other = server.tokens.add("probe2")
        assert server.post(lines[13:23], token=other).status_code == 201
        time.sleep(int(response.headers["retry-after"]))
        assert server.post(lines[10:13]).status_code == 201
        assert len(stored_ids(server.db)) == 23


def test_tokens_missing_unknown_revoked(server: Server) -> None:
    lines = measurement_lines(2)
    response = server.post(lines, token="")
    assert _error(response, 401, "unauthorized").startswith("send the upload token")
    assert response.headers["www-authenticate"].startswith("Bearer")
    _error(server.post(lines, token="rw_not-a-token"), 401, "bad_token")
    other = server.tokens.add("probe2")
    doc = server.post(lines[:1], token=other).json()
    # Revoked while the server runs: refused from the next request, no restart.
    server.tokens.revoke("probe2")
    assert _error(server.post(lines[1:], token=other), 403, "token_revoked") == (
        "token 'probe2' was revoked"
    )
    # A receipt is its own token's.
    receipt = httpx.get(
        f"{server.url}/api/v1/submissions/{doc['receipt']}",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    _error(receipt, 403, "forbidden")
    unknown = httpx.get(
        f"{server.url}/api/v1/submissions/s-0000",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    _error(unknown, 404, "no_such_receipt")
    assert len(stored_ids(server.db)) == 1


def test_an_upload_not_waited_for_is_202_with_a_receipt_to_ask(tmp_path: Path) -> None:
    with running_server(tmp_path / "db", linger=1.0) as server:
        lines = measurement_lines(5)
        response = server.post(lines, wait=0)
        assert response.status_code == 202, response.text
        doc = response.json()
        assert doc["status"] == "queued"
        assert {r["status"] for r in doc["results"]} == {"queued"}
        url = f"{server.url}/api/v1/submissions/{doc['receipt']}"
        auth = {"Authorization": f"Bearer {server.token}"}
        deadline = time.monotonic() + 30
        while (later := httpx.get(url, headers=auth).json())["status"] != "done":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert later["counts"]["stored"] == 5
        assert len(stored_ids(server.db)) == 5
