"""The page fetch records when its bytes arrived (x_arrivals): the timeline throttling is
judged by."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from reachwatch.lab.servers import WebServer
from reachwatch.lab.servers._http import Request, response_head
from reachwatch.probe import steps
from reachwatch.probe._http import ARRIVAL_INTERVAL


@dataclass(frozen=True)
class Trickle:
    """`pieces` pieces of `size` bytes, `every` seconds apart (a slowed-down transfer)."""

    pieces: int
    size: int
    every: float

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        length = self.pieces * self.size
        writer.write(response_head(200, {"Content-Type": "text/plain"}, length=length))
        for _ in range(self.pieces):
            await asyncio.sleep(self.every)
            writer.write(b"." * self.size)
            await writer.drain()


def _fetch(behaviour: Trickle, timeout: float) -> dict[str, Any]:
    async def scenario() -> list[dict[str, Any]]:
        async with WebServer({"*": behaviour}) as web:
            return await steps.http_fetch(
                f"http://x.com:{web.port}/",
                address="127.0.0.1",
                timeout=timeout,
                ssl_context=steps.make_ssl_context(),
                started=None,
            )

    (entry,) = asyncio.run(asyncio.wait_for(scenario(), 30))
    return entry


def test_a_completed_fetch_records_its_arrivals_up_to_the_last_byte() -> None:
    entry = _fetch(Trickle(pieces=6, size=4000, every=0.2), timeout=10)
    arrivals = entry["x_arrivals"]
    assert entry["failure"] is None
    assert len(arrivals) >= 6  # the head, then one point per piece (they are 0.2 s apart)
    times = [t for t, _ in arrivals]
    sizes = [size for _, size in arrivals]
    assert times == sorted(times) and sizes == sorted(sizes)
    assert entry["t0"] <= times[0] and times[-1] <= entry["t"]
    assert sizes[-1] >= 24_000  # every body byte, plus the head
    assert times[-1] - times[0] >= 1.0  # six pieces 0.2 s apart


def test_a_timed_out_fetch_keeps_what_arrived_before_the_timeout() -> None:
    entry = _fetch(Trickle(pieces=50, size=1000, every=0.1), timeout=1.5)
    arrivals = entry["x_arrivals"]
    assert entry["failure"] == "generic_timeout_error"
    assert entry["response"]["code"] == 200
    assert 5 <= len(arrivals) <= 1.5 / ARRIVAL_INTERVAL + 2
    assert arrivals[-1][1] < 50_000
    assert entry["t"] - arrivals[-1][0] < 0.5  # bytes were still coming when time ran out


def test_fast_arrivals_are_coalesced_to_one_point_per_interval() -> None:
    entry = _fetch(Trickle(pieces=200, size=500, every=0.002), timeout=10)
    arrivals = entry["x_arrivals"]
    spread = arrivals[-1][0] - arrivals[0][0]
    assert len(arrivals) <= spread / ARRIVAL_INTERVAL + 3
    assert arrivals[-1][1] >= 100_000
