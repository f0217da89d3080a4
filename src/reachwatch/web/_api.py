"""The JSON API, `/api/v1/`: read-only answers from the store, JSON or CSV.

Every handler is a plain function (FastAPI runs it in its thread pool, each thread with its
own DuckDB cursor) that returns bytes cached per store generation where it can.

No `from __future__ import annotations` here: FastAPI reads the handlers' annotations at
run time, and some name types local to `api_router`."""

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from starlette.concurrency import run_in_threadpool

from reachwatch.catalog import CatalogError
from reachwatch.web import _models as m
from reachwatch.web import _queries as q
from reachwatch.web._context import WebContext
from reachwatch.web._errors import ErrorBody, InvalidParameter

PREFIX = "/api/v1"
JSON = "application/json"
CSV = "text/csv; charset=utf-8"

Format = Literal["json", "csv"]
_TIME = (
    "UTC, ISO 8601 (2024-02-17T10:00:00Z; a time without offset is UTC, one with an offset is "
    "converted)"
)

CcQ = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z]{2}$", description="Country, ISO 3166-1 alpha-2 (PK)"),
]
PlatformQ = Annotated[
    str | None,
    Query(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$",
        description="Catalog platform or alias (x, twitter)",
    ),
]
NetworkQ = Annotated[
    str | None, Query(pattern=r"^[Aa][Ss][0-9]{1,10}$", description="Network, ASN (AS17557)")
]
TechniqueQ = Annotated[
    str | None,
    Query(pattern=r"^[a-z]{1,16}(\.[a-z_]{1,24})?$", description="Technique (tls.reset)"),
]
SinceQ = Annotated[datetime | None, Query(description=f"From this time on (inclusive); {_TIME}")]
UntilQ = Annotated[datetime | None, Query(description=f"Before this time (exclusive); {_TIME}")]
OngoingQ = Annotated[bool | None, Query(description="Only ongoing (true) or ended (false)")]
FormatQ = Annotated[Format, Query(description="json, or csv (one row per item)")]

_ERRORS: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody, "description": "A parameter does not validate"},
    500: {"model": ErrorBody, "description": "Internal error (logged on the server)"},
    503: {"model": ErrorBody, "description": "The store cannot be read"},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "Absent"}}


def _ok(model: type, csv_too: bool = True) -> dict[int | str, dict[str, Any]]:
    content: dict[str, Any] = {JSON: {}}
    if csv_too:
        content["text/csv"] = {"schema": {"type": "string"}}
    return {200: {"model": model, "content": content}, **_ERRORS}


def _json(body: bytes) -> Response:
    return Response(body, media_type=JSON)


def _csv(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([_cell(v) for v in row] for row in rows)
    return Response(out.getvalue(), media_type=CSV)


def _cell(value: Any) -> Any:
    """A cell a spreadsheet will not run as a formula; lists joined by spaces."""
    if isinstance(value, list):
        value = " ".join(str(v) for v in value)
    if isinstance(value, str) and value[:1] in ("=", "+", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def _rows(items: list[dict[str, Any]], fields: Sequence[str]) -> Iterable[list[Any]]:
    return ([item.get(f) for f in fields] for item in items)


def api_router(ctx: WebContext) -> APIRouter:
    """The read API over `ctx`: overview, incidents, measurements, series, cases, catalog."""
    router = APIRouter(prefix=PREFIX, tags=["read"])

    def platform_name(platform: str | None) -> str | None:
        if platform is None:
            return None
        try:
            return ctx.catalog.get(platform).name
        except CatalogError as exc:
            raise InvalidParameter(f"platform: {exc}") from None

    async def filters(  # async: FastAPI runs a plain def dependency in the thread pool
        cc: CcQ = None,
        platform: PlatformQ = None,
        network: NetworkQ = None,
        technique: TechniqueQ = None,
        since: SinceQ = None,
        until: UntilQ = None,
        ongoing: OngoingQ = None,
    ) -> q.Filters:
        return q.Filters(cc, platform_name(platform), network, technique, since, until, ongoing)

    FiltersD = Annotated[q.Filters, Depends(filters)]

    def cached_json(key: tuple[Any, ...], make: Callable[[], Any]) -> Response:
        return _json(ctx.cached(("api", *key), lambda: q.to_json(make()), keep=False))

    async def answer(key: tuple[Any, ...], make: Callable[[], Any]) -> Response:
        """A cached answer straight from the event loop (a dict lookup); only a miss goes
        to the thread pool, where DuckDB and detection may take their time."""
        hit = ctx.peek(("api", *key))
        if hit is not None:
            return _json(hit)
        return await run_in_threadpool(cached_json, key, make)

    async def in_pool(work: Callable[[], Response]) -> Response:
        return await run_in_threadpool(work)

    @router.get("/overview", responses=_ok(m.Overview), summary="State per country and platform")
    async def get_overview(format: FormatQ = "json") -> Response:
        """Per (country, platform): blocked or accessible at the end of its data, and since
        when (the ongoing incident's start, or the last incident's end)."""
        if format == "csv":
            return await in_pool(lambda: _csv(_OVERVIEW_CSV, _rows(q.overview(ctx), _OVERVIEW_CSV)))
        return await answer(("overview",), lambda: {"items": q.overview(ctx)})

    @router.get("/incidents", responses=_ok(m.Incidents), summary="Incidents (detected)")
    async def get_incidents(f: FiltersD, format: FormatQ = "json") -> Response:
        """Incidents as `reachwatch detect --json` gives them, computed from the store per
        (country, platform) once per store generation, oldest first. `network`: involves that
        network; `technique`: seen in it; `since`/`until`: overlaps that span; `ongoing`: no
        end yet. CSV: one row per incident and network."""
        if format == "csv":
            return await in_pool(lambda: _csv(_INCIDENT_CSV, _incident_rows(q.incidents(ctx, f))))
        return await answer(("incidents", f), lambda: {"items": q.incidents(ctx, f)})

    @router.get(
        "/incidents/{incident_id}",
        responses={200: {"model": m.Incident}, **_NOT_FOUND, **_ERRORS},
        summary="One incident by its id",
    )
    async def get_incident(
        incident_id: Annotated[
            str, Path(min_length=1, max_length=128, description="`id` of an incident")
        ],
    ) -> Response:
        """The incident as `/incidents` lists it (ids look like PK-x-20240217T1506Z)."""
        return await answer(("incident", incident_id), lambda: q.incident(ctx, incident_id))

    @router.get("/measurements", responses=_ok(m.Measurements), summary="Measurements, paged")
    async def get_measurements(
        f: FiltersD,
        verdict: Annotated[q.Verdict | None, Query(description="Overall verdict")] = None,
        rule: Annotated[
            str | None,
            Query(pattern=r"^[a-z0-9_.]{1,64}$", description="A rule that fired on a layer"),
        ] = None,
        cursor: Annotated[
            str | None, Query(max_length=512, description="`next_cursor` of the previous page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=q.MAX_LIMIT)] = 100,
        format: FormatQ = "json",
    ) -> Response:
        """Measurements newest first, ordered by start time then id (total and stable), in
        pages: pass `next_cursor` as `cursor` for the next one. `ongoing` selects measurements
        taken on a network during an ongoing (true) or ended (false) incident there. CSV: the
        next cursor is in the `X-Next-Cursor` header."""
        full = q.Filters(
            f.cc, f.platform, f.network, f.technique, f.since, f.until, f.ongoing, verdict, rule
        )
        if format == "csv":
            return await in_pool(lambda: _measurements_csv(ctx, full, cursor, limit))

        def page(found: q.Page) -> dict[str, Any]:
            return {"items": found.items, "next_cursor": found.next_cursor, "limit": found.limit}

        # From memory on the event loop when it can (about a millisecond): a trip to the
        # thread pool costs more than the page, and a miss per request is the common case.
        quick = q.measurements_in_memory(ctx, full, cursor, limit)
        if quick is not None:
            return _json(q.to_json(page(quick)))
        return await answer(
            ("page", full, cursor, limit), lambda: page(q.measurements(ctx, full, cursor, limit))
        )

    IdP = Annotated[str, Path(min_length=1, max_length=256, description="Measurement id")]

    @router.get(
        "/measurements/{measurement_id}",
        responses={200: {"model": m.Measurement}, **_NOT_FOUND, **_ERRORS},
        summary="One measurement (what `reachwatch show` prints)",
    )
    async def get_measurement(measurement_id: IdP) -> Response:
        """The stored measurement: its row, its exact bytes (parsed, and in base64) with their
        SHA-256 checked, the facts read from them, and its verdicts per host, address and layer
        with the rule id of each."""
        return await in_pool(lambda: _json(q.to_json(q.measurement(ctx, measurement_id))))

    @router.get(
        "/measurements/{measurement_id}/raw",
        responses={
            200: {"content": {"application/octet-stream": {"schema": {"type": "string"}}}},
            **_NOT_FOUND,
            **_ERRORS,
        },
        summary="The measurement's exact stored bytes",
        response_class=Response,
    )
    async def get_measurement_raw(measurement_id: IdP) -> Response:
        """The bytes as read at ingest (their SHA-256 is `raw_sha256`)."""
        return await in_pool(lambda: _raw(ctx, measurement_id))

    @router.get("/series", responses=_ok(m.Series), summary="Verdict counts per hour or day")
    async def get_series(
        cc: CcQ = None,
        platform: PlatformQ = None,
        network: NetworkQ = None,
        since: SinceQ = None,
        until: UntilQ = None,
        bucket: Annotated[q.Bucket, Query(description="hour or day (UTC)")] = "hour",
        format: FormatQ = "json",
    ) -> Response:
        """Measurements per overall verdict (blocked, ok = accessible, down, inconclusive) per
        hour or day, network and platform. A bucket without measurements is absent: no data
        says nothing about blocking."""
        f = q.Filters(cc, platform_name(platform), network, None, since, until)
        if format == "csv":
            return await in_pool(
                lambda: _csv(q.SERIES_FIELDS, _rows(q.series(ctx, f, bucket), q.SERIES_FIELDS))
            )
        return await answer(
            ("series", f, bucket), lambda: {"bucket": bucket, "items": q.series(ctx, f, bucket)}
        )

    @router.get("/cases", responses=_ok(m.Cases), summary="Cases and their directives")
    async def get_cases(format: FormatQ = "json") -> Response:
        """Every case served, its headline and whether each directive was followed."""
        if format == "json":
            return await answer(("cases",), lambda: {"items": q.cases(ctx)})
        return await in_pool(lambda: _cases_csv(ctx))

    @router.get(
        "/cases/{case_id}",
        responses={200: {"model": m.CaseDocument}, **_NOT_FOUND, **_ERRORS},
        summary="One case: events and the compliance of every order",
    )
    async def get_case(
        case_id: Annotated[str, Path(min_length=1, max_length=128, description="Case id")],
    ) -> Response:
        """`reachwatch case check CASE --json` and the case's dated, sourced events."""
        return await answer(("case", case_id), lambda: q.case(ctx, case_id))

    @router.get("/catalog", responses=_ok(m.CatalogModel), summary="The platform catalog")
    async def get_catalog(format: FormatQ = "json") -> Response:
        """Platforms: their domains, hosts with URLs and roles, and ASNs."""
        items = q.catalog(ctx)
        if format == "csv":
            rows = ([p["name"], h["host"], h["role"], h["urls"]] for p in items for h in p["hosts"])
            return _csv(("platform", "host", "role", "urls"), rows)
        return await answer(("catalog",), lambda: {"items": items})

    return router


_OVERVIEW_CSV = (
    "cc", "platform", "state", "since", "first_data", "last_data", "measurements",
    "blocked_measurements", "networks", "incidents", "ongoing_incident", "techniques",
)  # fmt: skip
_INCIDENT_CSV = (
    "incident", "cc", "platform", "network", "start", "start_earliest", "start_latest", "end",
    "techniques", "blocked_measurements", "measurements",
)  # fmt: skip


def _incident_rows(items: list[dict[str, Any]]) -> Iterable[list[Any]]:
    for inc in items:
        for n in inc["networks"]:
            bounds = n["start_bounds"] or [None, None]
            yield [
                inc["id"], inc["cc"], inc["platform"], n["network"], n["start"], *bounds,
                n["end"], n["techniques"], n["blocked_measurements"], n["measurements"],
            ]  # fmt: skip


def _raw(ctx: WebContext, measurement_id: str) -> Response:
    return Response(q.measurement_bytes(ctx, measurement_id), media_type="application/octet-stream")


def _measurements_csv(ctx: WebContext, f: q.Filters, cursor: str | None, limit: int) -> Response:
    page = q.measurements(ctx, f, cursor, limit)
    out = _csv(q.MEASUREMENT_FIELDS, _rows(page.items, q.MEASUREMENT_FIELDS))
    if page.next_cursor:
        out.headers["X-Next-Cursor"] = page.next_cursor
    return out


def _cases_csv(ctx: WebContext) -> Response:
    rows = (
        [c["case"], d["id"], d["date"], d["label"], d["requires"], d["due"], d["status"]]
        for c in q.cases(ctx)
        for d in c["directives"]
    )
    return _csv(("case", "directive", "date", "label", "requires", "due", "status"), rows)
