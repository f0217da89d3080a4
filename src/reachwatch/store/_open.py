"""Open a store: a DuckDB connection whose views read the committed Parquet files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from reachwatch.store._errors import StoreError
from reachwatch.store._layout import create_store, inspect_store
from reachwatch.store._manifest import CATALOG_NAME, Manifest, damaged
from reachwatch.store.schema import TABLES

if TYPE_CHECKING:
    import duckdb

DEFAULT_DB = Path(os.environ.get("REACHWATCH_DB") or "reachwatch-db")


def open_store(
    path: Path | str, *, read_only: bool = False, cc: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A connection with the views `measurements`, `observations` and `raw`.

    The views are temporary and list the Parquet files committed when the store was opened;
    rows ingested later show up on the next open. With read_only=False the connection is on
    the store's own DuckDB file, so a reader may keep tables of its own there (a new or empty
    folder becomes a store); read_only=True never takes a lock and works while an ingest is
    running. A folder that is not a store is NotAStore, a damaged store StoreDamaged, each
    with a message saying what to run; nothing is changed either way.

    cc: the views list only the files of that country's partitions, so they hold its rows
    alone. Every statement over a view opens the footer of every file it lists, and a year of
    a busy store is thousands of files per table; a reader that asks about one country then
    pays for that country's files only.
    """
    import duckdb  # here, not above: ingest, its workers and its writer, never loads it

    db = Path(path)
    if not read_only:
        create_store(db)
    manifest = inspect_store(db)
    catalog = db / CATALOG_NAME
    try:
        if read_only:
            con = (
                duckdb.connect(str(catalog), read_only=True)
                if catalog.exists()
                else duckdb.connect(":memory:")
            )
        else:
            con = duckdb.connect(str(catalog))
    except duckdb.Error as exc:
        raise StoreError(f"{db}: cannot open store ({exc})") from None
    try:
        _create_views(con, db, manifest, cc)
    except duckdb.Error as exc:
        con.close()
        raise damaged(db, f"a committed file cannot be read: {exc}") from None
    return con


def _create_views(
    con: duckdb.DuckDBPyConnection, db: Path, manifest: Manifest, cc: str | None
) -> None:
    create_views(con, _listed(db, manifest, cc))


def committed_files(db: Path | str, cc: str | None = None) -> dict[str, list[str]]:
    """The Parquet files of each table the store's manifest commits (of country `cc`'s
    partitions when given), as absolute paths, in commit order."""
    root = Path(db).resolve()
    return _listed(root, inspect_store(root), cc)


def _listed(db: Path, manifest: Manifest, cc: str | None) -> dict[str, list[str]]:
    return {
        table: [
            str(db / name)
            for name in manifest.files.get(table, [])
            if cc is None or in_country(name, cc)
        ]
        for table in TABLES
    }


def create_views(con: duckdb.DuckDBPyConnection, listed: dict[str, list[str]]) -> None:
    """The views `measurements`, `observations` and `raw` on `con` over the files `listed`
    names per table (none: an empty view), with the contract's columns and types."""
    for table, columns in TABLES.items():
        files = listed.get(table, [])
        source = ""
        present: set[str] = set()
        if files:
            listing = ", ".join(_quote(f) for f in files)
            source = f" FROM read_parquet([{listing}], union_by_name = true)"
            present = {row[0] for row in con.execute(f"DESCRIBE SELECT *{source}").fetchall()}
        # Columns named explicitly and cast to the contract's types; a column added to the
        # contract after some files were written reads as NULL rather than failing.
        cols = ", ".join(
            f"CAST({name if name in present else 'NULL'} AS {sql_type}) AS {name}"
            for name, sql_type in columns.items()
        )
        where = "" if files else " WHERE false"
        con.execute(f"CREATE OR REPLACE TEMP VIEW {table} AS SELECT {cols}{source}{where}")


def in_country(name: str, cc: str) -> bool:
    """Whether the committed file `name` may hold rows of country `cc`. The writer puts every
    row in the folder `cc=` its measurement's probe_cc names; a file outside any such folder
    is kept (it could hold any country's rows)."""
    folders = [part for part in Path(name).parts[:-1] if part.startswith("cc=")]
    return not folders or folders[-1] == f"cc={cc.upper()}"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"
