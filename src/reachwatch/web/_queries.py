"""The questions the API and the pages ask of a store, one function each.

Every value a user gives reaches DuckDB as a bound parameter (`?`), never as SQL text: the
SQL below is built only from fixed fragments chosen by which filters are set. Answers that
depend only on the store (incidents, series, cases) are computed once per store generation
(see `WebContext`); pages of measurements are cached per filter and cursor.

Times are UTC: naive `datetime`s here, ISO 8601 with `Z` in the JSON.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

import orjson

from reachwatch.cases import Case, check_case
from reachwatch.detect import detect, iso
from reachwatch.store import Evidence, evidence_of
from reachwatch.web._context import Read, WebContext
from reachwatch.web._errors import InvalidParameter, NotFound
from reachwatch.web._listing import Listing

Verdict = Literal["accessible", "blocked", "down", "inconclusive"]
Bucket = Literal["hour", "day"]
VERDICTS: tuple[str, ...] = ("accessible", "blocked", "down", "inconclusive")
MAX_LIMIT = 1000
# A series answer beyond this many points is refused: narrow it (cc, platform, network, a time
# span) or ask per day. A year of hours over every network of a large store is millions.
MAX_POINTS = 200_000


def utc(t: datetime | None) -> datetime | None:
    """`t` as the store keeps times: naive UTC (an aware time is converted)."""
    if t is None or t.tzinfo is None:
        return t
    return t.astimezone(UTC).replace(tzinfo=None)


@dataclass(frozen=True, slots=True)
class Filters:
    """What to select. Unset (None) means any; text is normalised as the store writes it
    (country and network upper case, platform lower case), times to naive UTC. `since` is
    inclusive, `until` exclusive."""

    cc: str | None = None
    platform: str | None = None
    network: str | None = None
    technique: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    ongoing: bool | None = None
    verdict: str | None = None
    rule: str | None = None

    def __post_init__(self) -> None:
        for name, fix in (("cc", str.upper), ("network", str.upper), ("platform", str.lower)):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, fix(value))
        object.__setattr__(self, "since", utc(self.since))
        object.__setattr__(self, "until", utc(self.until))


# ---------------------------------------------------------------------------------------------
# JSON


def to_json(doc: Any) -> bytes:
    """`doc` as JSON; naive datetimes are UTC and written with `Z`."""
    return orjson.dumps(doc, option=orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z, default=_plain)


def _plain(value: object) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    raise TypeError


def _iso(t: datetime | date | None) -> str | None:
    if t is None:
        return None
    if isinstance(t, datetime):
        return iso(utc(t)) if t.microsecond == 0 else utc(t).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # type: ignore[union-attr]
    return t.isoformat()


# ---------------------------------------------------------------------------------------------
# Detection, once per (country, platform) and generation


def pairs(ctx: WebContext) -> list[tuple[str, str]]:
    """Every (country, platform) with classified measurements, sorted."""
    r = ctx.read()
    return r.cached(("pairs",), lambda: _pairs(r))


def _pairs(r: Read) -> list[tuple[str, str]]:
    rows = r.con.execute(
        "SELECT DISTINCT probe_cc, platform FROM measurements WHERE classified "
        "AND platform IS NOT NULL AND probe_cc IS NOT NULL AND verdict IS NOT NULL "
        "ORDER BY 1, 2"
    ).fetchall()
    return [(str(cc), str(p)) for cc, p in rows]


def detection(ctx: WebContext, cc: str, platform: str) -> dict[str, Any]:
    """`reachwatch detect --cc CC --platform P --json` for one pair, computed once."""
    r = ctx.read()
    return r.cached(("detection", cc, platform), lambda: _detection(r, cc, platform))


def _detection(r: Read, cc: str, platform: str) -> dict[str, Any]:
    cur = r.detection_cursor()
    try:
        doc = detect(cur, cc=cc, platform=platform).to_json()
    finally:
        cur.close()
    for inc in doc["incidents"]:
        inc["id"] = incident_id(inc)
        inc["ongoing"] = inc["end"] is None
    return doc


def incident_id(inc: dict[str, Any]) -> str:
    """Stable while the data before the incident's start does not change: PK-x-20240217T1000Z."""
    start = str(inc["start"]).replace("-", "").replace(":", "")[:14]
    return f"{inc['cc']}-{inc['platform']}-{start}Z"


def _scoped_pairs(ctx: WebContext, f: Filters) -> Iterator[tuple[str, str]]:
    for cc, platform in pairs(ctx):
        if (f.cc is None or f.cc == cc) and (f.platform is None or f.platform == platform):
            yield cc, platform


def incidents(ctx: WebContext, filters: Filters) -> list[dict[str, Any]]:
    """Incidents as `detect --json` gives them, plus `id` and `ongoing`, oldest first.

    `network`: the incident involves that network; `technique`: it was seen in the incident;
    `since`/`until`: the incident overlaps that span; `ongoing`: it has no end yet."""
    found: list[dict[str, Any]] = []
    for cc, platform in _scoped_pairs(ctx, filters):
        for inc in detection(ctx, cc, platform)["incidents"]:
            if _incident_matches(inc, filters):
                found.append(inc)
    return sorted(found, key=lambda i: (i["start"], i["cc"], i["platform"]))


def _incident_matches(inc: dict[str, Any], f: Filters) -> bool:
    nets = inc["networks"]
    if f.network is not None and all(n["network"] != f.network for n in nets):
        return False
    if f.technique is not None and not _has_technique(inc, f.technique):
        return False
    if f.ongoing is not None and inc["ongoing"] != f.ongoing:
        return False
    if f.until is not None and inc["start"] >= _iso(f.until):
        return False
    return not (f.since is not None and inc["end"] is not None and inc["end"] < _iso(f.since))


def _has_technique(inc: dict[str, Any], technique: str) -> bool:
    return technique in inc["techniques"] or any(
        technique in n["technique_counts"] for n in inc["networks"]
    )


def incident(ctx: WebContext, incident_id_: str) -> dict[str, Any]:
    """One incident by its `id`."""
    for inc in incidents(ctx, Filters()):
        if inc["id"] == incident_id_:
            return inc
    raise NotFound(f"no incident {incident_id_!r} in this store")


# ---------------------------------------------------------------------------------------------
# Overview: every (country, platform) and its state now


def overview(ctx: WebContext) -> list[dict[str, Any]]:
    """Per (country, platform): blocked or accessible at the end of its data, since when, the
    span of data, and the ongoing incident if any."""
    r = ctx.read()
    return r.cached(("overview",), lambda: _overview(ctx, r))


def _overview(ctx: WebContext, r: Read) -> list[dict[str, Any]]:
    stats = {
        (str(cc), str(p)): row
        for cc, p, *row in r.con.execute(
            "SELECT probe_cc, platform, min(measurement_start_time), max(measurement_start_time), "
            "count(*), count(DISTINCT probe_asn), count(*) FILTER (WHERE verdict = 'blocked'), "
            "count(*) FILTER (WHERE verdict IN ('blocked', 'accessible')) "
            "FROM measurements WHERE classified AND platform IS NOT NULL AND probe_cc IS NOT NULL "
            "AND verdict IS NOT NULL GROUP BY ALL"
        ).fetchall()
    }
    out: list[dict[str, Any]] = []
    for cc, platform in pairs(ctx):
        first, last, total, networks, blocked, decisive = stats[(cc, platform)]
        found = detection(ctx, cc, platform)["incidents"]
        ongoing = next((i for i in reversed(found) if i["ongoing"]), None)
        if ongoing is not None:
            state, since = "blocked", ongoing["start"]
        elif decisive == 0:
            state, since = "unknown", None
        else:
            state, since = "accessible", found[-1]["end"] if found else None
        out.append(
            {
                "cc": cc,
                "platform": platform,
                "state": state,
                "since": since,
                "first_data": _iso(first),
                "last_data": _iso(last),
                "measurements": total,
                "blocked_measurements": blocked,
                "networks": networks,
                "incidents": len(found),
                "ongoing_incident": ongoing["id"] if ongoing else None,
                "techniques": ongoing["techniques"] if ongoing else [],
            }
        )
    return out


# ---------------------------------------------------------------------------------------------
# Measurements: keyset pages, newest first


MEASUREMENT_FIELDS = (
    "id", "measurement_start_time", "probe_cc", "probe_asn", "platform", "test_name", "input",
    "verdict", "technique", "source", "synthetic",
)  # fmt: skip

# `measurements` is a sorted table in the snapshot (see WebContext), not the Parquet view.
_LIST_SQL = (
    "SELECT measurement_id, measurement_start_time, probe_cc, probe_asn, platform, test_name, "
    "input, verdict, technique, source, synthetic FROM measurements WHERE true"
)


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None
    limit: int
    filters: Filters = field(default_factory=Filters)


def encode_cursor(t: datetime, measurement_id: str) -> str:
    raw = orjson.dumps([t.strftime("%Y-%m-%dT%H:%M:%S.%f"), measurement_id])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (time, id) a page ended at; InvalidParameter for anything this did not encode."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        t, mid = orjson.loads(raw)
        if not isinstance(t, str) or not isinstance(mid, str):
            raise ValueError
        return datetime.strptime(t, "%Y-%m-%dT%H:%M:%S.%f"), mid
    except (ValueError, TypeError, binascii.Error, orjson.JSONDecodeError):
        raise InvalidParameter("cursor: not a cursor this service gave") from None


def _where(f: Filters, *, ctx: WebContext | None = None) -> tuple[str, list[Any]]:
    """SQL conditions for `f` over the measurements view, with their parameters."""
    sql: list[str] = []
    args: list[Any] = []
    for column, value in _equal_filters(f):
        if value is not None:
            sql.append(f" AND {column} = ?")
            args.append(value)
    if f.since is not None:
        sql.append(" AND measurement_start_time >= ?")
        args.append(f.since)
    if f.until is not None:
        sql.append(" AND measurement_start_time < ?")
        args.append(f.until)
    if f.rule is not None:
        sql.append(" AND measurement_id IN (SELECT measurement_id FROM observations WHERE rule = ?")
        args.append(f.rule)
        for column, value in (("probe_cc", f.cc), ("platform", f.platform)):
            if value is not None:
                sql.append(f" AND {column} = ?")
                args.append(value)
        sql.append(")")
    if f.ongoing is not None and ctx is not None:
        spans, span_args = _incident_spans(ctx, f)
        sql.append(spans)
        args += span_args
    return "".join(sql), args


def _incident_spans(ctx: WebContext, f: Filters) -> tuple[str, list[Any]]:
    """`ongoing` for measurements: those taken on a network while an (ongoing, or ended)
    incident held there, from that network's start to its end."""
    clauses: list[str] = []
    args: list[Any] = []
    for inc in incidents(ctx, Filters(cc=f.cc, platform=f.platform, ongoing=f.ongoing)):
        for n in inc["networks"]:
            clause = (
                "(probe_cc = ? AND platform = ? AND probe_asn = ? AND measurement_start_time >= ?"
            )
            args += [inc["cc"], inc["platform"], n["network"], _parse(n["start"])]
            if n["end"] is not None:
                clause += " AND measurement_start_time < ?"
                args.append(_parse(n["end"]))
            clauses.append(clause + ")")
    if not clauses:
        return " AND false", []
    return " AND (" + " OR ".join(clauses) + ")", args


def _parse(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")


def measurements(
    ctx: WebContext, filters: Filters, cursor: str | None = None, limit: int = 100
) -> Page:
    """Measurements matching `filters`, newest first (by start time, then id, so the order is
    total and stable); `cursor` continues after the page that returned it."""
    limit = max(1, min(limit, MAX_LIMIT))
    after = decode_cursor(cursor) if cursor else None
    r = ctx.read()
    return r.cached(
        ("measurements", filters, after, limit),
        lambda: _measurements(ctx, r, filters, after, limit),
        keep=False,
    )


# Page queries at once: about the cores there are. More only queue inside DuckDB, each
# starting its own threads on the same cores.
_PAGE_QUERIES = threading.BoundedSemaphore(2)
# The first window a page is looked for in, before the upper bound of its times; widened
# fourfold while the page is short, then unbounded.
_WINDOW = timedelta(days=7)


def _span(r: Read) -> tuple[datetime | None, datetime | None]:
    """The first and last start time in the store."""

    def span() -> tuple[datetime | None, datetime | None]:
        row = r.con.execute(
            "SELECT min(measurement_start_time), max(measurement_start_time) FROM measurements"
        ).fetchone()
        return (row[0], row[1]) if row else (None, None)

    return r.cached(("span",), span)


def measurements_in_memory(
    ctx: WebContext, filters: Filters, cursor: str | None = None, limit: int = 100
) -> Page | None:
    """The page `measurements` gives, when the generation's in-memory listing is built and
    holds every filter asked (not `rule` or `ongoing`); None otherwise. It never waits nor
    queries DuckDB, so it may be asked from the event loop: about a millisecond."""
    if filters.rule is not None or filters.ongoing is not None:
        return None
    listing = ctx.read().peek(("listing",))
    if not isinstance(listing, Listing):
        return None
    limit = max(1, min(limit, MAX_LIMIT))
    after = decode_cursor(cursor) if cursor else None
    return _listed(listing, filters, after, limit)


def _measurements(
    ctx: WebContext, r: Read, f: Filters, after: tuple[datetime, str] | None, limit: int
) -> Page:
    if f.rule is None and f.ongoing is None and (listing := _listing(r)) is not None:
        return _listed(listing, f, after, limit)
    return _page(_sql_rows(ctx, r, f, after, limit), f, limit)


def _listed(listing: Listing, f: Filters, after: tuple[datetime, str] | None, limit: int) -> Page:
    equal = [(c, v) for c, v in _equal_filters(f) if v is not None]
    return _page(listing.page(equal, f.since, f.until, after, limit + 1), f, limit)


def _page(rows: list[tuple[Any, ...]], f: Filters, limit: int) -> Page:
    """A page from up to `limit` + 1 rows in order: the extra one says there is more."""
    more = len(rows) > limit
    rows = rows[:limit]
    items = [dict(zip(MEASUREMENT_FIELDS, row, strict=True)) for row in rows]
    for item in items:
        item["measurement_start_time"] = _iso(item["measurement_start_time"])
    last_row = rows[-1] if more and rows else None
    cursor = encode_cursor(last_row[1], last_row[0]) if last_row else None
    return Page(items, cursor, limit, f)


def _equal_filters(f: Filters) -> tuple[tuple[str, str | None], ...]:
    return (
        ("probe_cc", f.cc), ("platform", f.platform), ("probe_asn", f.network),
        ("technique", f.technique), ("verdict", f.verdict),
    )  # fmt: skip


def _listing(r: Read) -> Listing | None:
    """The generation's in-memory list columns (built once, by warming or the first page),
    or None when the store holds rows they cannot order (no start time)."""

    def build() -> Listing | None:
        try:
            return Listing(r.con)
        except ValueError:
            return None

    return r.cached(("listing",), build)


def _sql_rows(
    ctx: WebContext, r: Read, f: Filters, after: tuple[datetime, str] | None, limit: int
) -> list[tuple[Any, ...]]:
    """The page's rows (one more than `limit` when there are more) by SQL: what filters on
    rules and incidents need, and what the in-memory listing must equal."""
    where, args = _where(f, ctx=ctx)
    if after is not None:
        where += (
            " AND (measurement_start_time < ? OR (measurement_start_time = ? "
            "AND measurement_id < ?))"
        )
        args += [after[0], after[0], after[1]]
    head = f"{_LIST_SQL}{where}"
    tail = " ORDER BY measurement_start_time DESC, measurement_id DESC LIMIT ?"
    # The newest rows of a filter are those of its latest days: asked first within a window
    # below its upper bound, DuckDB skips the row groups outside it by their min/max instead
    # of reading every matching row of the country. The answer is the same: a window holding
    # a full page holds the newest rows, and a short one is widened until the page is full
    # or the window reaches the oldest time the filter allows.
    first, last = _span(r)
    ends = [t for t in (after[0] if after else None, f.until) if t is not None]
    upper = min(ends) if ends else (last + timedelta(microseconds=1) if last else None)
    floor = max(t for t in (f.since, first) if t is not None) if first or f.since else None
    width = _WINDOW
    while True:
        lower = upper - width if upper is not None else None
        windowed = lower is not None and floor is not None and lower > floor
        with _PAGE_QUERIES:
            rows = r.con.execute(
                head + (" AND measurement_start_time >= ?" if windowed else "") + tail,
                [*args, *([lower] if windowed else []), limit + 1],
            ).fetchall()
        if len(rows) > limit or not windowed:
            return rows
        width *= 4


def _evidence(ctx: WebContext, measurement_id: str) -> Evidence:
    """`evidence_of` the measurement, its bytes and facts read from its own partition's files
    only (NoSuchMeasurement when it is not stored)."""
    r = ctx.read()
    where = r.con.execute(
        "SELECT date, probe_cc FROM measurements WHERE measurement_id = ? LIMIT 1",
        [measurement_id],
    ).fetchone()
    if where is None or where[0] is None or where[1] is None:
        return evidence_of(r.con, measurement_id)
    cur = r.partition_cursor(where[0], str(where[1]))
    try:
        return evidence_of(cur, measurement_id)
    finally:
        cur.close()


def measurement(ctx: WebContext, measurement_id: str) -> dict[str, Any]:
    """What `reachwatch show ID --json` prints, plus the exact bytes in base64
    (NoSuchMeasurement when it is not stored)."""
    found = _evidence(ctx, measurement_id)
    doc = found.to_json()
    doc["raw_base64"] = None if found.raw is None else base64.b64encode(found.raw).decode()
    return doc


def measurement_bytes(ctx: WebContext, measurement_id: str) -> bytes:
    """The measurement's exact bytes as stored (NotFound when none are kept)."""
    found = _evidence(ctx, measurement_id)
    if found.raw is None:
        raise NotFound(f"measurement {measurement_id!r} was stored without its bytes")
    return found.raw


# ---------------------------------------------------------------------------------------------
# Series: verdict counts per hour or day, network and platform


SERIES_FIELDS = ("time", "cc", "network", "platform", "blocked", "ok", "down", "inconclusive")


def series(ctx: WebContext, filters: Filters, bucket: Bucket = "hour") -> list[dict[str, Any]]:
    """Counts of measurements per verdict (blocked, ok = accessible, down, inconclusive) per
    `bucket`, network and platform; only buckets with measurements are listed (an absent one had
    no data, which says nothing about blocking). Filters: cc, platform, network, since, until."""
    if bucket not in ("hour", "day"):
        raise InvalidParameter(f"bucket: expected hour or day, not {bucket!r}")
    r = ctx.read()
    return r.cached(("series", filters, bucket), lambda: _series(r, filters, bucket), keep=False)


def _series(r: Read, f: Filters, bucket: str) -> list[dict[str, Any]]:
    sql: list[str] = []
    args: list[Any] = []
    for column, value in (("cc", f.cc), ("platform", f.platform), ("network", f.network)):
        if value is not None:
            sql.append(f" AND {column} = ?")
            args.append(value)
    if f.since is not None:
        sql.append(" AND time >= ?")
        args.append(f.since)
    if f.until is not None:
        sql.append(" AND time < ?")
        args.append(f.until)
    where = "".join(sql)
    (points,) = r.con.execute(
        f"SELECT count(DISTINCT (date_trunc(?, time), cc, network, platform)) FROM hourly "
        f"WHERE true{where}",
        [bucket, *args],
    ).fetchone() or (0,)
    if points > MAX_POINTS:
        raise InvalidParameter(
            f"the series has {points:,} points (more than {MAX_POINTS:,}): narrow it with cc, "
            "platform, network, since or until, or use bucket=day"
        )
    rows = r.con.execute(
        f"SELECT date_trunc(?, time) AS t, cc, network, platform, sum(blocked), sum(ok), "
        f"sum(down), sum(inconclusive) FROM hourly WHERE true{where} "
        "GROUP BY ALL ORDER BY cc, network, platform, t",
        [bucket, *args],
    ).fetchall()
    return [
        {
            "time": _iso(t),
            "cc": cc,
            "network": net,
            "platform": p,
            "blocked": int(b),
            "ok": int(ok),
            "down": int(d),
            "inconclusive": int(i),
        }
        for t, cc, net, p, b, ok, d, i in rows
    ]


# ---------------------------------------------------------------------------------------------
# Cases and the catalog


def _case_events(case: Case) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "date": e.date.isoformat(),
            "kind": e.kind,
            "actor": e.actor,
            "summary": e.summary,
            "requires": e.requires,
            "deadline": e.deadline.isoformat() if e.deadline else None,
            "sources": [{"name": s.name, "url": s.url} for s in e.sources],
        }
        for e in case.events
    ]


def case(ctx: WebContext, case_id: str) -> dict[str, Any]:
    """`reachwatch case check CASE --json` plus the case's dated events (`events`)."""
    found = next((c for c in ctx.cases if c.id == case_id), None)
    if found is not None:
        r = ctx.read()
        return r.cached(("case", case_id), lambda: _case(r, found))
    raise NotFound(f"no case {case_id!r} (known: {', '.join(c.id for c in ctx.cases) or 'none'})")


def _case(r: Read, loaded: Case) -> dict[str, Any]:
    cur = r.detection_cursor()
    try:
        doc = check_case(loaded, cur).to_json()
    finally:
        cur.close()
    doc["events"] = _case_events(loaded)
    return doc


def cases(ctx: WebContext) -> list[dict[str, Any]]:
    """Every case served: its scope, headline and the status of each directive."""
    out = []
    for loaded in ctx.cases:
        doc = case(ctx, loaded.id)
        out.append(
            {
                "case": doc["case"],
                "title": doc["title"],
                "headline": doc["headline"],
                "scope": doc["scope"],
                "directives": [
                    {k: d[k] for k in ("id", "date", "label", "requires", "due", "status")}
                    for d in doc["directives"]
                ],
                "incidents": len(doc["incidents"]),
                "synthetic": doc["data"]["synthetic"],
            }
        )
    return out


def catalog(ctx: WebContext) -> list[dict[str, Any]]:
    """The platforms reachwatch knows: names, domains, hosts and their URLs, ASNs."""
    return [
        {
            "name": p.name,
            "title": p.title,
            "aliases": list(p.aliases),
            "domains": list(p.domains),
            "asns": list(p.asns),
            "hosts": [{"host": h.host, "role": h.role, "urls": list(h.urls)} for h in p.hosts],
        }
        for p in ctx.catalog
    ]
