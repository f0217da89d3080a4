"""Upload rate of `reachwatch serve` against plain `reachwatch ingest`, on loopback.

The same N distinct measurements (simulated web_connectivity, OONI format) are
1. ingested from one .jsonl file by `reachwatch ingest --json` (its own `seconds`), and
2. uploaded to `reachwatch serve` (a real server process on 127.0.0.1) by C concurrent clients,
   each with its own token, in requests of R measurements (application/x-ndjson), each
   accepted once spooled and fsynced (202; `--wait S` makes clients wait for the outcome).

Prints the accepted rate (last answer), the stored rate (until the store holds every
measurement, as a reader sees it), request latencies, and their ratios to the ingest rate.
Then stops the server and checks the store: exactly N measurements, their ids the ids sent
and the ids the server acknowledged, each once. Exits 1 if a check fails.

    python bench/submit.py [--count N] [--clients C] [--per-request R] [--wait S]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import orjson

from _common import figure

REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def _measurements(count: int) -> list[bytes]:
    from reachwatch.simulate import detection_corpus, generate

    lines: list[bytes] = []
    for seed in itertools.count(1):
        produced = generate(detection_corpus("partial", seed), seed)
        lines.extend(orjson.dumps(s.measurement) for s in itertools.islice(produced, count))
        if len(lines) >= count:
            return lines[:count]
    raise AssertionError("unreachable")


def _stored(db: Path) -> list[str]:
    from reachwatch.store import open_store

    con = open_store(db, read_only=True)
    try:
        return [r[0] for r in con.execute("SELECT measurement_id FROM measurements").fetchall()]
    finally:
        con.close()


def _committed(db: Path) -> int:
    """Measurements committed so far, from the manifest's lines (cheap enough to poll often:
    opening the store each time would take the CPU the server is being measured on)."""
    try:
        data = (db / "manifest.jsonl").read_bytes()
    except FileNotFoundError:
        return 0
    return sum(orjson.loads(line)["measurements"] for line in data.splitlines() if line)


def _ingest(tmp: Path, lines: list[bytes]) -> float:
    corpus = tmp / "corpus.jsonl"
    corpus.write_bytes(b"".join(line + b"\n" for line in lines))
    result = subprocess.run(
        [REACHWATCH, "ingest", str(corpus), "--db", str(tmp / "ingested"), "--json"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary["stored"] == len(lines), summary
    return float(summary["seconds"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(db: Path, port: int, per_request: int, linger: float) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [REACHWATCH, "serve", "--db", str(db), "--port", str(port),
         "--submit-rate", "1e9", "--submit-burst", str(10**7),
         "--submit-max-measurements", str(per_request), "--submit-max-bytes", str(1 << 30),
         "--submit-linger", str(linger)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/api/v1/submissions/schema", timeout=1)
            return process
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("reachwatch serve did not start") from None
            time.sleep(0.1)


class _Clients:
    def __init__(self, url: str, tokens: list[str], lines: list[bytes], per: int, wait: float):
        self.url, self.tokens, self.lines, self.per, self.wait = url, tokens, lines, per, wait
        self.acknowledged: list[str] = []
        self.latencies: list[float] = []
        self.failures: list[str] = []
        self._lock = threading.Lock()

    def run(self) -> float:
        threads = [
            threading.Thread(target=self._client, args=(n,)) for n in range(len(self.tokens))
        ]
        started = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return started

    def _client(self, n: int) -> None:
        share = self.lines[n :: len(self.tokens)]
        headers = {
            "Authorization": f"Bearer {self.tokens[n]}",
            "Content-Type": "application/x-ndjson",
        }
        with httpx.Client(timeout=120) as client:
            for i in range(0, len(share), self.per):
                body = b"\n".join(share[i : i + self.per])
                sent = time.perf_counter()
                response = client.post(self.url, params={"wait": self.wait}, content=body,
                                       headers=headers)  # fmt: skip
                took = time.perf_counter() - sent
                with self._lock:
                    self.latencies.append(took)
                    if response.status_code in (201, 202):
                        self.acknowledged.extend(r["id"] for r in response.json()["results"])
                    else:
                        self.failures.append(f"{response.status_code} {response.text[:200]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--per-request", type=int, default=200)
    parser.add_argument("--wait", type=float, default=0.0)
    parser.add_argument("--linger", type=float, default=1.0, help="serve's --submit-linger")
    args = parser.parse_args()
    from reachwatch.web import TokenStore

    lines = _measurements(args.count)
    sent_ids = [orjson.loads(line)["measurement_uid"] for line in lines]
    assert len(set(sent_ids)) == len(lines)
    megabytes = sum(map(len, lines)) / 1e6
    print(f"{len(lines):,} measurements, {megabytes:,.1f} MB of JSON; {args.clients} clients, "
          f"{args.per_request} a request, wait={args.wait:g}, linger={args.linger:g}; load average "
          f"{os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-submit-") as tmp_name:
        tmp = Path(tmp_name)
        ingest_seconds = _ingest(tmp, lines)
        db = tmp / "served"
        tokens = [TokenStore(db).add(f"bench{n}") for n in range(args.clients)]
        port = _free_port()
        server = _serve(db, port, args.per_request, args.linger)
        try:
            clients = _Clients(f"http://127.0.0.1:{port}/api/v1/measurements", tokens, lines,
                               args.per_request, args.wait)  # fmt: skip
            started = clients.run()
            accepted_seconds = time.perf_counter() - started
            deadline = time.monotonic() + 600
            while _committed(db) < len(clients.acknowledged) and time.monotonic() < deadline:
                time.sleep(0.05)
            stored_seconds = time.perf_counter() - started
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(120)
        stored = _stored(db)
    ingest_rate = len(lines) / ingest_seconds
    accepted_rate = len(clients.acknowledged) / accepted_seconds
    stored_rate = len(stored) / stored_seconds
    latencies = sorted(clients.latencies)
    figure("ingest (one file, `reachwatch ingest`)", ingest_rate, "meas./s")
    figure("uploads accepted (spooled, fsynced)", accepted_rate, "meas./s")
    figure("uploads stored (visible to readers)", stored_rate, "meas./s")
    figure("request latency p50", statistics.median(latencies) * 1000, "ms")
    figure("request latency p95", latencies[int(len(latencies) * 0.95)] * 1000, "ms")
    figure("ratio accepted/ingest", accepted_rate / ingest_rate, "")
    figure("ratio stored/ingest", stored_rate / ingest_rate, "")
    checks = {
        "no request refused": not clients.failures,
        "every measurement acknowledged": sorted(clients.acknowledged) == sorted(sent_ids),
        "store holds exactly the ids sent, each once": sorted(stored) == sorted(sent_ids),
    }
    for name, ok in checks.items():
        print(f"check: {name}: {'ok' if ok else 'FAILED'}")
    if clients.failures:
        print("first refusal:", clients.failures[0])
    if not all(checks.values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
