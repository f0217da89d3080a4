"""A real uvicorn server on 127.0.0.1 taking uploads into a real store, in this process
(a thread) or as `reachwatch serve` (a process a test may kill)."""

from __future__ import annotations

import itertools
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
import uvicorn
from fastapi import FastAPI

from reachwatch.simulate import detection_corpus, generate
from reachwatch.store import open_store
from reachwatch.web import Submissions, SubmitLimits, TokenStore, open_submissions

REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def measurement_lines(count: int, seed: int = 7) -> list[bytes]:
    """`count` distinct simulated web_connectivity measurements, as JSON lines (no newline)."""
    produced = generate(detection_corpus("partial", seed), seed)
    return [orjson.dumps(s.measurement) for s in itertools.islice(produced, count)]


def stored_ids(db: Path) -> list[str]:
    """Every measurement id the store holds now (read as any reader would)."""
    con = open_store(db, read_only=True)
    try:
        return [row[0] for row in con.execute("SELECT measurement_id FROM measurements").fetchall()]
    finally:
        con.close()


@dataclass
class Server:
    url: str
    db: Path
    token: str
    tokens: TokenStore
    submissions: Submissions

    def post(self, lines: list[bytes], *, token: str | None = None, wait: float = 10,
             client: httpx.Client | None = None) -> httpx.Response:  # fmt: skip
        headers = {"Content-Type": "application/x-ndjson"}
        chosen = self.token if token is None else token
        if chosen:
            headers["Authorization"] = f"Bearer {chosen}"
        send = client.post if client is not None else httpx.post
        return send(
            f"{self.url}/api/v1/measurements",
            params={"wait": wait},
            content=b"\n".join(lines) + b"\n",
            headers=headers,
            timeout=60,
        )


@contextmanager
def running_server(
    db: Path, limits: SubmitLimits | None = None, *, linger: float = 0.05, name: str = "probe1"
) -> Iterator[Server]:
    """uvicorn with the upload routes over `db` on a free loopback port, in a thread; a new
    token `name` for the test to use."""
    tokens = TokenStore(db)
    token = tokens.add(name)
    submissions = open_submissions(db, limits, linger=linger)
    app = FastAPI()
    submissions.attach(app)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        yield Server(f"http://127.0.0.1:{port}", db, token, tokens, submissions)
    finally:
        server.should_exit = True
        thread.join(30)
        submissions.close()
        sock.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with running_server(tmp_path / "db") as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_process(db: Path, port: int, *extra: str) -> Iterator[subprocess.Popen[bytes]]:
    """`reachwatch serve` as a user starts it; ready when it answers on `port`."""
    process = subprocess.Popen(
        [REACHWATCH, "serve", "--db", str(db), "--port", str(port), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stderr.read() if process.stderr else b""
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/v1/submissions/schema", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "reachwatch serve did not start"
                time.sleep(0.1)
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGTERM)
        process.wait(30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()
