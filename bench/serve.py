"""Benchmark: `reachwatch serve` under 50 concurrent clients on a store of 10 million
observation rows.

The store (bench/_serve_store.py) is simulated and written in the store's own layout through
StoreWriter, cached under out/bench/ and reused while its parameters and generator are the same.
`reachwatch serve --db STORE --port P` runs as a real subprocess on 127.0.0.1. The clients run
in another process (asyncio + aiohttp), so their CPU is not the server's; the machine has 2
cores, so clients and server share them, and the output says so. Each client sends its next
request as soon as the previous one answers (closed loop, no think time unless --think-ms)
over the main read endpoints: the overview, incidents (with and without filters) and a
filtered measurement page (varied filters; a share of requests follow the previous page's
cursor). For each endpoint: requests, p50/p95/p99 latency, errors, and the p95 of the same
query function called directly on a DuckDB connection of the same store (no HTTP, no
framework, one caller), and the ratio of the two. Also the server's start until ready and
the first (cold) request to each endpoint.

Target: p95 < 100 ms for the overview, incidents and a filtered measurement page, and no
errors. PASS/FAIL is printed against it; the exit status is non-zero only on errors.

Run: .venv/bin/python bench/serve.py [--observations N] [--clients 50] [--seconds 30]
     [--out out/bench/serve-store] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import orjson

from _serve_store import COUNTRIES, PLATFORMS, ensure_store

ROOT = Path(__file__).resolve().parents[1]
TARGET_MS = 100.0


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout.
    print(f"{name:48} {value:12.3f} {unit}")


# -- the request mix ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    path: str
    weight: float
    params: Callable[[random.Random], dict[str, str]]


def _overview(rng: random.Random) -> dict[str, str]:
    del rng
    return {}


def _incidents(rng: random.Random) -> dict[str, str]:
    choice = rng.random()
    if choice < 0.4:
        return {}
    if choice < 0.8:
        return {"cc": rng.choice(list(COUNTRIES))}
    return {"cc": rng.choice(list(COUNTRIES)), "platform": rng.choice(list(PLATFORMS))}


def _measurements(rng: random.Random) -> dict[str, str]:
    params = {"cc": rng.choice(list(COUNTRIES)), "limit": "50"}
    if rng.random() < 0.7:
        params["platform"] = rng.choice(list(PLATFORMS))
    if rng.random() < 0.5:
        params["verdict"] = rng.choice(("blocked", "accessible", "down", "inconclusive"))
    if rng.random() < 0.3:
        month = rng.randrange(1, 13)
        params["since"] = f"2024-{month:02d}-01T00:00:00Z"
        params["until"] = f"2024-{month:02d}-{rng.randrange(2, 29):02d}T00:00:00Z"
    return params


ENDPOINTS = (
    Endpoint("overview", "/api/overview", 0.3, _overview),
    Endpoint("incidents", "/api/incidents", 0.3, _incidents),
    Endpoint("measurements", "/api/measurements", 0.4, _measurements),
)
CURSOR_FOLLOW = 0.4  # share of measurement requests that ask for the next page of the last one


def _next_cursor(body: Any) -> str | None:
    if isinstance(body, dict):
        cursor = body.get("next_cursor") or body.get("cursor")
        if isinstance(cursor, str):
            return cursor
    return None


# -- the clients (their own process) --------------------------------------------------------
@dataclass(slots=True)
class Sample:
    endpoint: str
    seconds: float
    ok: bool
    detail: str  # status or exception name, for errors


async def _client(
    session: aiohttp.ClientSession,
    base: str,
    deadline: float,
    rng: random.Random,
    think: float,
    out: list[tuple[str, float, bool, str]],
) -> None:
    names = [e for e in ENDPOINTS]
    weights = [e.weight for e in ENDPOINTS]
    last: dict[str, str] | None = None  # the last measurement page's filters, with its cursor
    while time.monotonic() < deadline:
        endpoint = rng.choices(names, weights)[0]
        params = endpoint.params(rng)
        if endpoint.name == "measurements" and last is not None and rng.random() < CURSOR_FOLLOW:
            params = last
        started = time.perf_counter()
        ok, detail, body = False, "", None
        try:
            async with session.get(base + endpoint.path, params=params) as response:
                data = await response.read()
                detail = str(response.status)
                if response.status == 200:
                    body = orjson.loads(data)
                    ok = True
        except (aiohttp.ClientError, asyncio.TimeoutError, orjson.JSONDecodeError) as exc:
            detail = type(exc).__name__
        out.append((endpoint.name, time.perf_counter() - started, ok, detail))
        if endpoint.name == "measurements" and ok:
            cursor = _next_cursor(body)
            last = {**params, "cursor": cursor} if cursor else None
        if think:
            await asyncio.sleep(think)


async def _clients(base: str, clients: int, seconds: float, seed: int, think: float) -> Any:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    out: list[tuple[str, float, bool, str]] = []
    deadline = time.monotonic() + seconds
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(
            *(
                _client(session, base, deadline, random.Random(seed + i), think, out)
                for i in range(clients)
            )
        )
    return out


def client_process(
    base: str, clients: int, seconds: float, seed: int, think: float, queue: Any
) -> None:
    cpu = time.process_time()
    wall = time.perf_counter()
    samples = asyncio.run(_clients(base, clients, seconds, seed, think))
    queue.put(
        {
            "samples": samples,
            "cpu": time.process_time() - cpu,
            "wall": time.perf_counter() - wall,
        }
    )


# -- the server -----------------------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its waited-for children, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(v) for v in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def _reachwatch() -> str:
    exe = Path(sys.executable).parent / "reachwatch"
    return str(exe) if exe.exists() else shutil.which("reachwatch") or "reachwatch"


def _get(url: str, timeout: float = 120) -> tuple[int, float, bytes]:
    async def once() -> tuple[int, float, bytes]:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as s:
            started = time.perf_counter()
            async with s.get(url) as response:
                data = await response.read()
                return response.status, time.perf_counter() - started, data

    return asyncio.run(once())


def start_server(db: Path, port: int) -> tuple[subprocess.Popen[bytes], float]:
    """Start `reachwatch serve` and wait until it answers; (process, seconds to ready)."""
    started = time.perf_counter()
    server = subprocess.Popen(
        [_reachwatch(), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = started + 300
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            err = server.stderr.read().decode() if server.stderr else ""
            raise SystemExit(f"reachwatch serve exited with {server.returncode}: {err.strip()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return server, time.perf_counter() - started
        except OSError:
            time.sleep(0.05)
    server.kill()
    raise SystemExit("reachwatch serve did not answer within 300 s")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    server.send_signal(signal.SIGINT)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


# -- the same queries, directly -------------------------------------------------------------
def direct_runs(db: Path, runs: int, seed: int) -> dict[str, list[float]]:
    """Seconds of each query function called directly on one read-only connection, per
    endpoint, with the clients' parameter mix (cursors from the previous call's page)."""
    from direct_queries import direct_call  # the web layer's query functions (see there)

    rng = random.Random(seed)
    out: dict[str, list[float]] = defaultdict(list)
    with direct_call(db) as call:
        for endpoint in ENDPOINTS:
            call(endpoint.name, endpoint.params(rng))  # first call: not counted (warm-up)
            for _ in range(runs):
                params = endpoint.params(rng)
                started = time.perf_counter()
                call(endpoint.name, params)
                out[endpoint.name].append(time.perf_counter() - started)
    return out


# -- report ---------------------------------------------------------------------------------
def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q)) if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between requests")
    parser.add_argument("--direct-runs", type=int, default=30)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "serve-store")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="py-spy the server during the load")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, shared by the server and the clients' process")
    built = ensure_store(args.out, args.observations, seed=args.seed)
    figure("store: measurements", built.measurements, "rows")
    figure("store: observations", built.observations, "rows")
    figure("store: batches (manifest lines)", built.batches, "")
    if built.reused:
        print(f"store: reused {built.db} (same parameters and generator)")
    else:
        figure("store: build time", built.seconds, "s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
