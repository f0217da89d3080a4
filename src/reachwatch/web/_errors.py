"""The one error body of the web service, `{"error": "<short code>", "message": "<one line>"}`,
for every failure: a refused request, an unknown path or method, a parameter that does not
validate, a store that cannot be read, and a fault in reachwatch itself (logged on the server,
never sent to the client as a traceback)."""

from __future__ import annotations

import logging

import duckdb
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from reachwatch.errors import ReachwatchError
from reachwatch.store import NoSuchMeasurement, StoreError

log = logging.getLogger("reachwatch.web")


class ErrorBody(BaseModel):
    """What every error answers."""

    error: str
    message: str


class WebError(ReachwatchError):
    """A request the service refuses: `status` is its HTTP status, `code` the body's error."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] = {}  # noqa: RUF012 (read only)


class Warming(WebError):
    """An answer still being computed from the store (after a start or a store change) did
    not come within the time a request waits for it."""

    status = 503
    code = "warming"
    headers = {"Retry-After": "10"}  # noqa: RUF012 (read only)


class NotFound(WebError):
    status = 404
    code = "not_found"


class InvalidParameter(WebError):
    status = 422
    code = "invalid_parameter"


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def one_line(text: str) -> str:
    """The first line of `text`, at most 300 characters: never a multi-line dump."""
    lines = text.strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= 300 else line[:297] + "..."


def error_body(code: str, message: str) -> bytes:
    return orjson.dumps({"error": code, "message": one_line(message)})


def error_response(status: int, code: str, message: str) -> Response:
    return Response(error_body(code, message), status_code=status, media_type="application/json")


def _validation_message(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "invalid request"
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in ("query", "path", "body"))
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where or 'request'}: {first.get('msg', 'invalid')}{more}"


def install_error_handlers(app: FastAPI) -> None:
    """Every failure of `app` answered with the error body."""

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = str(exc.detail) if exc.detail else code.replace("_", " ")
        if exc.status_code == 404 and exc.detail == "Not Found":
            message = f"no such path: {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        response = error_response(exc.status_code, code, message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, "invalid_parameter", _validation_message(exc))

    async def refused(request: Request, exc: Exception) -> Response:
        if isinstance(exc, WebError):
            response = error_response(exc.status, exc.code, str(exc))
            response.headers.update(exc.headers)
            return response
        if isinstance(exc, NoSuchMeasurement):
            return error_response(404, "not_found", str(exc))
        if isinstance(exc, StoreError):
            return error_response(503, "store_unavailable", str(exc))
        return error_response(400, "bad_request", str(exc))

    async def store_failed(request: Request, exc: Exception) -> Response:
        log.error("store query failed on %s: %s", request.url.path, one_line(str(exc)))
        return error_response(
            503, "store_unreadable", "the store could not be read; see `reachwatch store check`"
        )

    async def fault(request: Request, exc: Exception) -> Response:
        log.exception("internal error on %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", "internal error (logged on the server)")

    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(ReachwatchError, refused)
    app.add_exception_handler(duckdb.Error, store_failed)
    app.add_exception_handler(Exception, fault)
