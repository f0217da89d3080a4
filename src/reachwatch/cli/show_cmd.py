"""`reachwatch show ID [--db DB] [--format table|csv|json]`: one measurement's exact bytes, the
facts read from them, and its verdicts with the rule that gave each and the classifier version
and fingerprint set that judged (as CSV: the verdicts only)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.cli._app import app
from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.cli.detect_cmd import query_store
from reachwatch.store import DEFAULT_DB, FACT_SUMMARY_COLUMNS, evidence_of


@app.command("show")
@click.argument("measurement_id", metavar="ID")
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@format_option
def show_command(measurement_id: str, db: Path, as_json: bool, output: str | None) -> None:
    """The stored measurement ID: raw bytes (SHA-256 checked), facts, and verdicts with rule
    ids, classifier version and fingerprint set."""
    fmt = chosen_format(output, as_json)
    doc = query_store(db, lambda con: evidence_of(con, measurement_id).to_json())
    if fmt == "json":
        click.echo(orjson.dumps(doc, default=_plain).decode())
    elif fmt == "csv":
        write_csv(
            ("id", *_COLUMNS), ((doc["id"], *(o[c] for c in _COLUMNS)) for o in doc["observations"])
        )
    else:
        _print(Console(), doc)


def _plain(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError


_COLUMNS = ("layer", "host", "address", "verdict", "rule", "technique", "failure")


def _print(console: Console, doc: dict[str, Any]) -> None:
    m = doc["measurement"]
    console.print(
        f"[bold]{doc['id']}[/]  {m['test_name']}  {m['input'] or ''}  {m['probe_cc']} "
        f"{m['probe_asn']}  {m['measurement_start_time']}  verdict: {m['verdict']} "
        f"{m['technique'] or ''}",
        highlight=False,
    )
    console.print(f"read from {m['source_file']} line {m['source_line']}", highlight=False)
    if m["classifier_version"] is not None:
        console.print(
            f"judged by classifier {m['classifier_version']}, fingerprint set SHA-256 "
            f"{m['fingerprints_sha256']}",
            highlight=False,
        )
    elif m["classified"]:
        console.print("judged by a classifier that did not record its version (`rejudge` does)")
    if doc["raw"] is None:
        console.print("raw bytes: not kept (ingested before the store kept them)")
    else:
        state = "intact" if doc["raw_intact"] else "CHANGED since stored"
        console.print(f"raw bytes: SHA-256 {doc['raw_sha256']} ({state})", highlight=False)
        console.print_json(orjson.dumps(doc["raw"]).decode())
    _print_rows(console, "facts (what was measured)", FACT_SUMMARY_COLUMNS, doc["facts"])
    _print_rows(console, "verdicts per host, address and layer", _COLUMNS, doc["observations"])


def _print_rows(
    console: Console, title: str, columns: Mapping[str, str] | tuple[str, ...], rows: list[Any]
) -> None:
    names = columns if isinstance(columns, Mapping) else {c: c for c in columns}
    table = Table(title=title)
    for heading in names:
        table.add_column(heading)
    for row in rows:
        table.add_row(*("" if row[c] is None else str(row[c]) for c in names.values()))
    print_table(console, table)
