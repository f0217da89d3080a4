"""`reachwatch serve [--db DB] [--host H] [--port P]`: the read-only JSON API (and what else the
web service offers) over a store, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from pathlib import Path

import click

from reachwatch.cli._app import app
from reachwatch.errors import UserError
from reachwatch.store import DEFAULT_DB

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


@app.group("serve", invoke_without_command=True)
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@click.option(
    "--host", default=DEFAULT_HOST, show_default=True,
    help="Address to listen on (0.0.0.0 makes the service reachable from other machines).",
)  # fmt: skip
@click.option(
    "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True,
    help="TCP port (0: any free one, printed at start).",
)  # fmt: skip
@click.pass_context
def serve_group(ctx: click.Context, db: Path, host: str, port: int) -> None:
    """Serve the store read-only: JSON API under /api/v1/ (OpenAPI at /api/v1/openapi.json,
    docs at /api/v1/docs)."""
    ctx.obj = {"db": db}
    if ctx.invoked_subcommand is not None:
        return
    import uvicorn

    from reachwatch.web import create_app

    if not db.is_dir():
        raise UserError(f"{db}: no store here (fill one with `reachwatch ingest PATH --db {db}`)")
    application = create_app(db)  # NotAStore / StoreDamaged: one line, before listening
    click.echo(f"serving {db} on http://{_url_host(host)}:{port}/api/v1/ (Ctrl-C stops)", err=True)
    # No access log: a line per request costs more than answering a cached one; errors and
    # faults are still logged.
    uvicorn.run(
        application, host=host, port=port, log_level="info", server_header=False,
        proxy_headers=False, access_log=False,
    )  # fmt: skip


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
