"""DNS over HTTPS (RFC 8484): POST and GET of application/dns-message, over TLS."""

from __future__ import annotations

import asyncio
import base64
import binascii
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from reachwatch.lab.servers._dns import DnsPolicy, DnsResponder
from reachwatch.lab.servers._http import Request, send
from reachwatch.lab.servers._web import WebServer

DNS_MESSAGE = "application/dns-message"


@dataclass(frozen=True)
class DohEndpoint:
    """The /dns-query behaviour: answers with `responder`, 504 when it stays silent (dropped)."""

    responder: DnsResponder

    async def respond(self, request: Request, writer: asyncio.StreamWriter) -> None:
        if request.method == "POST":
            if request.headers.get("content-type", "").split(";")[0].strip() != DNS_MESSAGE:
                await send(writer, 415, b"expected application/dns-message")
                return
            wire = request.body
        elif request.method == "GET":
            encoded = request.query.get("dns", [""])[0]
            try:
                wire = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                await send(writer, 400, b"bad dns parameter")
                return
        else:
            await send(writer, 405, b"GET or POST")
            return
        answer = await self.responder.respond(wire)
        if answer is None:
            await send(writer, 504, b"no answer")
            return
        await send(
            writer, 200, answer, {"Content-Type": DNS_MESSAGE, "Cache-Control": "max-age=60"}
        )


class DohServer(WebServer):
    """A DoH server at https://HOST:PORT/dns-query answering from `zone` under `policy`."""

    def __init__(
        self,
        zone: Mapping[str, Sequence[str]],
        *,
        ssl_context: ssl.SSLContext,
        host: str = "127.0.0.1",
        port: int = 0,
        policy: DnsPolicy | None = None,
        path: str = "/dns-query",
    ) -> None:
        super().__init__(
            {"*": {path: DohEndpoint(DnsResponder(zone, policy))}},
            host=host,
            port=port,
            ssl_context=ssl_context,
        )
        self.path = path

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}{self.path}"
