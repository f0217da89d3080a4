"""One lab node: the servers of a namespace, described in JSON, run until told to stop.

    ip netns exec NS python -m reachwatch.lab.node SPEC.json

SPEC is {"servers": [spec, ...]} where a spec is one of
    {"kind": "dns",  "host", "port", "zone": {name: [addr]}, "policy": {...}}
    {"kind": "doh",  "host", "port", "zone", "policy", "cert", "key"}
    {"kind": "web",  "host", "port", "sites": {host: behaviour | {path: behaviour}},
                     "cert"?, "key"?, "reset_snis"?, "stall_snis"?, "stall_all"?,
                     "reset_share"?, "challenge_clients"?}
    {"kind": "quic", "host", "port", "cert", "key"}
a policy is {"drop": [names], "nxdomain": [names], "forged": {name: [addr]}, "upstream": [h, p],
"rewrite_nxdomain"?: [addr]}
and a behaviour is {"page": {"title", "text"?, "padding"?}}, {"blockpage": {}},
{"large": {"size"}}, {"redirect": {"hops", "location"}}, {"truncated": {}} or {"endless": {}}.

The node prints one line `ready` once every server listens, and stops on SIGTERM, SIGINT or
when its stdin closes (so it never outlives the lab that started it).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import ssl
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

from reachwatch.lab.servers import (
    Behaviour,
    CertPair,
    DnsPolicy,
    DnsServer,
    DohServer,
    Endless,
    LabServer,
    Large,
    Page,
    QuicServer,
    Redirect,
    Site,
    Truncated,
    WebServer,
    blockpage,
)


def _behaviour(spec: Mapping[str, Any]) -> Behaviour:
    ((kind, params),) = spec.items()
    if kind == "page":
        return Page(**params)
    if kind == "blockpage":
        return blockpage(**params)
    if kind == "large":
        return Large(**params)
    if kind == "redirect":
        return Redirect(**params)
    if kind == "truncated":
        return Truncated(**params)
    if kind == "endless":
        return Endless(**params)
    raise ValueError(f"unknown behaviour {kind!r}")


def _site(spec: Mapping[str, Any]) -> Site:
    if len(spec) == 1 and next(iter(spec)) in {
        "page",
        "blockpage",
        "large",
        "redirect",
        "truncated",
        "endless",
    }:
        return _behaviour(spec)
    return {path: _behaviour(sub) for path, sub in spec.items()}


def _policy(spec: Mapping[str, Any] | None) -> DnsPolicy | None:
    if not spec:
        return None
    upstream = spec.get("upstream")
    return DnsPolicy(
        drop=frozenset(spec.get("drop", ())),
        nxdomain=frozenset(spec.get("nxdomain", ())),
        forged={name: list(addrs) for name, addrs in spec.get("forged", {}).items()},
        upstream=(str(upstream[0]), int(upstream[1])) if upstream else None,
        rewrite_nxdomain=tuple(spec.get("rewrite_nxdomain", ())),
    )


def _context(spec: Mapping[str, Any], alpn: list[str]) -> ssl.SSLContext | None:
    if not spec.get("cert"):
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(spec["cert"], spec["key"])
    context.set_alpn_protocols(alpn)
    return context


def build_server(spec: Mapping[str, Any]) -> LabServer:
    """The server a JSON spec describes (see the module docstring)."""
    kind, host, port = spec["kind"], spec["host"], int(spec["port"])
    if kind == "dns":
        return DnsServer(spec["zone"], host=host, port=port, policy=_policy(spec.get("policy")))
    if kind == "doh":
        context = _context(spec, ["http/1.1"])
        assert context is not None, "a DoH server needs cert and key"
        return DohServer(
            spec["zone"],
            ssl_context=context,
            host=host,
            port=port,
            policy=_policy(spec.get("policy")),
        )
    if kind == "web":
        return WebServer(
            {name: _site(site) for name, site in spec["sites"].items()},
            host=host,
            port=port,
            ssl_context=_context(spec, ["http/1.1"]),
            reset_snis=spec.get("reset_snis", ()),
            stall_snis=spec.get("stall_snis", ()),
            stall_all=bool(spec.get("stall_all", False)),
            reset_share=float(spec.get("reset_share", 0.0)),
            challenge_clients=spec.get("challenge_clients", ()),
        )
    if kind == "quic":
        pair = CertPair(Path(spec["cert"]), Path(spec["key"]), ())
        return QuicServer(pair, host=host, port=port)
    raise ValueError(f"unknown server kind {kind!r}")


async def serve(specs: list[Mapping[str, Any]]) -> None:
    servers = [build_server(spec) for spec in specs]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    # The lab holds our stdin open; when it goes away (even killed), so do we.
    stdin = sys.stdin.fileno()
    loop.add_reader(stdin, lambda: None if os.read(stdin, 1024) else stop.set())
    started: list[LabServer] = []
    try:
        for server in servers:
            started.append(await server.start())
        print("ready", flush=True)
        await stop.wait()
    finally:
        for server in reversed(started):
            with contextlib.suppress(Exception):
                await server.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m reachwatch.lab.node SPEC.json", file=sys.stderr)
        return 2
    spec = orjson.loads(Path(argv[0]).read_bytes())
    try:
        asyncio.run(serve(spec["servers"]))
    except OSError as exc:
        print(f"lab node: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
