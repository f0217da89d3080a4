"""`reachwatch detect [--db DB] [--cc CC] [--platform P] [--json]`: incidents from the store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.catalog import load_catalog
from reachwatch.cli._app import app
from reachwatch.detect import detect
from reachwatch.errors import UserError
from reachwatch.store import DEFAULT_DB, open_store

SYNTHETIC_BANNER = "SYNTHETIC DATA: simulated measurements, not observations of the real world"


def open_existing_store(db: Path) -> Any:
    if not db.is_dir():
        raise UserError(f"{db}: no store here (fill one with `reachwatch ingest PATH --db {db}`)")
    return open_store(db, read_only=True)


@app.command("detect")
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@click.option("--cc", help="Only this country (two-letter code).")
@click.option("--platform", help="Only this catalog platform (e.g. x).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def detect_command(db: Path, cc: str | None, platform: str | None, as_json: bool) -> None:
    """Incidents per country and platform: start and end with bounds, per network."""
    if cc is not None and (len(cc) != 2 or not cc.isalpha()):
        raise UserError(f"--cc {cc!r}: expected a two-letter country code")
    if platform is not None:
        platform = load_catalog().get(platform).name
    con = open_existing_store(db)
    try:
        doc = detect(con, cc=cc, platform=platform).to_json()
    finally:
        con.close()
    if as_json:
        click.echo(orjson.dumps(doc).decode())
    else:
        print_detection(Console(), doc)


def _when(value: str | None) -> str:
    return "-" if value is None else value.replace("T", " ").removesuffix(":00Z")


def _bounds(bounds: list[str | None] | None) -> str:
    if not bounds:
        return ""
    return f"[{_when(bounds[0])} .. {_when(bounds[1])}]"


def print_detection(console: Console, doc: dict[str, Any]) -> None:
    """Incidents with one row per network, then gaps and collapses in measurement volume."""
    data = doc["data"]
    if data["synthetic"]:
        console.print(f"[bold yellow]{SYNTHETIC_BANNER}[/]")
    if data["start"] is None:
        console.print("no classified measurements of catalog platforms in the store")
        return
    console.print(
        f"data from {_when(data['start'])} to {_when(data['end'])}, {data['series']} series"
    )
    if not doc["incidents"]:
        console.print("no incidents: no series shows a spell of blocking")
    for i, inc in enumerate(doc["incidents"], 1):
        end = _when(inc["end"]) if inc["end"] else "ongoing at end of data"
        table = Table(
            title=(
                f"incident {i}: {inc['platform']} in {inc['cc']} from {_when(inc['start'])} "
                f"{_bounds(inc['start_bounds'])} to {end}"
            ),
            title_justify="left",
        )
        for col in (
            "network",
            "start",
            "start bounds",
            "end",
            "techniques",
            "blocked/all",
            "notes",
        ):
            table.add_column(col)
        for n in inc["networks"]:
            notes = []
            if n["intermittent"]:
                spells = sum(1 for p in n["periods"] if p["state"] != "clear")
                notes.append(f"intermittent ({spells} spells)")
            if n["gaps"]:
                notes.append(f"{len(n['gaps'])} data gap(s)")
            if n["alert"]:
                notes.append(f"alert {_when(n['alert'])}")
            table.add_row(
                n["network"],
                _when(n["start"]),
                _bounds(n["start_bounds"]),
                _when(n["end"]) if n["end"] else f"ongoing (data to {_when(n['last_data'])})",
                ", ".join(n["techniques"]),
                f"{n['blocked_measurements']}/{n['measurements']}",
                "; ".join(notes),
            )
        console.print(table)
        console.print(
            f"evidence (first of {len(inc['evidence'])}): {', '.join(inc['evidence'][:3])}"
        )
    if doc["volume_collapses"]:
        table = Table(
            title="measurement volume collapses (no data is not 'not blocked')",
            title_justify="left",
        )
        for col in ("network", "from", "to", "usual/day", "seen/day"):
            table.add_column(col)
        for c in doc["volume_collapses"]:
            table.add_row(
                f"{c['cc']} {c['network']}", _when(c["start"]), _when(c["end"]) if c["end"]
                else "still low at end of data", f"{c['expected_per_day']:.0f}",
                f"{c['observed_per_day']:.1f}",
            )  # fmt: skip
        console.print(table)
    long_gaps = [g for g in doc["gaps"] if g["hours"] >= 24]
    if long_gaps:
        console.print(f"{len(long_gaps)} gap(s) of a day or more without data (see --json 'gaps')")
