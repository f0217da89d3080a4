"""`POST /api/v1/measurements`: probes upload measurements; `GET /api/v1/submissions/{receipt}`
tells what became of them.

A request is checked in this order, each failure one JSON error `{"error", "message"}`:
bearer token (401 missing or unknown, 403 revoked), body size (413), content type (415), JSON
(400), measurement count (413) and the submission schema (422, naming the measurement and
field), then the token's rate (429 with Retry-After). An upload that passes is spooled and
fsynced (`_spool`), then queued for the store's one writer (`_queue`): from then on it is not
lost, whatever happens to the server. The answer waits up to `wait` seconds for the writer:
201 with each measurement's outcome (stored, duplicate, quarantined with its reason) when it
came in time, else 202 with the receipt to ask about later. Both carry the receipt.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import jsonschema
import orjson
from fastapi import APIRouter, FastAPI, Query, Request, Security
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from reachwatch.formats.ids import measurement_id
from reachwatch.web._errors import ErrorBody
from reachwatch.web._limits import RateLimiter, SubmitLimits
from reachwatch.web._queue import Job, QueueClosed, Replayed, WriteQueue
from reachwatch.web._spool import SpoolError
from reachwatch.web._tokens import TokenError, TokenStore

_JSON_TYPES = {"application/json", ""}
_LINES_TYPES = {"application/x-ndjson", "application/jsonl", "application/jsonlines"}
_MAX_WAIT = 60.0


@dataclass(slots=True)
class _Refused(Exception):
    status: int
    error: str
    message: str
    headers: dict[str, str] = field(default_factory=dict)

    def response(self) -> JSONResponse:
        body = {"error": self.error, "message": self.message}
        return JSONResponse(body, status_code=self.status, headers=self.headers)


@cache
def submission_schema() -> dict[str, Any]:
    text = (resources.files("reachwatch.web") / "submission.schema.json").read_text()
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(submission_schema())


def submissions_router(
    db: Path, tokens: TokenStore, queue: WriteQueue, limits: SubmitLimits
) -> APIRouter:
    """The upload routes over the store at `db`, its tokens and its writer queue."""
    router = APIRouter(prefix="/api/v1", tags=["submissions"])
    limiter = RateLimiter(limits.rate_per_minute, limits.burst)

    @router.post(
        "/measurements",
        status_code=202,
        summary="Upload measurements (bearer token; docs/submissions.md)",
        responses={
            201: {"description": "Stored: each measurement's outcome"},
            202: {"description": "Spooled (on disk): ask the receipt for the outcome"},
            **_errors(400, 401, 403, 413, 415, 422, 429, 503),
        },
    )
    async def submit_measurements(
        request: Request,
        wait: float | None = Query(None, ge=0, description="Seconds to wait for the outcome."),
        _bearer: _Bearer = None,
    ) -> JSONResponse:
        try:
            name = _authorize(request, tokens)
            body = await _read_body(request, limits.max_body_bytes)
            kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
            ids, raws = await run_in_threadpool(_parse, body, kind, limits.max_measurements)
            retry = limiter.take(name, len(raws))
            if retry:
                raise _Refused(
                    429,
                    "rate_limited",
                    f"token {name!r} may send {limits.rate_per_minute:g} measurements a minute "
                    f"(bursts of {limits.burst}); retry in {math.ceil(retry)} s",
                    {"Retry-After": str(math.ceil(retry))},
                )
            job = await run_in_threadpool(queue.submit, name, ids, raws)
        except _Refused as refused:
            return refused.response()
        except (QueueClosed, SpoolError) as exc:
            return _Refused(503, "not_accepting", str(exc), {"Retry-After": "30"}).response()
        chosen = limits.wait_seconds if wait is None else wait
        await _wait_for(job, min(chosen, _MAX_WAIT))
        doc = job.to_json()
        status = 201 if doc["status"] == "done" else 202
        location = f"/api/v1/submissions/{job.receipt}"
        return JSONResponse(doc, status_code=status, headers={"Location": location})

    @router.get("/submissions/schema", summary="The JSON Schema every upload must fit")
    async def schema() -> dict[str, Any]:
        return submission_schema()

    @router.get(
        "/submissions/{receipt}",
        summary="What became of an upload (its token only)",
        responses=_errors(401, 403, 404, 503),
    )
    async def submission(request: Request, receipt: str, _bearer: _Bearer = None) -> JSONResponse:
        try:
            name = _authorize(request, tokens)
            job = queue.receipt(receipt)
            if job is None:
                raise _Refused(
                    404,
                    "no_such_receipt",
                    f"no receipt {receipt[:40]!r} (the server remembers the latest uploads "
                    "of its run; look measurements up by id)",
                )
            if job.token != name:
                raise _Refused(403, "forbidden", "this receipt belongs to another token")
        except _Refused as refused:
            return refused.response()
        return JSONResponse(job.to_json())

    return router


# Declared for the OpenAPI document (the lock on the docs page); _authorize reads the header.
_BEARER = HTTPBearer(auto_error=False, description="An upload token (`serve tokens add NAME`)")
_Bearer = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
_WHY = {
    400: "The body is not JSON",
    401: "No token, or a token never issued",
    403: "A revoked token, or another token's receipt",
    404: "No such receipt",
    413: "Too many bytes or measurements",
    415: "Neither JSON nor JSON lines",
    422: "A measurement does not fit the submission schema",
    429: "Over the token's rate (Retry-After)",
    503: "Not taking uploads now (Retry-After)",
}


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": ErrorBody, "description": _WHY[code]} for code in codes}


def _authorize(request: Request, tokens: TokenStore) -> str:
    """The token's name; 401 or 403 otherwise (503 when the token file became unreadable)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    challenge = {"WWW-Authenticate": 'Bearer realm="reachwatch"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise _Refused(
            401, "unauthorized", "send the upload token as `Authorization: Bearer TOKEN`", challenge
        )
    try:
        check = tokens.check(token.strip())
    except TokenError as exc:
        raise _Refused(503, "tokens_unavailable", str(exc), {"Retry-After": "30"}) from None
    if check.problem == "revoked":
        raise _Refused(403, "token_revoked", f"token {check.name!r} was revoked")
    if check.name is None:
        message = "unknown token (see `reachwatch serve tokens list`)"
        raise _Refused(401, "bad_token", message, challenge)
    return check.name


async def _read_body(request: Request, limit: int) -> bytes:
    too_big = _Refused(413, "body_too_large", f"the body is over {limit} bytes; send fewer "
                       "measurements per request")  # fmt: skip
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_big
        chunks.append(chunk)
    return b"".join(chunks)


def _parse(body: bytes, kind: str, most: int) -> tuple[list[str], list[bytes]]:
    """Each measurement's id and the bytes to store for it. A JSON body (`{"measurements":
    [...]}` or an array) has each measurement stored as compact JSON; a JSON lines body
    (application/x-ndjson) has each line stored exactly as sent."""
    if kind in _LINES_TYPES:
        values, raws = _lines(body)
    elif kind in _JSON_TYPES:
        values = _document(body)
        raws = []
    else:
        raise _Refused(415, "unsupported_media_type", f"send application/json or "
                       f"application/x-ndjson, not {kind[:60]!r}")  # fmt: skip
    if not values:
        raise _Refused(422, "invalid", "measurements: no measurement in the body")
    if len(values) > most:
        raise _Refused(413, "too_many_measurements", f"{len(values)} measurements in one "
                       f"request; at most {most}")  # fmt: skip
    validator = _validator()
    for i, value in enumerate(values):
        _check(validator, i, value)
    if not raws:
        raws = [orjson.dumps(value) for value in values]
    return [measurement_id(value) for value in values], raws


def _lines(body: bytes) -> tuple[list[Any], list[bytes]]:
    values: list[Any] = []
    raws: list[bytes] = []
    for number, line in enumerate(body.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            values.append(orjson.loads(line))
        except orjson.JSONDecodeError as exc:
            raise _Refused(400, "bad_json", f"line {number}: not JSON ({exc})") from None
        raws.append(line)
    return values, raws


def _document(body: bytes) -> list[Any]:
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise _Refused(400, "bad_json", f"the body is not JSON ({exc})") from None
    if isinstance(doc, dict):
        if "measurements" not in doc:
            raise _Refused(422, "invalid", 'measurements: missing (send {"measurements": [...]})')
        doc = doc["measurements"]
    if not isinstance(doc, list):
        raise _Refused(422, "invalid", "measurements: not an array")
    return doc


def _check(validator: jsonschema.Draft202012Validator, index: int, value: Any) -> None:
    if not isinstance(value, Mapping):
        raise _Refused(422, "invalid", f"measurements[{index}]: not an object")
    if fits_schema(value):
        return
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is None:
        return
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    message = " ".join(error.message.split())
    if len(message) > 160:
        message = message[:157] + "..."
    raise _Refused(422, "invalid", f"measurements[{index}]{where}: {message}")


_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}")
_CC = re.compile(r"[A-Z]{2}")
_ASN = re.compile(r"AS[0-9]{1,10}")


def fits_schema(value: Mapping[str, Any]) -> bool:
    """True only when `value` fits submission.schema.json: the fast path of the schema check
    (jsonschema took about 150 us a measurement, as long as storing it). False is not a
    verdict: jsonschema then decides, and names the field. tests/submit checks that True
    never disagrees with jsonschema."""
    get = value.get
    name, start, cc, asn = (
        get("test_name"),
        get("measurement_start_time"),
        get("probe_cc"),
        get("probe_asn"),
    )
    if not (type(name) is str and 1 <= len(name) <= 100):
        return False
    if not (type(start) is str and _TIME.match(start)):
        return False
    if not (type(cc) is str and _CC.fullmatch(cc) and type(asn) is str and _ASN.fullmatch(asn)):
        return False
    if type(get("test_keys")) is not dict:
        return False
    return all(key not in value or fits(value[key]) for key, fits in _OPTIONAL)


def _fits_input(value: Any) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return len(value) <= 8192
    return type(value) is list and all(type(v) is str for v in value)


_OPTIONAL: tuple[tuple[str, Callable[[Any], bool]], ...] = (
    ("measurement_uid", lambda v: type(v) is str and 1 <= len(v) <= 200),
    ("report_id", lambda v: type(v) is str and len(v) <= 200),
    ("input", _fits_input),
    ("software_name", lambda v: type(v) is str),
    ("annotations", lambda v: type(v) is dict),
)


async def _wait_for(job: Job, seconds: float) -> None:
    """Until the writer has stored `job` or `seconds` passed, without holding a thread."""
    if seconds <= 0 or job.done:
        return
    loop = asyncio.get_running_loop()
    woken: asyncio.Future[None] = loop.create_future()

    def wake() -> None:  # runs on the writer thread
        def settle() -> None:
            if not woken.done():
                woken.set_result(None)

        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle)

    job.on_done(wake)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(woken, seconds)


@dataclass(slots=True)
class Submissions:
    """What `serve` needs for uploads: the tokens, the writer queue (started), the limits."""

    db: Path
    tokens: TokenStore
    queue: WriteQueue
    limits: SubmitLimits
    replayed: Replayed

    def router(self) -> APIRouter:
        return submissions_router(self.db, self.tokens, self.queue, self.limits)

    def attach(self, app: FastAPI) -> None:
        """Serve the upload routes on `app`, and close the queue when the app shuts down
        (uvicorn's graceful stop on SIGTERM or Ctrl-C runs the lifespan's end)."""
        app.include_router(self.router())
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(application: Any) -> AsyncIterator[Any]:
            async with inner(application) as state:
                try:
                    yield state
                finally:
                    await run_in_threadpool(self.close)

        app.router.lifespan_context = lifespan

    def close(self) -> None:
        """Store what is queued and release the store's writer lock."""
        self.queue.close()


def open_submissions(
    db: Path, limits: SubmitLimits | None = None, *, holder: str = "", linger: float = 1.0
) -> Submissions:
    """Take the store's writer lock (StoreBusy when an ingest holds it), store what an
    earlier run left in the spool, and start the writer. Refuses a token file that is not
    reachwatch's (TokenError) before anything else. `linger`: seconds the writer gathers
    uploads into one store commit (each commit is new Parquet files and a new generation for
    readers)."""
    db = Path(db)
    tokens = TokenStore(db)
    tokens.tokens()
    queue = WriteQueue(db, holder=holder, linger=linger)
    replayed = queue.start()
    return Submissions(db, tokens, queue, limits or SubmitLimits(), replayed)
