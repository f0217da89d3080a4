"""The dashboard: server-rendered pages over the query layer, the same answers as the API.

    /                         the state per country and platform, incidents, cases
    /incidents/{id}           timelines per network with the case's events, as in the report
    /measurements             the explorer: the API's filters as a plain GET form
    /measurements/{id}        raw bytes, facts, verdicts with their rule ids
    /cases, /cases/{id}       the compliance of every order of a case
    /cases/{id}/report.html   the case's report, made from the store now
    /cases/{id}/evidence.zip  its signed evidence bundle (when the server has a signing key)

Every page is complete without script; charts are the report's inline SVG; the stylesheet
and icon come from this server, so a page makes no request to any other host.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.exceptions import HTTPException

from reachwatch.errors import ReachwatchError
from reachwatch.evidence import load_private_key
from reachwatch.store import NoSuchMeasurement
from reachwatch.web import _views as views
from reachwatch.web._context import WebContext
from reachwatch.web._downloads import NO_KEY, Downloads
from reachwatch.web._errors import NotFound, Warming
from reachwatch.web._explorer import explore
from reachwatch.web._render import PAGE_HEADERS, page, static_file

STATIC = {"style.css": "text/css; charset=utf-8", "favicon.svg": "image/svg+xml"}
P = ParamSpec("P")


def _patient(route: Callable[P, Response]) -> Callable[P, Response]:
    """A page whose answer is still being computed (just after a start or a store change)
    says so as a page, with Retry-After, instead of the API's JSON error."""

    @functools.wraps(route)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Response:
        try:
            return route(*args, **kwargs)
        except Warming as exc:
            request = kwargs.get("request")
            assert isinstance(request, Request)
            return page(
                request, "error.html", title="Still computing", message=f"{exc}.",
                store="", status_code=exc.status, headers=exc.headers,
            )  # fmt: skip

    return wrapper


def pages_router(ctx: WebContext, *, signing_key: Path | None = None) -> APIRouter:
    """The dashboard's routes over `ctx`; with `signing_key` (a private key file, loaded now so
    that a bad one stops the server at start) case pages offer a signed evidence bundle."""
    downloads = Downloads(ctx, load_private_key(signing_key) if signing_key else None)
    router = APIRouter(include_in_schema=False)
    # The store's folder name, not its path: a path on the server is nobody's business.
    store = ctx.db.absolute().name

    def show(request: Request, template: str, **values: Any) -> HTMLResponse:
        values.setdefault("synthetic", views.is_synthetic(ctx))
        return page(request, template, store=store, **values)

    def missing(request: Request, exc: ReachwatchError) -> HTMLResponse:
        return show(request, "error.html", title="Not found", message=str(exc), status_code=404)

    @router.get("/", response_class=HTMLResponse)
    @_patient
    def overview_page(request: Request) -> HTMLResponse:
        return show(request, "overview.html", title="Overview", section="overview",
                    **views.overview(ctx))  # fmt: skip

    @router.get("/incidents/{incident_id}", response_class=HTMLResponse)
    @_patient
    def incident_page(request: Request, incident_id: str) -> HTMLResponse:
        try:
            values = views.incident(ctx, incident_id)
        except NotFound as exc:
            return missing(request, exc)
        crumbs = (("Overview", "/"), (values["title"], None))
        return show(request, "incident.html", section="overview", crumbs=crumbs, **values)

    @router.get("/measurements", response_class=HTMLResponse)
    @_patient
    def explorer_page(request: Request) -> HTMLResponse:
        values = explore(ctx, dict(request.query_params))
        status = 422 if values["error"] else 200
        return show(request, "measurements.html", title="Measurements", section="measurements",
                    status_code=status, **values)  # fmt: skip

    @router.get("/measurements/{measurement_id}", response_class=HTMLResponse)
    @_patient
    def measurement_page(request: Request, measurement_id: str) -> HTMLResponse:
        try:
            values = views.measurement(ctx, measurement_id)
        except (NoSuchMeasurement, NotFound) as exc:
            return missing(request, exc)
        crumbs = (("Measurements", "/measurements"), (values["id"], None))
        return show(request, "measurement.html", title=f"Measurement {values['id']}",
                    section="measurements", crumbs=crumbs, **values)  # fmt: skip

    @router.get("/cases", response_class=HTMLResponse)
    @_patient
    def cases_page(request: Request) -> HTMLResponse:
        return show(request, "cases.html", title="Cases", section="cases",
                    cases=views.case_links(ctx))  # fmt: skip

    @router.get("/cases/{case_id}", response_class=HTMLResponse)
    @_patient
    def case_page(request: Request, case_id: str) -> HTMLResponse:
        try:
            values = views.case(ctx, case_id)
        except NotFound as exc:
            return missing(request, exc)
        href = views.case_href(case_id)
        crumbs = (("Cases", "/cases"), (values["case"]["title"], None))
        return show(
            request, "case.html", title=values["case"]["title"], section="cases", crumbs=crumbs,
            report_href=f"{href}/report.html",
            bundle_href=f"{href}/evidence.zip" if downloads.can_sign else None,
            bundle_note=None if downloads.can_sign else NO_KEY,
            **values,
        )  # fmt: skip

    @router.get("/cases/{case_id}/report.html", response_class=HTMLResponse)
    @_patient
    def report_download(request: Request, case_id: str) -> Response:
        case = next((c for c in ctx.cases if c.id == case_id), None)
        if case is None:
            return missing(request, NotFound(f"no case {case_id!r}"))
        report = downloads.report(case)
        # The report's own meta tag forbids every request; served inline, saved under its name.
        return HTMLResponse(report.html, headers={
            "Content-Disposition": f'inline; filename="{case.id}-report.html"',
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
            "img-src data:",
        })  # fmt: skip

    @router.get("/cases/{case_id}/evidence.zip")
    @_patient
    def bundle_download(request: Request, case_id: str) -> Response:
        case = next((c for c in ctx.cases if c.id == case_id), None)
        if case is None:
            return missing(request, NotFound(f"no case {case_id!r}"))
        if not downloads.can_sign:
            return show(request, "error.html", title="No signing key", message=NO_KEY,
                        status_code=404)  # fmt: skip
        path = downloads.bundle(case)
        return FileResponse(path, media_type="application/zip",
                            filename=f"{case.id}-evidence.zip")  # fmt: skip

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in STATIC:
            raise NotFound(f"no static file {name!r}")
        return Response(static_file(name), media_type=STATIC[name], headers={
            "Cache-Control": "public, max-age=3600", **PAGE_HEADERS,
        })  # fmt: skip

    return router


def install_html_not_found(app: FastAPI, ctx: WebContext) -> None:
    """A browser that asks for a page that does not exist (outside /api/) gets a page that
    says so; the API and scripts keep the JSON error installed before."""
    json_error = app.exception_handlers[HTTPException]
    store = ctx.db.absolute().name

    async def not_found(request: Request, exc: Exception) -> Response:
        wants_html = "text/html" in request.headers.get("accept", "")
        api = request.url.path.startswith("/api/")
        if isinstance(exc, HTTPException) and exc.status_code == 404 and wants_html and not api:
            message = f"There is no page at {request.url.path}."
            return page(
                request, "error.html", title="Not found", message=message, store=store,
                status_code=404,
            )  # fmt: skip
        answer = json_error(request, exc)
        return await answer if inspect.isawaitable(answer) else answer

    app.add_exception_handler(HTTPException, not_found)
