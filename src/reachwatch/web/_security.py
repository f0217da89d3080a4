"""Response headers set on purpose, for every answer of the service.

- CORS: any origin may read the read-only API (`GET`/`HEAD` under `/api/`, and the preflight
  for them): the data is public and no request carries credentials. Nothing else is shared
  across origins: no CORS header on pages, and a preflight for any other method is not granted,
  so a page elsewhere cannot make a browser send a write.
- `Content-Security-Policy: default-src 'self'` (no inline script, no other host) and
  `frame-ancestors 'none'` (no framing, with `X-Frame-Options: DENY` for older browsers).
- `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`,
  `Cross-Origin-Opener-Policy: same-origin`, and a `Permissions-Policy` that turns off what a
  dashboard never needs.
"""

from __future__ import annotations

import logging

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reachwatch.web._errors import error_body

log = logging.getLogger("reachwatch.web")

CSP = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
}
CORS_METHODS = ("GET", "HEAD")
API_PREFIX = "/api/"


class SecurityHeaders:
    """ASGI middleware: the headers above on every response, CORS on the read API."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        method: str = scope["method"]
        api = path.startswith(API_PREFIX)
        if api and method == "OPTIONS" and _preflight_for_read(scope):
            await _grant_preflight(send)
            return
        shared = api and method in CORS_METHODS

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name not in headers:
                        headers[name] = value
                if shared:
                    headers["Access-Control-Allow-Origin"] = "*"
            await send(message)

        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            # A fault below: answered here, with these headers, as the one error body (the
            # server's own handler would answer without them, or with a traceback in debug).
            log.exception("internal error on %s %s", method, path)
            if started:
                raise
            await send_with_headers(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            body = error_body("internal_error", "internal error (logged on the server)")
            await send_with_headers({"type": "http.response.body", "body": body})


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _preflight_for_read(scope: Scope) -> bool:
    wanted = _header(scope, b"access-control-request-method")
    return _header(scope, b"origin") is not None and wanted in CORS_METHODS


async def _grant_preflight(send: Send) -> None:
    headers = [
        (b"access-control-allow-origin", b"*"),
        (b"access-control-allow-methods", ", ".join(CORS_METHODS).encode()),
        (b"access-control-max-age", b"600"),
        (b"content-length", b"0"),
        *((k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()),
    ]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})
