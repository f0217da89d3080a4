"""A QUIC server (aioquic) that completes handshakes with ALPN h3 and answers GETs over HTTP/3."""

from __future__ import annotations

import asyncio
from typing import Any

from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.asyncio.server import QuicServer as _AioquicServer
from aioquic.asyncio.server import serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import HeadersReceived
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

from reachwatch.lab.servers._base import LabServer
from reachwatch.lab.servers._behaviours import html_page
from reachwatch.lab.servers._pki import CertPair


class _H3Protocol(QuicConnectionProtocol):
    """Answers every HTTP/3 request with a small page titled after the :authority."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._h3: H3Connection | None = None

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._h3 = H3Connection(self._quic)
        if self._h3 is None:
            return
        for h3_event in self._h3.handle_event(event):
            if isinstance(h3_event, HeadersReceived):
                self._answer(h3_event)

    def _answer(self, event: HeadersReceived) -> None:
        assert self._h3 is not None
        authority = dict(event.headers).get(b":authority", b"").decode("ascii", "replace")
        body = html_page(authority.split(":")[0] or "reachwatch lab", "served over HTTP/3")
        self._h3.send_headers(
            event.stream_id,
            [
                (b":status", b"200"),
                (b"content-type", b"text/html; charset=utf-8"),
                (b"content-length", str(len(body)).encode()),
            ],
        )
        self._h3.send_data(event.stream_id, body, end_stream=True)
        self.transmit()


class QuicServer(LabServer):
    """QUIC on UDP `host:port` presenting `cert` (ALPN h3 by default)."""

    def __init__(
        self,
        cert: CertPair,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        alpn: tuple[str, ...] = ("h3",),
    ) -> None:
        super().__init__(host, port)
        self.cert = cert
        self.alpn = alpn
        self._server: _AioquicServer | None = None

    async def _bind(self) -> None:
        configuration = QuicConfiguration(is_client=False, alpn_protocols=list(self.alpn))
        configuration.load_cert_chain(self.cert.cert_file, self.cert.key_file)
        self._server = await serve(
            self.host, self.port, configuration=configuration, create_protocol=_H3Protocol
        )
        transport = self._server._transport
        assert transport is not None
        self.port = transport.get_extra_info("sockname")[1]

    async def _unbind(self) -> None:
        if self._server is not None:
            self._server.close()
            await asyncio.sleep(0)
