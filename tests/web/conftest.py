"""A small synthetic store, simulated and ingested once, and the real service over it: uvicorn
on 127.0.0.1, an ephemeral port, in a thread of the test process."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from reachwatch.cases import Case, load_case
from reachwatch.ingest import ingest
from reachwatch.simulate import scenario_from_case, write_corpus
from reachwatch.web import create_app

# Two networks: one blocked for good (ongoing at the end of the data), one blocked and restored
# (an ended spell); an order to block and an order to restore.
CASE_TEXT = """
id: web-x
title: A small synthetic X case for the web service
scope: {cc: PK, platform: x, networks: [AS17557, AS135407]}
events:
  - {id: letter, date: 2024-02-17, kind: letter, actor: Ministry, summary: Block X.,
     label: block X, requires: blocked, sources: [A letter]}
  - {id: order, date: 2024-02-18, kind: court_directive, actor: High Court, summary: Restore X.,
     label: restore X within a day, requires: accessible, within_days: 1, sources: [A report]}
simulation:
  start: 2024-02-16
  end: 2024-02-21
  measurements_per_hour: 2
  blocks:
    - {start: "2024-02-17T15:00:00", technique: tls.reset, networks: [AS17557]}
    - {start: "2024-02-17T12:00:00", end: "2024-02-20T08:00:00", technique: dns.nxdomain,
       networks: [AS135407]}
"""


@dataclass(frozen=True)
class WebStore:
    case: Case
    db: Path


@pytest.fixture(scope="session")
def web_store(tmp_path_factory: pytest.TempPathFactory) -> WebStore:
    root = tmp_path_factory.mktemp("web-x")
    case_file = root / "web-x.yaml"
    case_file.write_text(CASE_TEXT, encoding="utf-8")
    case = load_case(case_file)
    corpus = write_corpus(scenario_from_case(case), root / "sim", seed=5)
    ingest([corpus.corpus], root / "db")
    return WebStore(case, root / "db")


@dataclass
class Running:
    """A uvicorn server serving `app` on 127.0.0.1 in a thread."""

    app: FastAPI
    url: str
    server: uvicorn.Server
    thread: threading.Thread

    def client(self) -> httpx.Client:
        # trust_env=False: a proxy set in the environment must not see loopback requests.
        return httpx.Client(base_url=self.url, timeout=30, trust_env=False)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


def serve(app: FastAPI) -> Running:
    """`app` served by a real uvicorn on a loopback port the kernel picked."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    return Running(app, f"http://127.0.0.1:{port}", server, thread)


@pytest.fixture(scope="session")
def running(web_store: WebStore) -> Iterator[Running]:
    run = serve(create_app(web_store.db, cases=[web_store.case]))
    yield run
    run.stop()


@pytest.fixture
def client(running: Running) -> Iterator[httpx.Client]:
    with running.client() as c:
        yield c
