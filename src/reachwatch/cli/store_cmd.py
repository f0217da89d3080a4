"""`reachwatch store check|repair|compact [--db DB]`: verify a store (`--format
table|csv|json`); rebuild its manifest (`--json`); rewrite it in fewer files (`--json`)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from reachwatch.cli._app import app
from reachwatch.cli._output import chosen_format, format_option, write_csv
from reachwatch.store import DEFAULT_DB, check_store, compact_store, repair_store

_DB = click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
_JSON = click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")


@app.group("store")
def store_group() -> None:
    """Verify a store, rebuild its manifest, or rewrite it in fewer files (only files the store
    itself replaced are ever deleted)."""


@store_group.command("check")
@_DB
@format_option
def check_command(db: Path, as_json: bool, output: str | None) -> None:
    """Verify the manifest and every committed file's SHA-256, size and row count (as CSV:
    one row per table's row count, note and damage found).

    Exit status 1 when the store is damaged."""
    fmt = chosen_format(output, as_json)
    report = check_store(db)
    if fmt == "json":
        click.echo(orjson.dumps(report.to_json()).decode())
    elif fmt == "csv":
        write_csv(
            ("finding", "table", "detail"),
            [
                *(("rows", table, n) for table, n in report.rows.items()),
                *(("note", "", note) for note in report.notes),
                *(("damaged", "", problem) for problem in report.problems),
            ],
        )
    else:
        rows = ", ".join(f"{n:,} {table}" for table, n in report.rows.items())
        click.echo(f"{db}: {report.files} committed files verified ({rows})")
        for note in report.notes:
            click.echo(f"  note: {note}")
        for problem in report.problems:
            click.echo(f"  damaged: {problem}")
        if report.problems:
            click.echo(f"run `reachwatch store repair --db {db}` to rebuild the manifest from "
                       "the files that are whole (nothing is deleted)")  # fmt: skip
        else:
            click.echo("the store is whole")
    if report.problems:
        sys.exit(1)


@store_group.command("repair")
@_DB
@_JSON
def repair_command(db: Path, as_json: bool) -> None:
    """Rebuild the manifest from the table files that are whole; delete nothing.

    The old manifest, and any file left out, are moved unchanged to DB/repair-TIME/."""
    report = repair_store(db)
    if as_json:
        click.echo(orjson.dumps(report.to_json()).decode())
        return
    rows = ", ".join(f"{n:,} {table}" for table, n in report.rows.items())
    click.echo(f"{db}: manifest rebuilt, {report.batches} batches, {report.files} files ({rows})")
    if report.moved_aside:
        click.echo(f"  the old manifest and the files left out are kept in {report.moved_aside}")
    for name, why in report.left_out:
        click.echo(f"  left out: {name}: {why}")


@store_group.command("compact")
@_DB
@_JSON
def compact_command(db: Path, as_json: bool) -> None:
    """Rewrite each partition held in several files as one file with the same rows, so every
    reader opens fewer files; the replaced files are deleted once the new ones are committed."""
    report = compact_store(db, holder="`reachwatch store compact` is rewriting this store; "
                                      "run again when it is done")  # fmt: skip
    if as_json:
        click.echo(orjson.dumps(report.to_json()).decode())
        return
    click.echo(
        f"{db}: {report.partitions} partitions rewritten as one file each; "
        f"{report.files_before} committed files before, {report.files_after} after; "
        f"{report.deleted} replaced files deleted"
    )
