"""A real S3-compatible server (moto) and a real webhook receiver, both on 127.0.0.1, and a
simulated PK corpus with a known block laid out in the bucket as OONI lays out its own."""

from __future__ import annotations

import gzip
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import orjson
import pytest
from moto.server import ThreadedMotoServer

from reachwatch.simulate import Block, Scenario, generate

BUCKET = "ooni-data-eu-fra"
SINCE, UNTIL = "2024-02-14", "2024-02-25"
# The truth: X blocked on both networks from 2024-02-17 06:00 to 2024-02-20 12:00.
BLOCK_START, BLOCK_END = datetime(2024, 2, 17, 6), datetime(2024, 2, 20, 12)
# Round 1 sees what was uploaded before this (the block is on); round 3 the rest.
CUT = datetime(2024, 2, 19)


def _scenario() -> Scenario:
    block = [Block(BLOCK_START, BLOCK_END, "tcp.reset")]
    return Scenario(
        cc="PK",
        platform="x",
        networks=("AS17557", "AS59257"),
        start=datetime(2024, 2, 14),
        end=datetime(2024, 2, 24),
        rate=4.0,
        blocks={"AS17557": block, "AS59257": block},
    )


def ooni_key(hour: datetime, n: int = 0) -> str:
    """Where OONI puts an hour's web_connectivity uploads from PK."""
    return (
        f"raw/{hour:%Y%m%d}/{hour:%H}/PK/webconnectivity/"
        f"{hour:%Y%m%d%H}_PK_webconnectivity.n{n}.0.jsonl.gz"
    )


def corpus() -> dict[str, list[bytes]]:
    """The scenario's measurements as bucket objects: one per upload hour."""
    by_key: dict[str, list[bytes]] = defaultdict(list)
    for item in generate(_scenario(), seed=14):
        hour = item.uploaded.replace(minute=0, second=0, microsecond=0)
        by_key[ooni_key(hour)].append(orjson.dumps(item.measurement))
    return dict(by_key)


def gz(lines: list[bytes]) -> bytes:
    return gzip.compress(b"\n".join(lines) + b"\n", mtime=0)


@pytest.fixture(scope="session")
def objects() -> dict[str, list[bytes]]:
    return corpus()


@pytest.fixture(scope="session")
def s3_server() -> Iterator[tuple[str, Any]]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        yield endpoint, client
    finally:
        server.stop()


class Bucket:
    """One fresh bucket per test, filled as a test needs."""

    def __init__(self, client: Any, name: str) -> None:
        self.client, self.name = client, name
        client.create_bucket(Bucket=name)

    def put(self, key: str, body: bytes) -> None:
        # OONI's bucket is public: objects readable without credentials.
        self.client.put_object(Bucket=self.name, Key=key, Body=body, ACL="public-read")

    def put_corpus(self, objects: dict[str, list[bytes]], *, before: bool) -> list[str]:
        """The objects uploaded before CUT (before=True) or from CUT on; their keys."""
        keys = [k for k in sorted(objects) if (_hour(k) < CUT) == before]
        for key in keys:
            self.put(key, gz(objects[key]))
        return keys


def _hour(key: str) -> datetime:
    parts = key.split("/")
    return datetime.strptime(parts[1] + parts[2], "%Y%m%d%H")


_buckets = iter(range(10**6))


@pytest.fixture
def bucket(s3_server: tuple[str, Any]) -> Bucket:
    return Bucket(s3_server[1], f"ooni-watch-{next(_buckets)}")


@dataclass
class Receiver:
    """What a webhook receiver on 127.0.0.1 was sent."""

    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args: object) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            assert self.headers["Content-Type"] == "application/json"
            if receiver.status == 200:
                receiver.received.append(orjson.loads(body))
            self.send_response(receiver.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

    return Handler


@pytest.fixture
def webhook() -> Iterator[Receiver]:
    receiver = Receiver("")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(receiver))
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def serve_webhook(receiver: Receiver, port: int) -> ThreadingHTTPServer:
    """A receiver started on a given port (one that was down a moment ago)."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _handler(receiver))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
