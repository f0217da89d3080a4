"""Benchmark: `reachwatch probe x` (all 8 hosts) against loopback stand-ins, with a control.

Run 1: every host healthy. Run 2: half of the hosts never answer (TCP accepted, TLS and QUIC
never answered), so their steps end only by timeout. Both runs use the probe's default
timeouts (5 s per connection step, 10 s for HTTP); the target is 15 s of wall time for each,
which only holds if timeouts run concurrently rather than one after another.

Needs to bind port 443 on 127.0.0.0/8 (root). Touches loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import resource
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from reachwatch.catalog import load_catalog
from reachwatch.control import ControlServer
from reachwatch.lab.servers import (
    DnsServer,
    DohServer,
    LabPki,
    Large,
    Page,
    QuicServer,
    Site,
    WebServer,
)
from reachwatch.probe import ProbeOptions, ProbeRun, expand_targets, probe

TARGET_SECONDS = 15.0


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout, inlined: mypy cannot follow the sys.path import of it.
    print(f"{name:60} {value:9.3f} {unit}")


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


async def run_suite(pki: LabPki, *, silent_hosts: int, control: bool) -> tuple[float, ProbeRun]:
    """One probe of X with the first `silent_hosts` hosts black-holed; (wall seconds, run)."""
    hosts = [h.host for h in load_catalog().get("x").hosts]
    block = f"127.{random.randint(64, 250)}.{random.randint(0, 255)}"
    addresses = {host: f"{block}.{10 + i}" for i, host in enumerate(hosts)}
    zone = {host: [address] for host, address in addresses.items()}
    silent = set(hosts[:silent_hosts])
    sites: dict[str, Site] = {"*": {"*": Page("stand-in"), "/big": Large(4 << 20)}}
    async with contextlib.AsyncExitStack() as stack:
        for host, address in addresses.items():
            web = WebServer(
                sites,
                host=address,
                port=443,
                ssl_context=pki.server_context(hosts),
                stall_all=host in silent,
            )
            await stack.enter_async_context(web)
            if host in silent:
                stack.enter_context(_silent_udp(address, 443))
            else:
                await stack.enter_async_context(
                    QuicServer(pki.issue(hosts), host=address, port=443)
                )
        dns = await stack.enter_async_context(DnsServer(zone, host=f"{block}.2"))
        doh_context = pki.server_context([f"{block}.3"])
        doh = await stack.enter_async_context(
            DohServer(zone, ssl_context=doh_context, host=f"{block}.3")
        )
        control_url = None
        if control:
            server = ControlServer(
                "127.0.0.1", 0, resolver=dns.address, ca_file=str(pki.ca_file), allow_private=True
            )
            control_url = (await stack.enter_async_context(server)).url
        options = ProbeOptions(
            control_url=control_url,
            resolver=dns.address,
            doh_url=doh.url,
            system_resolver=False,  # would ask the machine's real resolver
            ca_file=str(pki.ca_file),
        )
        started = time.monotonic()
        run = await probe(expand_targets(["x"]), options)
        return time.monotonic() - started, run


@contextlib.contextmanager
def _silent_udp(host: str, port: int) -> Iterator[None]:
    """A UDP socket that receives and never answers: QUIC handshakes to it time out."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))
        yield


def main() -> int:
    figures: list[tuple[str, float]] = []
    outcomes: list[tuple[str, ProbeRun]] = []
    with tempfile.TemporaryDirectory() as tmp:
        pki = LabPki(Path(tmp))
        try:
            for control in (False, True):
                for silent in (0, 4):
                    wall, run = asyncio.run(run_suite(pki, silent_hosts=silent, control=control))
                    name = "all healthy" if silent == 0 else "half never answering"
                    name += ", with control" if control else ", probe alone"
                    figures.append((name, wall))
                    outcomes.append((name, run))
        except PermissionError:
            print("bench/probe.py: binding port 443 on loopback needs root", file=sys.stderr)
            return 1
    print("reachwatch probe x: 8 hosts on loopback, default timeouts (5 s steps, 10 s HTTP)")
    for name, wall in figures:
        figure(f"{name}: wall time", wall, "s")
        figure(f"{name}: ratio to the {TARGET_SECONDS:.0f} s target", wall / TARGET_SECONDS, "x")
    figure("peak RSS", peak_rss_mib(), "MiB")
    print("verdicts (without a control, loopback answers read as DNS bogons):")
    for name, run in outcomes:
        counts: dict[str, int] = {}
        for verdict in run.verdicts:
            key = f"{verdict.verdict}:{verdict.technique}" if verdict.technique else verdict.verdict
            counts[key] = counts.get(key, 0) + 1
        print(f"  {name}: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
