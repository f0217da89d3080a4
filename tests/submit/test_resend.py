"""`reachwatch submit FILE --to URL` against a real server: it splits what the server finds too
large, waits out a rate limit, and says in one line when the server refuses."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import orjson

from reachwatch.web import SubmitLimits

from .conftest import REACHWATCH, measurement_lines, running_server, stored_ids


def _submit(cwd: Path, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REACHWATCH_TOKEN": token}
    return subprocess.run([REACHWATCH, "submit", *args], capture_output=True, text=True,
                          timeout=120, cwd=cwd, env=env)  # fmt: skip


def test_submit_splits_and_waits_out_the_limits(tmp_path: Path) -> None:
    lines = measurement_lines(8)
    source = tmp_path / "unsent.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    limits = SubmitLimits(max_measurements=4, burst=4, rate_per_minute=240)
    with running_server(tmp_path / "db", limits) as server:
        result = _submit(tmp_path, str(source), "--to", server.url, token=server.token)
        again = _submit(tmp_path, str(source), "--to", server.url + "/", token=server.token)
    assert result.returncode == 0, result.stderr
    # 8 is over 4 a request (413: split), the second 4 over the burst (429: waited out).
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith(
            f"uploaded 8 measurements to {server.url}/api/v1/measurements: 8 stored, 0 duplicates"
        )
    )
    assert sorted(stored_ids(tmp_path / "db")) == sorted(
        orjson.loads(line)["measurement_uid"] for line in lines
    )
    assert again.returncode == 0 and ": 0 stored, 8 duplicates" in again.stderr


def test_a_refused_upload_is_one_line_and_keeps_the_file(tmp_path: Path) -> None:
    source = tmp_path / "unsent.jsonl"
    source.write_bytes(b"\n".join(measurement_lines(2)) + b"\n")
    with running_server(tmp_path / "db") as server:
        other = server.tokens.add("gone")
        server.tokens.revoke("gone")
        result = _submit(tmp_path, str(source), "--to", server.url, token=other)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"reachwatch: error: {server.url}/api/v1/measurements refused the upload (403: token "
        f"'gone' was revoked); 2 of 2 measurements not sent, kept in {source} (send again: "
        f"`reachwatch submit {source} --to {server.url}`)"
    ]
    assert not (tmp_path / "reachwatch-unsent").exists()
    assert stored_ids(tmp_path / "db") == []
