"""Benchmark: the control under a flood from one client, as seen by another client.

`reachwatch control serve --allow-private` runs in its own process on loopback with its default
limits, but a budget of --hold seconds per measurement. The flooder (127.0.0.2) keeps FLOOD requests
in flight, each for a target that accepts connections and never answers, so every one it gets
admitted holds a measurement slot for the whole budget. The polite client (127.0.0.3) asks
POLITE times, one after another, for a page that answers at once. Printed: the polite client's
p50/p95 latency without and then with the flood (the ratio is the flood's cost to it), its
failures, and how many flood requests were served or turned away with 503.

Bounded: the flood stops after --flood-total requests or when the polite client is done,
whichever comes first. Touches loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from reachwatch.control import Limits
from reachwatch.lab.servers import Page, WebServer


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout, inlined: mypy cannot follow the sys.path import of it.
    print(f"{name:52} {value:10.3f} {unit}")


def _session(address: str) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(local_addr=(address, 0), force_close=True, limit=0)
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60))


async def _ask(session: aiohttp.ClientSession, control: str, target: str) -> tuple[int, float]:
    body = {"http_request": target, "tcp_connect": [], "x_quic": False, "x_throughput": False}
    started = time.monotonic()
    try:
        async with session.post(control, data=orjson.dumps(body)) as response:
            await response.read()
            return response.status, time.monotonic() - started
    except (aiohttp.ClientError, TimeoutError):
        return 0, time.monotonic() - started  # 0: refused or dropped without an HTTP answer


async def _polite(control: str, target: str, count: int) -> list[tuple[int, float]]:
    async with _session("127.0.0.3") as session:
        return [await _ask(session, control, target) for _ in range(count)]


async def _flood(
    control: str, target: str, width: int, total: int, stop: asyncio.Event
) -> Counter[int]:
    statuses: Counter[int] = Counter()
    async with _session("127.0.0.2") as session:

        async def worker() -> None:
            while not stop.is_set() and statuses.total() < total:
                status, _ = await _ask(session, control, target)
                statuses[status] += 1

        await asyncio.gather(*(worker() for _ in range(width)))
    return statuses


async def _silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await reader.read()  # until the control gives up and closes
    writer.close()


@contextlib.asynccontextmanager
async def _control_process(budget: float) -> AsyncIterator[str]:
    """`reachwatch control serve` in its own process; yields its URL."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "from reachwatch.cli import main; main()",
        "control", "serve", "--port", "0", "--allow-private", "--json", "--budget", str(budget),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert process.stdout is not None
        start = orjson.loads(await asyncio.wait_for(process.stdout.readline(), 30))
        yield str(start["url"])
    finally:
        process.terminate()
        await process.wait()


async def run(flood_width: int, flood_total: int, polite: int, hold: float) -> dict[str, Any]:
    silent = await asyncio.start_server(_silent, "127.0.0.1", 0)
    silent_url = f"http://127.0.0.1:{silent.sockets[0].getsockname()[1]}/"
    async with (
        silent,
        WebServer({"*": Page("fine")}, host="127.0.0.1") as web,
        _control_process(hold) as control,
    ):
        page = f"http://127.0.0.1:{web.port}/"
        quiet = await _polite(control, page, polite)
        stop = asyncio.Event()
        flooding = asyncio.create_task(_flood(control, silent_url, flood_width, flood_total, stop))
        await asyncio.sleep(0.5)  # the flood holds its share before the polite client asks
        started = time.monotonic()
        loud = await _polite(control, page, polite)
        flood_seconds = time.monotonic() - started
        stop.set()
        statuses = await asyncio.wait_for(flooding, hold + 30)
    return {"quiet": quiet, "loud": loud, "flood": statuses, "seconds": flood_seconds}


def _percentile(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(p) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flood", type=int, default=64, help="flood requests kept in flight")
    parser.add_argument("--polite", type=int, default=200, help="polite requests, in turn")
    parser.add_argument("--flood-total", type=int, default=5000, help="flood requests at most")
    parser.add_argument(
        "--hold", type=float, default=3.0, help="seconds an admitted flood request holds a slot"
    )
    args = parser.parse_args()
    result = asyncio.run(run(args.flood, args.flood_total, args.polite, args.hold))
    quiet = [s for _, s in result["quiet"]]
    loud = [s for _, s in result["loud"]]
    failed = sum(status != 200 for status, _ in result["loud"])
    flood = result["flood"]
    print(f"control defaults: {Limits().max_concurrent_requests} slots, "
          f"{Limits().max_per_client} per client; flood of {args.flood} in flight")  # fmt: skip
    figure("polite p50 latency, no flood", _percentile(quiet, 50) * 1000, "ms")
    figure("polite p95 latency, no flood", _percentile(quiet, 95) * 1000, "ms")
    figure("polite p50 latency, under flood", _percentile(loud, 50) * 1000, "ms")
    figure("polite p95 latency, under flood", _percentile(loud, 95) * 1000, "ms")
    figure(
        "polite p95: ratio flood / no flood", _percentile(loud, 95) / _percentile(quiet, 95), "x"
    )
    figure("polite requests not answered 200", failed, f"of {len(loud)}")
    figure("flood requests measured (200)", flood[200], "")
    figure("flood requests turned away (503)", flood[503], "")
    figure("flood connections dropped (per-client connection cap)", flood[0], "")
    figure("flood duration", result["seconds"], "s")


if __name__ == "__main__":
    main()
