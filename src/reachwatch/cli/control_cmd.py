"""`reachwatch control serve`: run the control that probes compare their measurements with."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import ssl
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reachwatch.cli._app import app
from reachwatch.errors import UserError

if TYPE_CHECKING:
    from reachwatch.control import ControlServer


@app.group("control")
def control_group() -> None:
    """The control: measures from another vantage point for probes to compare against."""


async def _serve(server: ControlServer) -> None:
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
def serve_command(
    host: str, port: int, resolver: str | None, ca_file: str | None, allow_private: bool
) -> None:
    """Answer OONI test-helper requests (POST JSON to /) until interrupted."""
    # Imported here: the control pulls in aiohttp and the probe, which other commands never need.
    from reachwatch.control import ControlServer, parse_resolver

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
        host, port, resolver=resolver_address, ca_file=ca_file, allow_private=allow_private
    )
    asyncio.run(_serve(server))
