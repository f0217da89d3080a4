"""The web service: `create_app(db)` is the FastAPI application `reachwatch serve` runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from importlib.metadata import version
from pathlib import Path

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reachwatch.cases import Case, load_case, shipped_cases
from reachwatch.web import _queries as q
from reachwatch.web._api import api_router
from reachwatch.web._context import PATIENCE, WebContext
from reachwatch.web._docs import docs_router
from reachwatch.web._errors import install_error_handlers
from reachwatch.web._pages import install_html_not_found, pages_router
from reachwatch.web._security import SecurityHeaders

log = logging.getLogger("reachwatch.web")


class HeadAsGet:
    """ASGI middleware: `HEAD` answered as `GET` without the body (HTTP's meaning of HEAD),
    for every read route, without a second route per path in the OpenAPI document."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


DESCRIPTION = (
    "Read-only answers from a reachwatch store: the state per country and platform, incidents "
    "(detected, with bounds and evidence ids), measurements with their bytes, facts and "
    "verdicts, verdict counts per hour or day, cases and the compliance of every order, and "
    "the platform catalog. Times are UTC, ISO 8601 with Z. Errors are "
    '{"error": code, "message": one line}. No token is needed to read.'
)


def default_cases() -> list[Case]:
    """The cases shipped with reachwatch, the ones `serve` checks against its store."""
    return [load_case(name) for name in shipped_cases()]


def warm(ctx: WebContext) -> None:
    """Compute what every visitor asks first (overview, incidents, the measurements' listing,
    series, cases), so the first requests after a start do not each wait for detection."""
    PATIENCE.set(None)  # this thread's own context: it waits for whatever it needs
    try:
        q.overview(ctx)
        q.incidents(ctx, q.Filters())
        q.measurements(ctx, q.Filters(), limit=1)  # builds the in-memory listing
        q.series(ctx, q.Filters(), "day")
        q.cases(ctx)
    except Exception:  # a request will meet the same failure and answer it as an error
        log.exception("warming the caches failed")


def create_app(
    db: Path,
    *,
    cases: Sequence[Case] | None = None,
    signing_key: Path | None = None,
    warm_caches: bool = True,
) -> FastAPI:
    """The service over the store at `db` (NotAStore, StoreDamaged when it is not one):
    the API under /api/v1/, its OpenAPI document and docs page. `cases` default to the
    shipped ones; `signing_key` is kept on `app.state` for what signs answers."""
    ctx = WebContext(db, cases=default_cases() if cases is None else cases)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_caches:
            threading.Thread(target=warm, args=(ctx,), name="reachwatch-warm", daemon=True).start()
        yield

    app = FastAPI(
        title="reachwatch",
        version=version("reachwatch"),
        description=DESCRIPTION,
        openapi_url="/api/v1/openapi.json",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    app.state.signing_key = signing_key
    install_error_handlers(app)
    app.include_router(api_router(ctx))
    app.include_router(docs_router(app))
    app.include_router(pages_router(ctx, signing_key=signing_key))
    install_html_not_found(app, ctx)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)  # added last: outermost, so it sees every answer
    return app
