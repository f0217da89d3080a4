"""One country's rows, read once from the store's files into an in-memory database.

Detection asks the store some forty questions about one country and platform (series, windows
around every change, counts, techniques, layers and ids per network). Over `open_store`'s
views each question opens every listed Parquet file again, which on a year of a busy store
costs seconds a question, whatever it selects. Reading the columns detection uses once, into
DuckDB's own tables, makes each question cost what it computes.
"""

from __future__ import annotations

import duckdb

# The columns detection, the case check and their evidence ids read.
_MEASUREMENT_COLUMNS = (
    "measurement_id, measurement_start_time, probe_cc, probe_asn, platform, verdict, "
    "technique, classified, synthetic"
)
_OBSERVATION_COLUMNS = (
    "measurement_id, measurement_start_time, probe_cc, probe_asn, platform, layer, verdict"
)


def reads_files(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether `measurements` is a view (over the store's files, as `open_store` makes it)
    rather than a table a caller already holds in memory."""
    found = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE view_name = 'measurements'"
    ).fetchall()  # all of it: DuckDB refuses new work while a result is left unread
    return bool(found)


def country_rows(
    con: duckdb.DuckDBPyConnection, cc: str, platform: str | None = None
) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection with the tables `measurements` (the measurements of `cc`,
    and of `platform` when given) and `observations` (only their blocked observations: what
    detection asks of them), holding the columns detection reads. Collapses in measurement
    volume count every platform: ask them of `con` (`detect(..., volumes=con)`)."""
    local = duckdb.connect(":memory:")
    add_country_rows(local, con, cc, platform, create=True)
    return local


def add_country_rows(
    local: duckdb.DuckDBPyConnection,
    con: duckdb.DuckDBPyConnection,
    cc: str,
    platform: str | None = None,
    *,
    create: bool = False,
) -> int:
    """The rows `country_rows` reads, read from `con` into `local`'s tables (made when
    `create`, else appended to); the number of measurements added."""
    where = "probe_cc = ?"
    args = [cc.upper()]
    if platform is not None:
        where += " AND platform = ?"
        args.append(platform.lower())
    measurements = con.sql(
        f"SELECT {_MEASUREMENT_COLUMNS} FROM measurements WHERE {where}", params=args
    ).to_arrow_table()
    observations = con.sql(
        f"SELECT {_OBSERVATION_COLUMNS} FROM observations WHERE verdict = 'blocked' AND {where}",
        params=args,
    ).to_arrow_table()
    # In the files' order (by day), unsorted: sorting millions of rows cost more than the
    # questions it would speed up.
    for name, rows in (("measurements", measurements), ("observations", observations)):
        local.register("rows", rows)
        if create:
            local.execute(f"CREATE TABLE {name} AS SELECT * FROM rows")
        else:
            local.execute(f"INSERT INTO {name} SELECT * FROM rows")
        local.unregister("rows")
    added: int = measurements.num_rows
    return added
