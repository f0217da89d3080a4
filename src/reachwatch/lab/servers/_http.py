"""A small HTTP/1.1 request reader and response writer (one request per connection)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

_MAX_HEAD = 64 * 1024
_MAX_BODY = 1024 * 1024
_REASONS = {
    200: "OK",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    415: "Unsupported Media Type",
    451: "Unavailable For Legal Reasons",
}


class BadRequest(Exception):
    """The peer did not send a request we can read."""


@dataclass(frozen=True)
class Request:
    """One HTTP request; `host` is the Host header without port (or the SNI), lower case."""

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes
    host: str
    sni: str | None

    @property
    def path(self) -> str:
        return urlsplit(self.target).path or "/"

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.target).query)


async def read_request(reader: asyncio.StreamReader, *, sni: str | None) -> Request:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
        raise BadRequest("no complete request head") from exc
    if len(head) > _MAX_HEAD:
        raise BadRequest("request head too large")
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, _version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise BadRequest("bad request line") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0") or "0")
    if length > _MAX_BODY:
        raise BadRequest("request body too large")
    body = await reader.readexactly(length) if length else b""
    host = headers.get("host", sni or "")
    if host.startswith("["):
        host = host[1 : host.index("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return Request(method.upper(), target, headers, body, host.lower(), sni)


def response_head(
    status: int, headers: Mapping[str, str] | None = None, *, length: int | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    merged = {"Server": "reachwatch-lab", "Connection": "close"}
    if length is not None:
        merged["Content-Length"] = str(length)
    merged.update(headers or {})
    lines += [f"{key}: {value}" for key, value in merged.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def send(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    headers: Mapping[str, str] | None = None,
    *,
    head_only: bool = False,
) -> None:
    writer.write(response_head(status, headers, length=len(body)))
    if not head_only:
        writer.write(body)
    await writer.drain()
