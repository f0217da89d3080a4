"""`reachwatch detect [--db DB] [--cc CC] [--platform P] [--format table|csv|json]`: incidents
from the store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import duckdb
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.catalog import load_catalog
from reachwatch.cli._app import app
from reachwatch.cli._jobs import cores, engine_from, engine_options
from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.detect import IncrementalDetect, default_rows_file, detect
from reachwatch.errors import UserError
from reachwatch.store import DEFAULT_DB, open_store

SYNTHETIC_BANNER = "SYNTHETIC DATA: simulated measurements, not observations of the real world"


def query_store(
    db: Path, work: Callable[[Any], dict[str, Any]], *, cc: str | None = None
) -> dict[str, Any]:
    """`work` run on the store at `db`, read-only (only country `cc`'s files when given: work
    that asks about one country then opens no other's). A missing store, or a Parquet file
    damaged inside (it opened, but a page cannot be decoded, which fails only when a query
    reaches it), is one line naming the store, not a DuckDB traceback."""
    require_store(db)
    con = open_store(db, read_only=True, cc=cc)
    try:
        return work(con)
    except duckdb.Error as exc:
        raise _damaged(db, exc) from None
    finally:
        con.close()


def require_store(db: Path) -> None:
    if not db.is_dir():
        raise UserError(f"{db}: no store here (fill one with `reachwatch ingest PATH --db {db}`)")


def _damaged(db: Path, exc: duckdb.Error) -> UserError:
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else type(exc).__name__
    return UserError(
        f"{db}: store damaged, a committed file cannot be read ({detail}); "
        f"see `reachwatch store check --db {db}`"
    )


@app.command("detect")
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@click.option("--cc", help="Only this country (two-letter code).")
@click.option("--platform", help="Only this catalog platform (e.g. x).")
@engine_options
@click.option(
    "--cache/--no-cache", default=True, show_default=True,
    help="With --cc: keep the country's rows in the user's cache folder, so the next detect "
    "of this store reads only the files committed since.",
)  # fmt: skip
@format_option
def detect_command(
    db: Path,
    cc: str | None,
    platform: str | None,
    engine_kind: str,
    scheduler: str | None,
    cache: bool,
    as_json: bool,
    output: str | None,
) -> None:
    """Incidents per country and platform: start and end with bounds, per network (as CSV:
    one row per incident and network). With --engine dask the hourly series are counted on
    the cluster (its workers need the store at the same path); the rest runs here."""
    fmt = chosen_format(output, as_json)
    if cc is not None and (len(cc) != 2 or not cc.isalpha()):
        raise UserError(f"--cc {cc!r}: expected a two-letter country code")
    if platform is not None:
        platform = load_catalog().get(platform).name
    engine = engine_from(engine_kind, scheduler, cores())
    series = None
    if engine.on_dask:
        require_store(db)
        from reachwatch.detect._on_dask import series_on_dask

        series = series_on_dask(engine, db, cc=cc, platform=platform)
    if cc is not None and cache and not engine.on_dask:
        doc = _detect_kept(db, cc, platform)
    else:
        doc = query_store(
            db, lambda con: detect(con, cc=cc, platform=platform, series=series).to_json(), cc=cc
        )
    if fmt == "json":
        click.echo(orjson.dumps(doc).decode())
    elif fmt == "csv":
        write_csv(_CSV_COLUMNS, _csv_rows(doc))
    else:
        scope = " ".join(f"{k} {v}" for k, v in (("for", platform), ("in", cc and cc.upper())) if v)
        print_detection(console_for_output(), doc, scope=scope)


def _detect_kept(db: Path, cc: str, platform: str | None) -> dict[str, Any]:
    """`detect` on one country, its rows kept in the user's cache folder between runs."""
    require_store(db)
    run = IncrementalDetect(db, cc, platform, rows_file=default_rows_file(db, cc))
    try:
        return run.run().to_json()
    except duckdb.Error as exc:
        raise _damaged(db, exc) from None
    finally:
        run.close()


_CSV_COLUMNS = (
    "incident", "platform", "cc", "network", "start", "start_earliest", "start_latest", "end",
    "techniques", "blocked_measurements", "measurements",
)  # fmt: skip


def _csv_rows(doc: dict[str, Any]) -> Iterator[tuple[Any, ...]]:
    for i, inc in enumerate(doc["incidents"], 1):
        for n in inc["networks"]:
            bounds = n["start_bounds"] or [None, None]
            yield (
                i, inc["platform"], inc["cc"], n["network"], n["start"], *bounds, n["end"],
                " ".join(n["techniques"]), n["blocked_measurements"], n["measurements"],
            )  # fmt: skip


def console_for_output() -> Console:
    """The terminal's own width; 140 columns when piped (rich would assume 80)."""
    console = Console()
    return console if console.is_terminal else Console(width=140)


def when(value: str | None) -> str:
    """'2024-02-17T15:05:06Z' as '2024-02-17 15:05' (minutes are what tables need)."""
    return "-" if value is None else value[:16].replace("T", " ")


def _bounds(bounds: list[str | None] | None) -> str:
    if not bounds:
        return ""
    lo, hi = when(bounds[0]), when(bounds[1])
    if lo[:10] == hi[:10]:
        return f"{lo} .. {hi[11:]}"
    return f"{lo} .. {hi}"


_NETWORK_COLUMNS = ("network", "start", "between", "end", "techniques", "blocked/all", "notes")


def print_detection(console: Console, doc: dict[str, Any], *, scope: str = "") -> None:
    """Incidents with one row per network, then collapses in measurement volume and gaps."""
    data = doc["data"]
    if data["synthetic"]:
        console.print(f"[bold yellow]{SYNTHETIC_BANNER}[/]")
    if data["start"] is None:
        where = f" {scope}" if scope else ""
        console.print(
            f"no classified measurements of catalog platforms{where} in the store: "
            "nothing is known about blocking"
        )
        return
    console.print(
        f"data from {when(data['start'])} to {when(data['end'])}, {data['series']} series"
    )
    if not doc["incidents"]:
        unknown = " outside the gaps listed below" if doc["gaps"] else ""
        console.print(f"no incidents: no series shows a spell of blocking{unknown}")
    for i, inc in enumerate(doc["incidents"], 1):
        end = when(inc["end"]) if inc["end"] else "ongoing at end of data"
        title = (
            f"incident {i}: {inc['platform']} in {inc['cc']} from {when(inc['start'])} "
            f"(between {_bounds(inc['start_bounds'])}) to {end}; "
            f"{', '.join(inc['techniques'])}"
        )
        table = Table(title=title, title_justify="left")
        for col in _NETWORK_COLUMNS:
            table.add_column(col)
        for n in inc["networks"]:
            table.add_row(
                n["network"],
                when(n["start"]),
                _bounds(n["start_bounds"]),
                when(n["end"]) if n["end"] else f"ongoing (data to {when(n['last_data'])})",
                ", ".join(n["techniques"]),
                f"{n['blocked_measurements']}/{n['measurements']}",
                "; ".join(_notes(n)),
            )
        print_table(console, table)
        shown = ", ".join(inc["evidence"][:2])
        console.print(f"evidence: {len(inc['evidence'])} measurement ids, e.g. {shown}")
    _print_collapses(console, doc["volume_collapses"])
    _print_gaps(console, doc["gaps"])


_MAX_GAP_ROWS = 20


def _print_gaps(console: Console, gaps: list[dict[str, Any]]) -> None:
    """Spells without a decisive measurement: nothing is known there, blocked or not."""
    if not gaps:
        return
    longest = sorted(gaps, key=lambda g: -g["hours"])[:_MAX_GAP_ROWS]
    table = Table(
        title="gaps: no measurement says blocked or accessible (unknown, not 'not blocked')",
        title_justify="left",
    )
    for col in ("network", "platform", "from", "to", "hours"):
        table.add_column(col)
    for g in sorted(longest, key=lambda g: (g["network"], g["platform"], g["start"])):
        table.add_row(
            f"{g['cc']} {g['network']}",
            g["platform"],
            when(g["start"]),
            when(g["end"]) if g["end"] else "end of data",
            f"{g['hours']:.0f}",
        )
    print_table(console, table)
    if len(gaps) > len(longest):
        console.print(f"... and {len(gaps) - len(longest)} shorter gap(s) (see --json 'gaps')")


def _notes(n: dict[str, Any]) -> list[str]:
    notes = []
    breaks = [p for p in n["periods"] if p["state"] == "clear"]
    for p in breaks:
        notes.append(f"access back {when(p['start'])} to {when(p['end'])}")
    partial = [p for p in n["periods"] if p["state"] == "partial"]
    if partial:
        notes.append(f"{len(partial)} partial spell(s)")
    for g in n["gaps"]:
        notes.append(f"no data {when(g['start'])} to {when(g['end']) if g['end'] else 'end'}")
    if n["alert"]:
        notes.append(f"alert {when(n['alert'])}")
    return notes


def _print_collapses(console: Console, collapses: list[dict[str, Any]]) -> None:
    if not collapses:
        return
    table = Table(
        title="measurement volume collapses (no data is never read as 'not blocked')",
        title_justify="left",
    )
    for col in ("network", "from", "to", "usual/day", "seen/day"):
        table.add_column(col)
    for c in collapses:
        table.add_row(
            f"{c['cc']} {c['network']}",
            when(c["start"]),
            when(c["end"]) if c["end"] else "still low at end of data",
            f"{c['expected_per_day']:.0f}",
            f"{c['observed_per_day']:.1f}",
        )
    print_table(console, table)
