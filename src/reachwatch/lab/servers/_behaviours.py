"""What a web server does for one host: a page, a blockpage, redirects, broken bodies."""

from __future__ import annotations

import asyncio
import html
import re
from dataclasses import dataclass
from typing import Protocol

from reachwatch.lab.servers._http import Request, response_head, send

# Text of Pakistan's national blockpage, as fingerprinted by Censored Planet.
BLOCKPAGE_TEXT = "This website is prohibited for viewership from within Pakistan."
BLOCKPAGE_TITLE = "Surf Safely"


class Behaviour(Protocol):
    """Writes a whole response for `request`; the server closes the connection afterwards."""

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None: ...


def html_page(title: str, text: str = "", *, padding: int = 0) -> bytes:
    page = (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title></head>"
        f"<body><p>{html.escape(text)}</p>"
    )
    if padding:
        page += "<!--" + "." * padding + "-->"
    return (page + "</body></html>").encode()


@dataclass(frozen=True)
class Page:
    """A normal HTML page with `<title>`; `padding` adds that many bytes (for throughput).

    With `chunk_size` the body goes out in small writes, so over TLS a slow link delivers it
    record by record instead of in 16 KiB steps (a throughput sample then sees a smooth rate).
    """

    title: str
    text: str = ""
    status: int = 200
    padding: int = 0
    chunk_size: int = 0  # > 0: write the body in pieces this big (small TLS records)

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        body = html_page(self.title, self.text, padding=self.padding)
        headers = {"Content-Type": "text/html; charset=utf-8"}
        if self.chunk_size <= 0 or request.method == "HEAD":
            await send(writer, self.status, body, headers, head_only=request.method == "HEAD")
            return
        writer.write(response_head(self.status, headers, length=len(body)))
        for start in range(0, len(body), self.chunk_size):
            writer.write(body[start : start + self.chunk_size])
            await writer.drain()


def blockpage(text: str = BLOCKPAGE_TEXT, *, title: str = BLOCKPAGE_TITLE) -> Page:
    """The page a censor serves instead of the site (HTTP 200, as most national blockpages)."""
    return Page(title=title, text=text)


_HOP = re.compile(r"^/hop/(\d+)$")


@dataclass(frozen=True)
class Redirect:
    """A chain of `hops` redirects (302) ending at `location`: / -> /hop/1 -> ... -> location."""

    hops: int
    location: str
    status: int = 302

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        match = _HOP.match(request.path)
        step = int(match.group(1)) + 1 if match else 1
        target = self.location if step >= self.hops else f"/hop/{step}"
        await send(writer, self.status, b"", {"Location": target})


@dataclass(frozen=True)
class Truncated:
    """Announces `declared` bytes (Content-Length), sends only `sent` of them, then closes."""

    declared: int = 100_000
    sent: int = 1_000
    title: str = "Truncated"

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        body = html_page(self.title, padding=self.declared)[: self.sent]
        head = {"Content-Type": "text/html; charset=utf-8"}
        writer.write(response_head(200, head, length=self.declared) + body)
        await writer.drain()


@dataclass(frozen=True)
class Endless:
    """A chunked body that never ends (until the client goes away or the server stops)."""

    chunk_size: int = 16 * 1024
    title: str = "Endless"

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        head = {"Content-Type": "text/html; charset=utf-8", "Transfer-Encoding": "chunked"}
        writer.write(response_head(200, head))
        first = f"<!DOCTYPE html><html><head><title>{html.escape(self.title)}</title></head>"
        writer.write(_chunk(first.encode()))
        filler = _chunk(b"." * self.chunk_size)
        while True:
            writer.write(filler)
            await writer.drain()


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


@dataclass(frozen=True)
class Large:
    """A `size`-byte binary resource streamed in chunks, for throughput samples."""

    size: int = 8 * 1024 * 1024
    chunk_size: int = 64 * 1024

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        writer.write(
            response_head(200, {"Content-Type": "application/octet-stream"}, length=self.size)
        )
        if request.method == "HEAD":
            await writer.drain()
            return
        chunk = b"\0" * self.chunk_size
        left = self.size
        while left > 0:
            writer.write(chunk[: min(left, self.chunk_size)])
            left -= self.chunk_size
            await writer.drain()


NOT_FOUND = Page(title="Not Found", text="no such page on this lab server", status=404)
