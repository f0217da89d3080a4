"""Uploads to `reachwatch serve`: `serve tokens add/revoke/list`, and the `--submit-*` options
the serve command takes (`submit_options`), with `start_submissions` to act on them."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.errors import UserError
from reachwatch.store import DEFAULT_DB

F = TypeVar("F", bound=Callable[..., Any])


# -- serve tokens ---------------------------------------------------------------------------
def _db_of(ctx: click.Context, db: Path | None) -> Path:
    """--db as given here, else the serve group's (click hands its ctx.obj down)."""
    if db is not None:
        return db
    given = ctx.obj.get("db") if isinstance(ctx.obj, dict) else None
    return Path(given) if given is not None else DEFAULT_DB


_DB_OPTION = click.option(
    "--db", type=click.Path(path_type=Path), default=None,
    help="Store folder (default: serve's --db, else ./reachwatch-db or $REACHWATCH_DB).",
)  # fmt: skip


def add_tokens_commands(group: click.Group) -> None:
    """Add `tokens add/revoke/list` under `group` (the serve group)."""

    @group.group("tokens")
    def tokens_group() -> None:
        """Upload tokens: stored hashed in DB/submit/tokens.json; each shown once."""

    @tokens_group.command("add")
    @click.argument("name")
    @_DB_OPTION
    @click.pass_context
    def add_command(ctx: click.Context, name: str, db: Path | None) -> None:
        """Issue a token named NAME and print it (once: only its hash is kept)."""
        from reachwatch.web import TokenStore

        store = TokenStore(_db_of(ctx, db))
        token = store.add(name)
        click.echo(token)
        click.echo(
            f"token {name!r} added to {store.path}; it is not shown again. Probes send it as "
            "`Authorization: Bearer TOKEN` (`reachwatch probe --submit URL --token-file F`)",
            err=True,
        )

    @tokens_group.command("revoke")
    @click.argument("name")
    @_DB_OPTION
    @click.pass_context
    def revoke_command(ctx: click.Context, name: str, db: Path | None) -> None:
        """Revoke the token named NAME: its uploads are refused (403) from the next request."""
        from reachwatch.web import TokenStore

        store = TokenStore(_db_of(ctx, db))
        store.revoke(name)
        click.echo(f"token {name!r} revoked", err=True)

    @tokens_group.command("list")
    @_DB_OPTION
    @format_option
    @click.pass_context
    def list_command(
        ctx: click.Context, db: Path | None, as_json: bool, output: str | None
    ) -> None:
        """The tokens issued: name, hash prefix, when created and revoked."""
        from reachwatch.web import TokenStore

        fmt = chosen_format(output, as_json)
        tokens = TokenStore(_db_of(ctx, db)).tokens()
        if fmt == "json":
            click.echo(orjson.dumps({"tokens": [t.to_json() for t in tokens]}).decode())
            return
        rows = [(t.name, t.sha256[:12], t.created_at, t.revoked_at or "") for t in tokens]
        if fmt == "csv":
            write_csv(("name", "sha256_prefix", "created_at", "revoked_at"), rows)
            return
        table = Table(title=f"{len(tokens)} upload tokens")
        for column in ("name", "sha256", "created", "revoked"):
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        print_table(Console(), table)


# -- the serve command's upload options -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SubmitSettings:
    enabled: bool
    max_bytes: int
    max_measurements: int
    rate: float
    burst: int | None
    wait: float
    linger: float


_OPTIONS = (
    click.option("--submissions/--no-submissions", "submit_enabled", default=True,
                 show_default=True,
                 help="Take uploads (POST /api/v1/measurements): the server then holds the "
                      "store's writer lock."),
    click.option("--submit-max-bytes", type=click.IntRange(min=1024), default=16 << 20,
                 show_default=True, help="Largest upload body (413 above)."),
    click.option("--submit-max-measurements", type=click.IntRange(min=1), default=1000,
                 show_default=True, help="Most measurements per upload (413 above)."),
    click.option("--submit-rate", type=click.FloatRange(min=0, min_open=True), default=6000.0,
                 show_default=True, help="Measurements a token may send per minute (429 above)."),
    click.option("--submit-burst", type=click.IntRange(min=1), default=None,
                 help="Measurements a token may send at once [default: twice "
                      "--submit-max-measurements]."),
    click.option("--submit-wait", type=click.FloatRange(0, 60), default=5.0, show_default=True,
                 help="Seconds an upload waits for its outcome before answering 202."),
    # How long the writer gathers uploads into one store batch: each commit is a set of
    # Parquet files and a new store generation for readers, so at most about one a second.
    # Tests lengthen it to catch accepted uploads before they are stored.
    click.option("--submit-linger", type=click.FloatRange(0, 600), default=1.0, hidden=True),
)  # fmt: skip
_NAMES = {
    "submit_enabled": "enabled",
    "submit_max_bytes": "max_bytes",
    "submit_max_measurements": "max_measurements",
    "submit_rate": "rate",
    "submit_burst": "burst",
    "submit_wait": "wait",
    "submit_linger": "linger",
}


def submit_options(command: F) -> F:
    """Add the `--submit-*` options to the serve command; it receives them as one
    `submit: SubmitSettings` keyword argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        settings = SubmitSettings(**{_NAMES[k]: kwargs.pop(k) for k in _NAMES})
        return command(*args, submit=settings, **kwargs)

    decorated: Any = wrapper
    for option in reversed(_OPTIONS):
        decorated = option(decorated)
    return decorated  # type: ignore[no-any-return]


def start_submissions(db: Path, settings: SubmitSettings, url: str) -> Any:
    """Start taking uploads as `settings` say (a `reachwatch.web.Submissions` to include in
    the app and close after it stops), or None with --no-submissions. Prints one line on
    stderr about what the spool of an earlier run held, if anything."""
    if not settings.enabled:
        return None
    from reachwatch.web import SubmitLimits, open_submissions

    burst = settings.burst if settings.burst is not None else 2 * settings.max_measurements
    try:
        limits = SubmitLimits(
            max_body_bytes=settings.max_bytes,
            max_measurements=settings.max_measurements,
            rate_per_minute=settings.rate,
            burst=burst,
            wait_seconds=settings.wait,
        )
    except ValueError as exc:
        raise UserError(f"--submit-burst: {exc}") from None
    holder = (
        f"`reachwatch serve` (pid {os.getpid()}, {url}) is writing to this store: submit "
        f"measurements through its API (POST {url}/api/v1/measurements, or `reachwatch probe "
        "--submit URL`), or stop the server first"
    )
    submissions = open_submissions(db, limits, holder=holder, linger=settings.linger)
    replayed = submissions.replayed
    if replayed.measurements or replayed.damaged_lines:
        click.echo(
            f"stored {replayed.measurements} measurements an earlier run had accepted "
            f"({replayed.stored} new, {replayed.duplicates} duplicates, "
            f"{replayed.quarantined} quarantined)",
            err=True,
        )
    return submissions
