"""`reachwatch control serve` as a user runs it: a real process on a free loopback port."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from reachwatch.control import ControlUnavailable, query_control

_ENTRY = "from reachwatch.cli import main; main()"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _ENTRY, "control", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.fixture
def served() -> Iterator[tuple[subprocess.Popen[str], str]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENTRY, "control", "serve", "--host", "127.0.0.1", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("reachwatch control listening on http://127.0.0.1:"), line
        yield proc, line.split()[-1]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)


def test_serve_answers_and_stops_cleanly(served: tuple[subprocess.Popen[str], str]) -> None:
    proc, url = served
    # A request the control must refuse without --allow-private: a loopback target.
    answer = asyncio.run(
        query_control(url, target_url="https://127.0.0.1/", addresses=["127.0.0.1:443"])
    )
    assert answer["dns"] == {"failure": None, "addrs": ["127.0.0.1"]}
    assert answer["tcp_connect"]["127.0.0.1:443"]["failure"] == "x_refused_address"
    with pytest.raises(ControlUnavailable, match="HTTP 400"):
        asyncio.run(query_control(url, target_url="ftp://x.com/", addresses=[]))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "abc"], "'abc' is not a valid integer"),
        (["--port", "70000"], "--port 70000 is not a port number"),
        (["--resolver", "dns.google"], "--resolver"),
        (["--ca-file", "/nonexistent/ca.pem"], "no such file"),
        (["--bogus"], "--bogus"),
        (["--max-per-client", "0"], "--max-per-client"),
        (["--header-timeout", "nan"], "nan is not a number"),
        (["--max-request-bytes", "-5"], "--max-request-bytes"),
    ],
)
def test_bad_flags_give_one_line(args: list[str], message: str) -> None:
    result = _run(*args)
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: ")
    assert message in lines[0]


def test_a_ca_file_that_is_not_pem(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    result = _run("--ca-file", str(bad))
    assert result.returncode == 2
    assert "not a PEM certificate file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_port_in_use() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = _run("--port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_limits_are_options_and_the_json_start_line_shows_them() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", _ENTRY, "control", "serve", "--port", "0", "--json",
         "--max-per-client", "2", "--header-timeout", "3.5", "--max-request-bytes", "1000000"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        start = json.loads(proc.stdout.readline())
        assert start["url"].startswith("http://127.0.0.1:")
        assert start["allow_private"] is False
        limits = start["limits"]
        assert (limits["max_per_client"], limits["header_timeout"]) == (2, 3.5)
        assert limits["max_request_bytes"] == 1_000_000
        assert limits["body_timeout"] == 10.0  # the documented default
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
