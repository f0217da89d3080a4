"""Benchmark: `reachwatch serve` under 50 concurrent clients on a store of 10 million
observation rows.

The store (bench/_serve_store.py) is simulated and written through StoreWriter in the store's
own layout, cached under out/bench/ and reused while its parameters and generator are the
same. `reachwatch serve --db STORE --port P` runs as a real subprocess on 127.0.0.1. First the
cold figures: start until listening, then the first answer of each endpoint (the server warms
its caches, detection included, from its start; a 503 "warming" is retried), the series and
cases last so the load starts once warming is over. Then the clients, in another process
(asyncio + aiohttp) so their CPU is not the server's (the machine has 2 cores: clients and
server share them, and the output says so), for --seconds per --think-ms value: each client
sends its next request when the previous one answered (closed loop) after that think time,
over the overview, incidents (with and without filters) and a filtered measurement page
(country always; platform, verdict, network, a 1-30 day window at random; 40 % follow the
previous page's cursor). Per endpoint: requests, p50/p95/p99, errors, and "direct SQL": with
the server stopped, the statements the same query function runs on a cache miss (for a
measurement page, which the server answers from its in-memory listing, the keyset SQL of the
same page), run again on a cursor of the same snapshot database the server builds; the ratio
is HTTP p95 / direct p95. --profile samples the server with py-spy during the first load
phase and sorts the samples into framework, DuckDB, detection, JSON.

Target: p95 < 100 ms for the overview, incidents and a filtered measurement page, and no
errors. PASS/FAIL is printed against it per load phase; the exit status is non-zero only on
errors.

Run: .venv/bin/python bench/serve.py [--observations N] [--clients 50] [--seconds 30]
     [--think-ms 0 500] [--out out/bench/serve-store] [--profile FILE]
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
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import duckdb
import numpy as np
import orjson

from _serve_store import COUNTRIES, PLATFORMS, ensure_store
from reachwatch.web import _queries as q
from reachwatch.web._context import WebContext

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
    """A filtered page: always a country, often a platform, a verdict, a network or a window
    of 1 to 30 days anywhere in the year (most such pages are asked for the first time)."""
    cc = rng.choice(list(COUNTRIES))
    params = {"cc": cc, "limit": "50"}
    if rng.random() < 0.7:
        params["platform"] = rng.choice(list(PLATFORMS))
    if rng.random() < 0.4:
        params["verdict"] = rng.choice(("blocked", "accessible", "down", "inconclusive"))
    if rng.random() < 0.2:
        params["network"] = rng.choice(COUNTRIES[cc][2])[0]
    if rng.random() < 0.5:
        start = datetime(2024, 1, 1) + timedelta(hours=rng.randrange(366 * 24))
        end = start + timedelta(days=rng.randrange(1, 31))
        params["since"] = start.strftime("%Y-%m-%dT%H:%M:%SZ")
        params["until"] = end.strftime("%Y-%m-%dT%H:%M:%SZ")
    return params


ENDPOINTS = (
    Endpoint("overview", "/api/v1/overview", 0.3, _overview),
    Endpoint("incidents", "/api/v1/incidents", 0.3, _incidents),
    Endpoint("measurements", "/api/v1/measurements", 0.4, _measurements),
)
# Asked once before the load, after the endpoints above: the rest of what the server warms.
# The whole store's hourly series is more than the API's point limit (a 422 that says so):
# ask for what a chart shows, one country's daily series.
WARMED = (("series", "/api/v1/series?cc=PK&bucket=day"), ("cases", "/api/v1/cases"))
CURSOR_FOLLOW = 0.4  # share of measurement requests that ask for the next page of the last one


def _next_cursor(body: Any) -> str | None:
    if isinstance(body, dict):
        cursor = body.get("next_cursor") or body.get("cursor")
        if isinstance(cursor, str):
            return cursor
    return None


# -- the clients (their own process) --------------------------------------------------------
async def _client(
    session: aiohttp.ClientSession,
    base: str,
    deadline: float,
    rng: random.Random,
    think: float,
    out: list[tuple[str, float, bool, str, str]],
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
        except (TimeoutError, aiohttp.ClientError, orjson.JSONDecodeError) as exc:
            detail = type(exc).__name__
        key = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
        out.append((endpoint.name, time.perf_counter() - started, ok, detail, key))
        if endpoint.name == "measurements" and ok:
            cursor = _next_cursor(body)
            last = {**params, "cursor": cursor} if cursor else None
        if think:
            await asyncio.sleep(think)


async def _clients(base: str, clients: int, seconds: float, seed: int, think: float) -> Any:
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=60)
    out: list[tuple[str, float, bool, str, str]] = []
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


def first_answer(url: str) -> tuple[int, float, int]:
    """The first answer that is not 503 (the server says it is still warming, with
    Retry-After): (status, seconds from the first try, 503s received before)."""
    started = time.perf_counter()
    warming = 0
    while True:
        status, _, _ = _get(url, timeout=3600)
        if status != 503 or time.perf_counter() - started > 3600:
            return status, time.perf_counter() - started, warming
        warming += 1
        time.sleep(1)


def start_server(db: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """Start `reachwatch serve` and wait until it answers; (process, seconds to ready). Its
    output goes to `log` (a pipe nobody reads would stall it once full)."""
    started = time.perf_counter()
    with log.open("wb") as out:
        server = subprocess.Popen(
            [_reachwatch(), "serve", "--db", str(db), "--host", "127.0.0.1", "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = started + 300
    while time.perf_counter() < deadline:
        if server.poll() is not None:
            err = log.read_text(errors="replace")[-2000:]
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
class _Recorder:
    """A DuckDB cursor that notes every statement run through it (SQL and parameters)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, log: list[tuple[str, Any]]) -> None:
        self._con = con
        self._log = log

    def execute(self, sql: str, parameters: Any = None) -> duckdb.DuckDBPyConnection:
        self._log.append((sql, parameters))
        return self._con.execute(sql, parameters)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._con, name)


def _recording_context(db: Path) -> tuple[WebContext, list[tuple[str, Any]]]:
    """A WebContext whose cursor in this thread records its SQL."""
    ctx = WebContext(db)
    log: list[tuple[str, Any]] = []
    snapshot = ctx.read().snapshot
    snapshot._local.cursor = _Recorder(snapshot.cursor(), log)
    return ctx, log


def _forget(ctx: WebContext) -> None:
    """Empty the context's answers, so the next call computes them again (a cache miss)."""
    snapshot = ctx.read().snapshot
    snapshot._kept.clear()
    snapshot._recent.clear()


def _replay(con: duckdb.DuckDBPyConnection, log: list[tuple[str, Any]]) -> float:
    """Seconds DuckDB takes to run these statements again, results fetched as Arrow."""
    started = time.perf_counter()
    for sql, parameters in log:
        con.execute(sql, parameters).to_arrow_table()
    return time.perf_counter() - started


def _filters(params: dict[str, str]) -> tuple[q.Filters, str | None]:
    def when(key: str) -> datetime | None:
        value = params.get(key)
        return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None

    return (
        q.Filters(
            params.get("cc"), params.get("platform"), params.get("network"), None,
            when("since"), when("until"), None, params.get("verdict"),
        ),
        params.get("cursor"),
    )  # fmt: skip


@dataclass(slots=True)
class Direct:
    """One endpoint's answer computed in this process, no HTTP: the query function with empty
    caches (detection included), its JSON encoding, and its SQL run again on DuckDB alone."""

    function: list[float]
    encode: list[float]
    sql: list[float]
    statements: int


def direct_runs(db: Path, runs: int, overview_runs: int, seed: int) -> dict[str, Direct]:
    """The overview and measurement pages computed here on a cache miss, their SQL recorded
    and run again. Detection (what the overview's states and every incidents answer are made
    from) is computed once per store generation and then served from the cache; its cost is
    the server's first overview request. Here it is seeded empty for every pair, so what is
    timed and replayed is the endpoint's own SQL; incidents has none beyond detection."""
    warnings.filterwarnings("ignore", message="Arrow output on a DB-API result")
    rng = random.Random(seed)
    out: dict[str, Direct] = {}
    ctx, log = _recording_context(db)
    # Replayed on the snapshot's own database: the tables and views the server queries.
    con = ctx.read().snapshot._con.cursor()
    pairs = q.pairs(ctx)
    started = time.perf_counter()
    listing = q._listing(ctx.read())  # built once per generation, like detection
    if listing is not None:
        figure("listing: build (in this process)", time.perf_counter() - started, "s")
        figure("listing: memory per measurement", listing.nbytes / max(1, len(listing)), "bytes")
    last: dict[str, str] | None = None  # measurements: the last page's filters and cursor
    try:
        for name, n in (("overview", overview_runs), ("measurements", runs)):
            endpoint = next(e for e in ENDPOINTS if e.name == name)
            d = Direct([], [], [], 0)
            for _ in range(n):
                params = endpoint.params(rng)
                if name == "measurements" and last is not None and rng.random() < CURSOR_FOLLOW:
                    params = last
                _forget(ctx)
                read = ctx.read()
                for cc, platform in pairs:
                    read.cached(("detection", cc, platform), lambda: {"incidents": []})
                read.cached(("listing",), lambda: listing)
                log.clear()
                started = time.perf_counter()
                answer = _answer(ctx, name, params)
                d.function.append(time.perf_counter() - started)
                started = time.perf_counter()
                q.to_json(answer)
                d.encode.append(time.perf_counter() - started)
                if name == "measurements":
                    # The server answers pages from its in-memory listing; the same page
                    # asked of DuckDB is the keyset SQL it keeps for other filters.
                    log.clear()
                    _sql_page(ctx, params)
                d.sql.append(_replay(con, log))
                d.statements = max(d.statements, len(log))
                cursor = answer.get("next_cursor")
                last = {**params, "cursor": cursor} if isinstance(cursor, str) else None
            out[name] = d
    finally:
        con.close()
    return out


def _sql_page(ctx: WebContext, params: dict[str, str]) -> None:
    """The page for `params` by SQL (recorded by the context's log, to be replayed)."""
    filters, cursor = _filters(params)
    after = q.decode_cursor(cursor) if cursor else None
    q._sql_rows(ctx, ctx.read(), filters, after, int(params.get("limit", "50")))


def _answer(ctx: WebContext, name: str, params: dict[str, str]) -> dict[str, Any]:
    """The document the endpoint answers with, from the same query function."""
    filters, cursor = _filters(params)
    if name == "overview":
        return {"items": q.overview(ctx)}
    if name == "incidents":
        return {"items": q.incidents(ctx, filters)}
    page = q.measurements(ctx, filters, cursor, int(params.get("limit", "50")))
    return {"items": page.items, "next_cursor": page.next_cursor, "limit": page.limit}


# -- profile -------------------------------------------------------------------------------
# Where a sampled stack of the server spends its time, first match wins (py-spy samples Python
# frames: a DuckDB query shows as the reachwatch frame that called execute/fetch).
CATEGORIES = (
    ("detection (reachwatch.detect)", ("reachwatch/detect/",)),
    ("JSON encoding", ("to_json", "orjson", "jsonable_encoder", "json/encoder")),
    ("DuckDB query (execute/fetch)", ("reachwatch/web/_queries.py", "reachwatch/store/")),
    ("cache, context", ("reachwatch/web/_context.py",)),
    ("framework (uvicorn, starlette, fastapi, pydantic)",
     ("uvicorn", "starlette", "fastapi", "pydantic", "anyio", "h11", "httptools", "asyncio")),
)  # fmt: skip


def start_profile(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists() and shutil.which(spy) is None:
        print("profile: py-spy not found (pip install py-spy into the venv); skipped")
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(1, int(seconds))),
         "--rate", "100", "--format", "raw", "--output", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def summarise_profile(path: Path) -> None:
    """Shares of the server's samples per category, and the heaviest leaf frames."""
    if not path.exists():
        print(f"profile: {path} was not written (py-spy needs ptrace rights)")
        return
    by_category: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        category = next(
            (name for name, marks in CATEGORIES if any(m in f for f in frames for m in marks)),
            "other",
        )
        by_category[category] += count
        leaves[" <- ".join(reversed(frames[-3:]))] += count
    print(f"profile: {total} samples of the server's busy threads ({path})")
    for name, count in by_category.most_common():
        print(f"  {100 * count / total:5.1f} %  {name}")
    print("  heaviest leaf frames:")
    for frame, count in leaves.most_common(8):
        print(f"  {100 * count / total:5.1f} %  {frame[:150]}")


# -- report ---------------------------------------------------------------------------------
def _ms(values: list[float], q: float) -> float:
    return float(np.percentile(np.array(values) * 1000, q)) if values else float("nan")


def run_load(
    base: str,
    args: argparse.Namespace,
    server: subprocess.Popen[bytes],
    think_ms: float,
    profile: Path | None,
) -> dict[str, Any]:
    """The clients in their own process for args.seconds; their samples, with CPU seconds."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(
        target=client_process,
        args=(base, args.clients, args.seconds, args.seed, think_ms / 1000, queue),
    )
    cpu_before = _cpu_seconds(server.pid)
    spy = start_profile(server.pid, args.seconds, profile) if profile else None
    process.start()
    result: dict[str, Any] = queue.get(timeout=args.seconds + 300)
    process.join()
    result["server_cpu"] = _cpu_seconds(server.pid) - cpu_before
    if spy is not None:
        spy.wait(timeout=120)
    return result


def report(
    args: argparse.Namespace, think_ms: float, result: dict[str, Any], direct: dict[str, Direct]
) -> tuple[bool, bool]:
    """Print one load phase's table; (any error, every endpoint within the target)."""
    samples: list[tuple[str, float, bool, str, str]] = result["samples"]
    by: dict[str, list[float]] = defaultdict(list)
    errors: Counter[str] = Counter()
    details: Counter[str] = Counter()
    keys: dict[str, set[str]] = defaultdict(set)
    for name, seconds, ok, detail, key in samples:
        keys[name].add(key)
        by[name].append(seconds)
        if not ok:
            errors[name] += 1
            details[f"{name} {detail}"] += 1
    wall = result["wall"]
    print(f"load: {args.clients} clients, closed loop"
          f"{f' with {think_ms:g} ms think time' if think_ms else ''}, "
          f"{wall:.1f} s, {len(samples)} requests ({len(samples) / wall:.0f}/s); "
          f"CPU: server {result['server_cpu']:.1f} s, clients {result['cpu']:.1f} s "
          f"of {2 * wall:.0f} core-seconds")  # fmt: skip
    header = (f"{'endpoint':13} {'requests':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'errors':>6} {'direct SQL p95':>14} {'ratio':>7} {'fn p95, no HTTP':>15} "
              f"{'target':>6}")  # fmt: skip
    print(header)
    print("-" * len(header))
    failed = False
    for endpoint in ENDPOINTS:
        lat = by.get(endpoint.name, [])
        p95 = _ms(lat, 95)
        ok = bool(lat) and p95 < TARGET_MS and errors[endpoint.name] == 0
        failed |= errors[endpoint.name] > 0
        d = direct.get(endpoint.name)
        sql95 = _ms(d.sql, 95) if d else float("nan")
        fn = f"{_ms(d.function, 95):12.1f} ms" if d else f"{'n/a':>15}"
        ratio = f"{p95 / sql95:7.2f}" if d else f"{'n/a':>7}"
        sql = f"{sql95:11.1f} ms" if d else f"{'n/a':>14}"
        print(f"{endpoint.name:13} {len(lat):8d} {_ms(lat, 50):8.1f} {p95:8.1f} "
              f"{_ms(lat, 99):8.1f} {errors[endpoint.name]:6d} {sql} {ratio} {fn} "
              f"{'PASS' if ok else 'FAIL':>6}")  # fmt: skip
    print(
        "direct SQL: the statements the query function ran on a cache miss (measurements: "
        "the keyset SQL for the same page; the server answers it from its in-memory listing), "
        "run again on a cursor of the same snapshot database the server builds (one caller, "
        "no load, server stopped); ratio: HTTP p95 under load / direct SQL p95; fn: the query "
        "function itself (no HTTP, cache emptied, detection answers and listing seeded: "
        "each is computed once per store generation; detection's cost is the first overview "
        "request above, the listing's the first measurements request). incidents: "
        "answered from detection alone, no SQL of its own."
    )
    for name, d in direct.items():
        print(f"  {name}: up to {d.statements} statements a call; JSON encoding p95 "
              f"{_ms(d.encode, 95):.1f} ms")  # fmt: skip
    print(
        "distinct queries (the server caches answers per store generation, so a repeat is a "
        "cache hit): " + ", ".join(f"{n} {len(keys[n])} of {len(by[n])}" for n in by)
    )
    for detail, count in details.most_common(5):
        print(f"error: {detail} x{count}")
    phase_ok = all(
        bool(by.get(e.name)) and _ms(by[e.name], 95) < TARGET_MS and not errors[e.name]
        for e in ENDPOINTS
    )
    return failed, phase_ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--observations", type=int, default=10_000_000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--think-ms", type=float, nargs="+", default=[0.0],
        help="pause between a client's requests; several values: one load phase each",
    )  # fmt: skip
    parser.add_argument("--direct-runs", type=int, default=20, help="measurement pages")
    parser.add_argument("--overview-runs", type=int, default=5, help="overviews")
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "serve-store")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, help="py-spy the server during the load")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} cores, shared by the server and the clients' process "
          f"(load average before: {os.getloadavg()[0]:.1f})")  # fmt: skip
    built = ensure_store(args.out, args.observations, seed=args.seed)
    figure("store: measurements", built.measurements, "rows")
    figure("store: observations", built.observations, "rows")
    figure("store: batches (manifest lines)", built.batches, "")
    if built.reused:
        print(f"store: reused {built.db} (same parameters and generator; build time not run)")
    else:
        figure("store: build time", built.seconds, "s")

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server, ready = start_server(built.db, port, args.out.parent / "serve-server.log")
    results: list[tuple[float, dict[str, Any]]] = []
    try:
        figure("server: start until listening", ready, "s")
        # The first request of each endpoint, in this order; the server warms its caches
        # (overview, incidents, series, cases) in the background from its start, and the
        # cases answer comes last: the load starts once warming is over.
        for name, path in (*((e.name, e.path) for e in ENDPOINTS), *WARMED):
            query = "?limit=50" if name == "measurements" else ""
            status, seconds, warming = first_answer(base + path + query)
            note = f", after {warming} x 503 warming" if warming else ""
            figure(f"server: first {name} answer (status {status}{note})", seconds, "s")
        for i, think_ms in enumerate(args.think_ms):
            spy = args.profile if i == 0 else None
            results.append((think_ms, run_load(base, args, server, think_ms, spy)))
    finally:
        stop_server(server)

    # After the server stopped: the two do not share the cores.
    direct = direct_runs(built.db, args.direct_runs, args.overview_runs, args.seed)

    failed = False
    verdicts = []
    for think_ms, result in results:
        phase_failed, phase_ok = report(args, think_ms, result, direct)
        failed |= phase_failed
        verdicts.append(phase_ok)
    if args.profile:
        summarise_profile(args.profile)
    for (think_ms, _), ok in zip(results, verdicts, strict=True):
        print(f"{'PASS' if ok else 'FAIL'}: p95 < {TARGET_MS:.0f} ms and no errors for "
              f"{', '.join(e.name for e in ENDPOINTS)} ({args.clients} clients, "
              f"think time {think_ms:g} ms)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
