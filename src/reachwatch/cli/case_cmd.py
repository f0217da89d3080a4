"""`reachwatch case check CASE [--db DB]` and `reachwatch case show CASE`, each with
`--format table|csv|json`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.cases import check_case, load_case
from reachwatch.cli._app import app
from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.cli.detect_cmd import (
    SYNTHETIC_BANNER,
    console_for_output,
    query_store,
    when,
)
from reachwatch.store import DEFAULT_DB


@app.group("case")
def case_group() -> None:
    """Legal timelines of suspensions, checked against the measurements."""


@case_group.command("show")
@click.argument("case")
@format_option
def show_command(case: str, as_json: bool, output: str | None) -> None:
    """The dated, sourced events of CASE (a file or a shipped case name such as pk-x-2024)."""
    fmt = chosen_format(output, as_json)
    loaded = load_case(case)
    events: list[dict[str, Any]] = [
        {
            "date": e.date.isoformat(),
            "kind": e.kind,
            "actor": e.actor,
            "summary": e.summary,
            "requires": e.requires,
            "deadline": e.deadline.isoformat() if e.deadline else None,
            "sources": [{"name": s.name, "url": s.url} for s in e.sources],
        }
        for e in loaded.events
    ]
    if fmt == "csv":
        write_csv(
            ("date", "kind", "actor", "summary", "requires", "deadline", "sources"),
            (
                (e["date"], e["kind"], e["actor"], e["summary"], e["requires"], e["deadline"],
                 "; ".join(s["name"] for s in e["sources"]))
                for e in events
            ),
        )  # fmt: skip
        return
    if fmt == "json":
        scope = loaded.scope
        doc = {
            "id": loaded.id,
            "title": loaded.title,
            "scope": {"cc": scope.cc, "platform": scope.platform, "networks": scope.networks},
            "events": events,
        }
        click.echo(orjson.dumps(doc).decode())
        return
    table = Table(title=loaded.title, title_justify="left")
    for col in ("date", "kind", "what", "sources"):
        table.add_column(col)
    for e in events:
        table.add_row(
            e["date"], e["kind"], e["summary"], "; ".join(s["name"] for s in e["sources"])
        )
    print_table(console_for_output(), table)


@case_group.command("check")
@click.argument("case")
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@format_option
def check_command(case: str, db: Path, as_json: bool, output: str | None) -> None:
    """Whether each directive of CASE was followed, per network, with evidence ids (as CSV:
    one row per directive and network)."""
    fmt = chosen_format(output, as_json)
    loaded = load_case(case)
    doc = query_store(db, lambda con: check_case(loaded, con).to_json(), cc=loaded.scope.cc)
    if fmt == "json":
        click.echo(orjson.dumps(doc).decode())
    elif fmt == "csv":
        write_csv(
            ("directive", "statement", "network", "status", "since", "until", "ongoing",
             "days_past_deadline", "evidence"),
            (
                (i, d["statement"], n["network"], n["status"], n["since"], n["until"],
                 n["ongoing"], n["days_past_deadline"], " ".join(n["evidence"]))
                for i, d in enumerate(doc["directives"], 1)
                for n in d["networks"]
            ),
        )  # fmt: skip
    else:
        print_compliance(console_for_output(), doc)


def print_compliance(console: Console, doc: dict[str, Any]) -> None:
    """One table per directive: each network's status, since when, and its evidence."""
    if doc["data"]["synthetic"]:
        console.print(f"[bold yellow]{SYNTHETIC_BANNER}[/]")
    console.print(f"[bold]{doc['title']}[/] ({doc['case']})")
    console.print(doc["headline"], highlight=False)
    for d in doc["directives"]:
        table = Table(title=f"{d['status'].upper()}: {d['statement']}", title_justify="left")
        for col in ("network", "status", "since", "blocked until", "days past due", "evidence"):
            table.add_column(col)
        for n in d["networks"]:
            until = (
                f"ongoing at end of data ({when(n['until'])})" if n["ongoing"] else when(n["until"])
            )
            days = "" if n["days_past_deadline"] is None else f"{n['days_past_deadline']:.1f}"
            evidence = n["evidence"][0] if n["evidence"] else ""
            more = f" (+{len(n['evidence']) - 1})" if len(n["evidence"]) > 1 else ""
            table.add_row(n["network"], n["status"], when(n["since"]), until, days, evidence + more)
        print_table(console, table)
    for r in doc["restorations"]:
        console.print(r["statement"], highlight=False)
