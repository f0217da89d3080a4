"""The in-memory listing gives the pages the SQL gives: same rows, same order, every filter,
cursors through ties of start time, NULLs, values no row holds."""

from __future__ import annotations

import itertools
import random
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest

from reachwatch.web import _queries as q
from reachwatch.web._context import WebContext
from reachwatch.web._listing import COLUMNS, Listing

from .conftest import WebStore

_ORDER = " ORDER BY measurement_start_time DESC, measurement_id DESC"


def _table(rng: random.Random, n: int) -> duckdb.DuckDBPyConnection:
    """A measurements table with many rows sharing a start time, NULLs in every filter
    column, and ids whose order differs from their insertion order."""
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE measurements (measurement_id VARCHAR, measurement_start_time TIMESTAMP, "
        "probe_cc VARCHAR, probe_asn VARCHAR, platform VARCHAR, test_name VARCHAR, "
        "input VARCHAR, verdict VARCHAR, technique VARCHAR, source VARCHAR, synthetic BOOLEAN)"
    )
    start = datetime(2024, 2, 17)
    rows = []
    for i in range(n):
        t = start + timedelta(minutes=rng.randrange(600))  # ~n/600 rows per minute
        rows.append((
            f"m{rng.randrange(10**9):09d}-{i}", t,
            rng.choice(["PK", "IR", None]), rng.choice(["AS1", "AS2", "AS3", None]),
            rng.choice(["x", "youtube", None]), "web_connectivity", f"https://h{i % 7}/",
            rng.choice(["blocked", "accessible", "inconclusive", None]),
            rng.choice(["dns.nxdomain", "tls.reset", None]), "ooni", rng.random() < 0.5,
        ))  # fmt: skip
    con.executemany(f"INSERT INTO measurements VALUES ({', '.join('?' * 11)})", rows)
    return con


def _sql_all(con: duckdb.DuckDBPyConnection, equal: list[tuple[str, str]], since: Any,
             until: Any) -> list[tuple[Any, ...]]:  # fmt: skip
    where = "".join(f" AND {c} = ?" for c, _ in equal)
    args: list[Any] = [v for _, v in equal]
    if since is not None:
        where += " AND measurement_start_time >= ?"
        args.append(since)
    if until is not None:
        where += " AND measurement_start_time < ?"
        args.append(until)
    sql = f"SELECT {', '.join(COLUMNS)} FROM measurements WHERE true{where}{_ORDER}"
    return con.execute(sql, args).fetchall()


def _walk(listing: Listing, equal: list[tuple[str, str]], since: Any, until: Any,
          size: int) -> list[tuple[Any, ...]]:  # fmt: skip
    """Every page of a filter, each continuing from the last row of the one before."""
    out: list[tuple[Any, ...]] = []
    after = None
    while True:
        page = listing.page(equal, since, until, after, size + 1)
        out += page[:size]
        if len(page) <= size:
            return out
        last = page[size - 1]
        after = (last[1], last[0])


def test_every_filter_and_cursor_gives_the_sql_answer() -> None:
    rng = random.Random(7)
    con = _table(rng, 5000)
    listing = Listing(con)
    assert len(listing) == 5000
    values = {
        "probe_cc": ["PK", "IR", "ZZ"], "platform": ["x", "youtube"],
        "probe_asn": ["AS1", "AS3"], "verdict": ["blocked", "inconclusive"],
        "technique": ["tls.reset"],
    }  # fmt: skip
    times = [None, datetime(2024, 2, 17, 3), datetime(2024, 2, 17, 7, 30)]
    checked = 0
    for _ in range(60):
        chosen = rng.sample(sorted(values), rng.randrange(0, 3))
        equal = [(c, rng.choice(values[c])) for c in chosen]
        since, until = sorted(rng.sample(times, 2), key=lambda t: (t is not None, t))
        until = until if rng.random() < 0.5 else None
        expected = _sql_all(con, equal, since, until)
        for size in (1, 7, 50):
            assert _walk(listing, equal, since, until, size) == expected
        checked += len(expected)
    assert checked > 1000  # the filters did select rows, not only empty pages


def test_a_cursor_inside_a_run_of_equal_start_times_continues_by_id() -> None:
    con = duckdb.connect()
    rows = ", ".join(
        f"('id{k}', TIMESTAMP '2024-02-17 10:00:00', 'PK', 'AS1', 'x', 'w', 'u', 'blocked', "
        "NULL, 'ooni', false)"
        for k in (5, 1, 9, 3, 7)
    )
    columns = ", ".join(COLUMNS)
    con.execute(f"CREATE TABLE measurements AS SELECT * FROM (VALUES {rows}) t({columns})")
    listing = Listing(con)
    first = listing.page([("probe_cc", "PK")], None, None, None, 2)
    assert [r[0] for r in first] == ["id9", "id7"]
    rest = listing.page([], None, None, (first[-1][1], first[-1][0]), 10)
    assert [r[0] for r in rest] == ["id5", "id3", "id1"]


def test_the_service_pages_equal_the_sql_pages(web_store: WebStore) -> None:
    """Through the API's query function on a real store: the listing path against the SQL
    path it replaces, page by page."""
    ctx = WebContext(web_store.db)
    r = ctx.read()
    filters = [
        q.Filters(), q.Filters(cc="PK"), q.Filters(cc="PK", platform="x"),
        q.Filters(cc="PK", network="AS135407", verdict="blocked"),
        q.Filters(cc="PK", technique="dns.nxdomain"), q.Filters(platform="nosuch"),
        q.Filters(cc="PK", since=datetime(2024, 2, 17, 12), until=datetime(2024, 2, 19)),
    ]  # fmt: skip
    pages = 0
    for f, size in itertools.product(filters, (3, 40)):
        after = None
        while True:
            got = q._measurements(ctx, r, f, after, size)
            sql = q._sql_rows(ctx, r, f, after, size)[:size]
            assert [i["id"] for i in got.items] == [row[0] for row in sql]
            pages += 1
            if got.next_cursor is None or pages > 400:
                break
            after = q.decode_cursor(got.next_cursor)
    assert pages > 20


@pytest.mark.parametrize("value", ["PK' OR '1'='1", "", "\x00"])
def test_a_value_no_row_holds_is_an_empty_page(value: str) -> None:
    con = _table(random.Random(1), 50)
    assert Listing(con).page([("probe_cc", value)], None, None, None, 10) == []
