"""The JSON API, asked over HTTP of a real uvicorn on 127.0.0.1, checked against the store."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from reachwatch.store import open_store

from .conftest import WebStore

API = "/api/v1"
REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def _get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(API + path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def _sql(store: WebStore, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    con = open_store(store.db, read_only=True)
    try:
        return con.execute(sql, list(args)).fetchall()
    finally:
        con.close()


def _all_pages(client: httpx.Client, limit: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    for _ in range(10_000):
        page = _get(
            client, "/measurements", limit=limit, **params, **({"cursor": cursor} if cursor else {})
        )
        assert page["limit"] == limit
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit  # only the last page is short
    raise AssertionError("pagination did not end")


# --- overview, incidents ---------------------------------------------------------------------


def test_overview_says_blocked_since_the_ongoing_incident(
    client: httpx.Client, web_store: WebStore
) -> None:
    items = _get(client, "/overview")["items"]
    x = next(i for i in items if i["cc"] == "PK" and i["platform"] == "x")
    incidents = _get(client, "/incidents", cc="PK", platform="x")["items"]
    ongoing = [i for i in incidents if i["ongoing"]]
    assert ongoing, incidents
    assert x["state"] == "blocked"
    assert x["since"] == ongoing[-1]["start"]
    assert x["ongoing_incident"] == ongoing[-1]["id"]
    (count,) = _sql(
        web_store,
        "SELECT count(*) FROM measurements WHERE probe_cc = 'PK' AND platform = 'x' AND classified",
    )
    assert x["measurements"] == count[0]
    assert x["last_data"].endswith("Z") and x["first_data"] < x["last_data"]


def test_incidents_are_what_detect_prints(client: httpx.Client, web_store: WebStore) -> None:
    shown = subprocess.run(
        [REACHWATCH, "detect", "--db", str(web_store.db), "--cc", "PK", "--platform", "x",
         "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    detected = json.loads(shown.stdout)["incidents"]
    served = _get(client, "/incidents", cc="pk", platform="x")["items"]
    assert len(served) == len(detected) >= 1
    for ours, theirs in zip(served, detected, strict=True):
        assert {k: v for k, v in ours.items() if k not in ("id", "ongoing")} == theirs
        assert ours["ongoing"] is (theirs["end"] is None)
        assert ours["id"].startswith("PK-x-")


def test_incident_filters(client: httpx.Client) -> None:
    every = _get(client, "/incidents")["items"]
    assert every
    inc = every[0]
    net = inc["networks"][0]["network"]
    technique = inc["techniques"][0]
    assert inc in _get(client, "/incidents", network=net.lower())["items"]
    assert inc in _get(client, "/incidents", technique=technique)["items"]
    assert _get(client, "/incidents", network="AS1")["items"] == []
    assert _get(client, "/incidents", technique="quic.blocked")["items"] == [
        i
        for i in every
        if "quic.blocked" in i["techniques"]
        or any("quic.blocked" in n["technique_counts"] for n in i["networks"])
    ]
    ongoing = _get(client, "/incidents", ongoing="true")["items"]
    ended = _get(client, "/incidents", ongoing="false")["items"]
    assert all(i["end"] is None for i in ongoing) and all(i["end"] is not None for i in ended)
    assert len(ongoing) + len(ended) == len(every)
    # Time range: an incident overlapping the span is in, one entirely before or after is not.
    assert _get(client, "/incidents", until="2000-01-01T00:00:00Z")["items"] == []
    assert _get(client, "/incidents", since="2999-01-01T00:00:00Z")["items"] == ongoing
    start = inc["start"]
    assert (
        inc in _get(client, "/incidents", since=start, until="2999-01-01T00:00:00+05:00")["items"]
    )
    assert inc not in _get(client, "/incidents", until=start)["items"]
    assert _get(client, "/incidents", cc="DE")["items"] == []


def test_one_incident_by_its_id(client: httpx.Client) -> None:
    every = _get(client, "/incidents")["items"]
    for inc in every:
        assert _get(client, f"/incidents/{inc['id']}") == inc
    response = client.get(f"{API}/incidents/PK-x-19990101T0000Z")
    assert response.status_code == 404 and response.json()["error"] == "not_found"


def test_a_platform_alias_is_the_platform(client: httpx.Client) -> None:
    assert _get(client, "/incidents", platform="twitter") == _get(
        client, "/incidents", platform="x"
    )


# --- measurements ----------------------------------------------------------------------------


def test_pages_cover_every_measurement_once_in_a_stable_order(
    client: httpx.Client, web_store: WebStore
) -> None:
    items = _all_pages(client, 500, cc="PK", platform="x")
    ids = [m["id"] for m in items]
    assert len(ids) == len(set(ids)), "a measurement on two pages"
    expected = _sql(
        web_store,
        "SELECT measurement_id FROM measurements WHERE probe_cc = 'PK' AND platform = 'x' "
        "ORDER BY measurement_start_time DESC, measurement_id DESC",
    )
    assert ids == [r[0] for r in expected]
    keys = [(m["measurement_start_time"], m["id"]) for m in items]
    assert keys == sorted(keys, reverse=True)
    # The same walk again, with another page size, gives the same order.
    assert [m["id"] for m in _all_pages(client, 333, cc="PK", platform="x")] == ids


def test_pagination_of_equal_times_is_total(client: httpx.Client, web_store: WebStore) -> None:
    """Small pages over a filter: every page boundary is a (time, id) cursor, none is lost."""
    blocked = _all_pages(
        client, 7, verdict="blocked", network="AS17557", until="2024-02-19T00:00:00Z"
    )
    expected = _sql(
        web_store,
        "SELECT measurement_id FROM measurements WHERE verdict = 'blocked' "
        "AND probe_asn = 'AS17557' "
        "AND measurement_start_time < TIMESTAMP '2024-02-19 00:00:00' "
        "ORDER BY measurement_start_time DESC, measurement_id DESC",
    )
    assert [m["id"] for m in blocked] == [r[0] for r in expected]
    assert len(blocked) > 7


@pytest.mark.parametrize(
    ("params", "where", "args"),
    [
        ({"verdict": "blocked"}, "verdict = ?", ["blocked"]),
        (
            {"verdict": "accessible", "cc": "pk"},
            "verdict = ? AND probe_cc = ?",
            ["accessible", "PK"],
        ),
        ({"technique": "dns.nxdomain"}, "technique = ?", ["dns.nxdomain"]),
        ({"network": "as135407"}, "probe_asn = ?", ["AS135407"]),
        (
            {"since": "2024-02-18T00:00:00Z", "until": "2024-02-18T06:00:00Z"},
            "measurement_start_time >= ? AND measurement_start_time < ?",
            ["2024-02-18 00:00:00", "2024-02-18 06:00:00"],
        ),
        # A time with an offset is converted to UTC: 05:00+05:00 is 00:00Z.
        (
            {"since": "2024-02-18T05:00:00+05:00", "until": "2024-02-18T06:00:00Z"},
            "measurement_start_time >= ? AND measurement_start_time < ?",
            ["2024-02-18 00:00:00", "2024-02-18 06:00:00"],
        ),
    ],
)
def test_measurement_filters(
    client: httpx.Client, web_store: WebStore, params: dict[str, str], where: str, args: list[str]
) -> None:
    served = _all_pages(client, 1000, **params)
    expected = _sql(
        web_store,
        f"SELECT measurement_id FROM measurements WHERE {where} "
        "ORDER BY measurement_start_time DESC, measurement_id DESC",
        *args,
    )
    assert expected, "the filter selects nothing: a weak test"
    assert [m["id"] for m in served] == [r[0] for r in expected]


def test_the_rule_filter_selects_measurements_where_the_rule_fired(
    client: httpx.Client, web_store: WebStore
) -> None:
    [(rule, count)] = _sql(
        web_store,
        "SELECT rule, count(DISTINCT measurement_id) FROM observations WHERE verdict = 'blocked' "
        "GROUP BY rule ORDER BY 2 DESC LIMIT 1",
    )
    served = _all_pages(client, 1000, rule=rule)
    assert len(served) == count > 0
    one = _get(client, f"/measurements/{served[0]['id']}")
    assert rule in {o["rule"] for o in one["observations"]}


def test_the_ongoing_filter_selects_measurements_during_incidents(client: httpx.Client) -> None:
    ongoing = _get(client, "/incidents", ongoing="true")["items"]
    during = _all_pages(client, 1000, ongoing="true")
    assert during
    spans = {
        (i["cc"], i["platform"], n["network"]): n["start"] for i in ongoing for n in i["networks"]
    }
    for m in during:
        start = spans[(m["probe_cc"], m["platform"], m["probe_asn"])]
        assert m["measurement_start_time"] >= start


def test_one_measurement_is_what_show_prints(client: httpx.Client, web_store: WebStore) -> None:
    first = _get(client, "/measurements", verdict="blocked", limit=1)["items"][0]
    served = _get(client, f"/measurements/{first['id']}")
    shown = subprocess.run(
        [REACHWATCH, "show", first["id"], "--db", str(web_store.db), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    doc = json.loads(shown.stdout)
    assert set(doc) <= set(served)
    for key in ("id", "raw", "raw_sha256", "raw_intact"):
        assert served[key] == doc[key]
    rules = [
        (o["layer"], o["host"], o["address"], o["verdict"], o["rule"]) for o in doc["observations"]
    ]
    assert [
        (o["layer"], o["host"], o["address"], o["verdict"], o["rule"])
        for o in served["observations"]
    ] == rules
    assert any(r[3] == "blocked" for r in rules)
    assert len(served["facts"]) == len(doc["facts"]) > 0
    raw = base64.b64decode(served["raw_base64"])
    assert hashlib.sha256(raw).hexdigest() == served["raw_sha256"]
    assert served["measurement"]["measurement_start_time"].endswith("Z")
    exact = client.get(f"{API}/measurements/{first['id']}/raw")
    assert exact.status_code == 200 and exact.content == raw


# --- series, cases, catalog ------------------------------------------------------------------


def test_series_counts_match_the_store(client: httpx.Client, web_store: WebStore) -> None:
    daily = _get(client, "/series", bucket="day", cc="PK", platform="x", network="AS17557")
    assert daily["bucket"] == "day"
    rows = daily["items"]
    expected = _sql(
        web_store,
        "SELECT date_trunc('day', measurement_start_time), "
        "count(*) FILTER (WHERE verdict = 'blocked'), "
        "count(*) FILTER (WHERE verdict = 'accessible'), "
        "count(*) FILTER (WHERE verdict = 'down'), "
        "count(*) FILTER (WHERE verdict = 'inconclusive') "
        "FROM measurements WHERE probe_cc = 'PK' AND platform = 'x' AND probe_asn = 'AS17557' "
        "AND classified GROUP BY 1 ORDER BY 1",
    )
    assert [(r["time"], r["blocked"], r["ok"], r["down"], r["inconclusive"]) for r in rows] == [
        (t.strftime("%Y-%m-%dT%H:%M:%SZ"), b, ok, d, i) for t, b, ok, d, i in expected
    ]
    hourly = _get(client, "/series", cc="PK", platform="x", network="AS17557")["items"]
    assert sum(h["blocked"] for h in hourly) == sum(r["blocked"] for r in rows) > 0
    assert all(h["time"].endswith(":00:00Z") for h in hourly)
    window = _get(client, "/series", since="2024-02-18T00:00:00Z", until="2024-02-19T00:00:00Z")[
        "items"
    ]
    assert window and all("2024-02-18T" in r["time"] for r in window)


def test_cases_and_the_compliance_of_every_order(client: httpx.Client, web_store: WebStore) -> None:
    items = _get(client, "/cases")["items"]
    assert [c["case"] for c in items] == ["web-x"]
    assert [d["id"] for d in items[0]["directives"]] == ["letter", "order"]
    doc = _get(client, "/cases/web-x")
    checked = subprocess.run(
        [REACHWATCH, "case", "check", str(web_store.db.parent / "web-x.yaml"),
         "--db", str(web_store.db), "--json"],
        capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    expected = json.loads(checked.stdout)
    assert {k: v for k, v in doc.items() if k != "events"} == expected
    assert [e["id"] for e in doc["events"]] == ["letter", "order"]
    statuses = {d["id"]: d["status"] for d in doc["directives"]}
    assert statuses == {d["id"]: d["status"] for d in items[0]["directives"]}


def test_catalog(client: httpx.Client) -> None:
    items = _get(client, "/catalog")["items"]
    x = next(p for p in items if p["name"] == "x")
    assert "twitter.com" in x["domains"] and "twitter" in x["aliases"]
    assert any(h["host"] == "x.com" for h in x["hosts"])


# --- CSV -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "per_item"),
    [
        ("/overview", {}, None),
        ("/incidents", {}, "networks"),
        ("/measurements", {"cc": "PK", "limit": "50"}, None),
        ("/series", {"bucket": "day"}, None),
        ("/cases", {}, "directives"),
        ("/catalog", {}, "hosts"),
    ],
)
def test_every_list_is_also_csv(
    client: httpx.Client, path: str, params: dict[str, str], per_item: str | None
) -> None:
    as_json = _get(client, path, **params)["items"]
    response = client.get(API + path, params={**params, "format": "csv"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    expected = sum(len(i[per_item]) for i in as_json) if per_item else len(as_json)
    assert len(rows) - 1 == expected > 0
    assert len({len(r) for r in rows}) == 1  # every row has the header's columns


def test_measurements_csv_carries_the_next_cursor(client: httpx.Client) -> None:
    page = _get(client, "/measurements", limit=3)
    csv_page = client.get(f"{API}/measurements", params={"limit": 3, "format": "csv"})
    assert csv_page.headers["x-next-cursor"] == page["next_cursor"]
    rows = list(csv.DictReader(io.StringIO(csv_page.text)))
    assert [r["id"] for r in rows] == [m["id"] for m in page["items"]]


# --- time ------------------------------------------------------------------------------------


def test_times_are_utc_with_z_and_said_so_in_the_schema(client: httpx.Client) -> None:
    inc = _get(client, "/incidents")["items"][0]
    assert inc["start"].endswith("Z")
    spec = _get(client, "/openapi.json")
    params = {p["name"]: p for p in spec["paths"]["/api/v1/measurements"]["get"]["parameters"]}
    assert "UTC" in params["since"]["description"] and "ISO 8601" in params["since"]["description"]
    assert "UTC" in spec["info"]["description"]
    start = spec["components"]["schemas"]["Incident"]["properties"]["start"]
    assert start["format"] == "date-time" and "UTC" in start["description"]


def test_the_generation_changes_when_the_store_does(tmp_path: Path, web_store: WebStore) -> None:
    """A commit to the store drops the cached answers: the next request sees the new rows."""
    import shutil

    from reachwatch.ingest import ingest
    from reachwatch.simulate import scenario_from_case, write_corpus
    from reachwatch.web import WebContext, queries

    db = tmp_path / "db"
    shutil.copytree(web_store.db, db)
    ctx = WebContext(db, cases=[web_store.case])
    before = ctx.generation
    counts = {(o["cc"], o["platform"]): o["measurements"] for o in queries.overview(ctx)}
    corpus = write_corpus(scenario_from_case(web_store.case), tmp_path / "sim", seed=99)
    added = ingest([corpus.corpus], db).stored
    assert added > 0
    assert ctx.generation != before
    after = {(o["cc"], o["platform"]): o["measurements"] for o in queries.overview(ctx)}
    assert sum(after.values()) == sum(counts.values()) + added


def test_head_is_get_without_the_body(client: httpx.Client) -> None:
    got = client.get(f"{API}/catalog")
    head = client.head(f"{API}/catalog")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == got.headers["content-length"]
    assert head.headers["content-type"] == got.headers["content-type"]


REPO = Path(__file__).resolve().parents[2]


def test_every_serve_option_is_documented() -> None:
    """docs/api.md lists every option of `reachwatch serve` with its default, and the README
    points to it."""
    import click

    from reachwatch.cli import app

    serve = app.get_command(click.Context(app), "serve")
    assert serve is not None
    doc = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
    for param in serve.params:
        for flag in param.opts:
            if flag.startswith("--") and flag != "--help":
                assert f"`{flag} " in doc, f"{flag} is not in docs/api.md"
    assert "`127.0.0.1`" in doc and "`8000`" in doc
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert "docs/api.md" in readme and "reachwatch serve" in readme


def test_a_series_too_large_to_answer_is_refused(
    web_store: WebStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from reachwatch.web import InvalidParameter, WebContext, queries

    ctx = WebContext(web_store.db, cases=[])
    hours = queries.series(ctx, queries.Filters(network="AS17557"), "hour")
    days = queries.series(ctx, queries.Filters(network="AS17557"), "day")
    assert len(days) < len(hours)
    monkeypatch.setattr(queries, "MAX_POINTS", len(days))
    with pytest.raises(InvalidParameter, match="bucket=day"):
        queries.series(ctx, queries.Filters(), "hour")
    assert queries.series(ctx, queries.Filters(network="AS17557"), "day") == days


def test_a_request_does_not_wait_long_for_an_answer_still_being_computed(
    web_store: WebStore,
) -> None:
    """While one thread computes an answer (detection after a start), another asking for it
    waits at most its patience, then is told to come back (503 `warming`, Retry-After)."""
    import threading

    from reachwatch.web import WebContext
    from reachwatch.web._errors import Warming

    ctx = WebContext(web_store.db, cases=[])
    started, release = threading.Event(), threading.Event()

    def slow() -> str:
        started.set()
        release.wait(30)
        return "done"

    worker = threading.Thread(target=lambda: ctx.cached(("slow",), slow, wait=None))
    worker.start()
    try:
        assert started.wait(10)
        with pytest.raises(Warming) as refused:
            ctx.cached(("slow",), lambda: "not computed twice", wait=0.2)
        assert refused.value.status == 503 and refused.value.headers["Retry-After"]
    finally:
        release.set()
        worker.join(10)
    assert ctx.cached(("slow",), lambda: "not computed twice") == "done"


def test_an_empty_store_answers_empty_lists_not_errors(tmp_path: Path) -> None:
    from reachwatch.web import create_app

    from .conftest import serve

    open_store(tmp_path / "db").close()  # a new store, nothing ingested
    run = serve(create_app(tmp_path / "db"))
    try:
        with run.client() as client:
            for path in ("/overview", "/incidents", "/measurements", "/series"):
                assert _get(client, path)["items"] == [], path
            assert _get(client, "/measurements")["next_cursor"] is None
            cases = _get(client, "/cases")["items"]
            assert cases and all("nothing is known" in c["headline"] for c in cases)
    finally:
        run.stop()


@pytest.mark.parametrize("window_hours", [1, 30])
def test_pages_asked_in_widening_windows_are_the_same_pages(
    web_store: WebStore, monkeypatch: pytest.MonkeyPatch, window_hours: int
) -> None:
    """A page is first looked for in a window below its upper bound, widened while short: the
    pages are those of the plain query, whatever the window (here far shorter than the data)."""
    from datetime import timedelta

    from reachwatch.web import WebContext, queries
    from reachwatch.web import _queries as impl

    monkeypatch.setattr(impl, "_WINDOW", timedelta(hours=window_hours))
    ctx = WebContext(web_store.db, cases=[])
    for f, sql, args in (
        (queries.Filters(cc="PK"), "probe_cc = ?", ["PK"]),
        (queries.Filters(verdict="down"), "verdict = ?", ["down"]),  # rare: windows widen
        (
            queries.Filters(network="AS17557", since=datetime(2024, 2, 18)),
            "probe_asn = ? AND measurement_start_time >= ?",
            ["AS17557", datetime(2024, 2, 18)],
        ),
    ):
        ids: list[str] = []
        cursor = None
        while True:
            page = queries.measurements(ctx, f, cursor, 37)
            ids += [m["id"] for m in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        expected = _sql(
            web_store,
            f"SELECT measurement_id FROM measurements WHERE {sql} "
            "ORDER BY measurement_start_time DESC, measurement_id DESC",
            *args,
        )
        assert ids == [r[0] for r in expected] and ids, f


def test_snapshot_folders_of_ended_services_are_removed(web_store: WebStore) -> None:
    """A service killed before removing its snapshot leaves a folder named for its process;
    the next one removes it, and nothing of a process still running."""
    import tempfile

    from reachwatch.web import WebContext

    gone = subprocess.Popen(["true"])
    gone.wait()
    root = Path(tempfile.gettempdir())
    stale = root / f"reachwatch-serve-{gone.pid}-test"
    alive = root / f"reachwatch-serve-{os.getpid()}-test"
    for folder in (stale, alive):
        folder.mkdir(exist_ok=True)
        (folder / "snapshot.duckdb").write_bytes(b"x")
    try:
        WebContext(web_store.db, cases=[])
        assert not stale.exists()
        assert alive.exists()
    finally:
        for folder in (stale, alive):
            if folder.exists():
                (folder / "snapshot.duckdb").unlink()
                folder.rmdir()
