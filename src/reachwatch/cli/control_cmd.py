"""`reachwatch control serve`: run the control that probes compare their measurements with."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import ssl
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from reachwatch.cli._app import app
from reachwatch.cli._output import FiniteFloat
from reachwatch.errors import UserError

if TYPE_CHECKING:
    from reachwatch.control import ControlServer


# (option, Limits field, type, help): defaults come from Limits itself, so they cannot drift.
_LIMITS = (
    ("--max-concurrent", "max_concurrent_requests", int, "Measurements running at once."),
    ("--max-per-client", "max_per_client", int, "Measurements one client may run at once."),
    ("--queue-wait", "queue_wait", float, "Seconds a request waits for a slot before 503."),
    ("--header-timeout", "header_timeout", float, "Seconds a client has to send its headers."),
    ("--body-timeout", "body_timeout", float, "Seconds a client has to send its body."),
    ("--max-connections-per-client", "max_connections_per_client", int, "Open connections."),
    ("--max-connections", "max_connections", int, "Open connections from all clients."),
    ("--max-request-connections", "max_request_connections", int, "Per measurement."),
    ("--max-request-bytes", "max_request_bytes", int, "Response bytes per measurement."),
    ("--budget", "budget", float, "Seconds of wall time per measurement."),
)


def _limit_options(command: Callable[..., None]) -> Callable[..., None]:
    from reachwatch.control import Limits  # the dataclass only: cheap, unlike the server

    defaults = Limits()
    for flag, field, kind, text in reversed(_LIMITS):
        command = click.option(
            flag,
            field,
            type=click.IntRange(min=1) if kind is int else FiniteFloat(0.001, 86_400),
            default=getattr(defaults, field),
            show_default=True,
            help=text,
        )(command)
    return command


@app.group("control")
def control_group() -> None:
    """The control: measures from another vantage point for probes to compare against."""


async def _serve(server: ControlServer, as_json: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on every platform
            loop.add_signal_handler(sig, stop.set)
    try:
        await server.start()
    except OSError as exc:
        raise UserError(f"cannot listen on {server.host}:{server.port}: {exc.strerror}") from None
    try:
        # The URL on stdout is what scripts (and `--port 0` users) read to find the service.
        if as_json:
            limits = dataclasses.asdict(server.config.limits)
            start = {"url": server.url, "allow_private": server.config.allow_private}
            click.echo(orjson.dumps({**start, "limits": limits}).decode())
        else:
            click.echo(f"reachwatch control listening on {server.url}")
        sys.stdout.flush()
        if server.config.allow_private:
            click.echo("warning: --allow-private: private and loopback targets allowed", err=True)
        await stop.wait()
    finally:
        await server.stop()


@control_group.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port (0: pick one).")
@click.option("--resolver", default=None, help="Plain DNS resolver ADDR[:PORT] (default: system).")
@click.option("--ca-file", default=None, help="PEM file that replaces the trust store.")
@click.option(
    "--allow-private",
    is_flag=True,
    help="Allow loopback/private targets and any port (labs and tests only).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the start line as JSON.")
@_limit_options
def serve_command(
    host: str,
    port: int,
    resolver: str | None,
    ca_file: str | None,
    allow_private: bool,
    as_json: bool,
    **limits: Any,
) -> None:
    """Answer OONI test-helper requests (POST JSON to /) until interrupted.

    Every limit protects the control from a client asking too much; docs/control.md explains
    each one and how they add up.
    """
    # Imported here: the control pulls in aiohttp and the probe, which other commands never need.
    from reachwatch.control import ControlServer, Limits, parse_resolver

    if not 0 <= port < 65536:
        raise UserError(f"--port {port} is not a port number")
    try:
        resolver_address = parse_resolver(resolver) if resolver is not None else None
    except ValueError as exc:
        raise UserError(f"--resolver: {exc}") from None
    if ca_file is not None and not Path(ca_file).is_file():
        raise UserError(f"--ca-file {ca_file}: no such file (or not a file)")
    try:
        ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise UserError(f"--ca-file {ca_file}: not a PEM certificate file ({exc.reason})") from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    server = ControlServer(
        host,
        port,
        resolver=resolver_address,
        ca_file=ca_file,
        allow_private=allow_private,
        limits=Limits(**limits),
    )
    asyncio.run(_serve(server, as_json))
