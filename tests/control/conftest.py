"""Fixtures for the control's tests: a record of every connection attempt this process makes."""

from __future__ import annotations

import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from reachwatch.lab.servers import DnsServer, LabPki, Page, QuicServer, Redirect, Site, WebServer

# Audit hooks cannot be removed, so one hook is installed for the session and records only
# while a test holds the `connect_log` fixture.
_LOG: list[tuple[str, Any]] | None = None


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if _LOG is not None and event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        _LOG.append((event, args[1]))


sys.addaudithook(_audit)


@pytest.fixture
def connect_log() -> Iterator[list[tuple[str, Any]]]:
    """Every (event, address) of a socket connect or datagram send made during the test."""
    global _LOG
    _LOG = []
    try:
        yield _LOG
    finally:
        _LOG = None


@dataclass
class Lab:
    """Loopback stand-ins for a site: DNS, HTTPS (with a large resource), QUIC, a closed port."""

    pki: LabPki
    dns_port: int
    web_port: int
    closed_port: int

    def url(self, host: str, path: str = "/", *, port: int | None = None) -> str:
        return f"https://{host}:{port or self.web_port}{path}"


PAGE_TITLE = "Site under test"
ZONE = {
    "site.test": ["127.0.0.1"],
    "moved.test": ["127.0.0.1"],
    "away.test": ["127.0.0.1"],
    "private.test": ["10.0.0.7"],
    "inside.test": ["127.0.0.2"],
}


@asynccontextmanager
async def _lab(pki: LabPki) -> AsyncIterator[Lab]:
    names = list(ZONE)
    sites: dict[str, Site] = {
        "site.test": {"/": Page(PAGE_TITLE, padding=200_000)},
        "inside.test": {"/": Page("Inside")},
    }
    async with (
        DnsServer(ZONE, host="127.0.0.1") as dns_server,
        WebServer(sites, host="127.0.0.1", ssl_context=pki.server_context(names)) as web,
        WebServer(sites, host="127.0.0.2", port=web.port, ssl_context=pki.server_context(names)),
        QuicServer(pki.issue(names), host="127.0.0.1", port=web.port),
    ):
        # The redirect target needs the port only known once the server is bound.
        web.sites["moved.test"] = Redirect(2, f"https://site.test:{web.port}/")
        web.sites["away.test"] = Redirect(1, f"https://inside.test:{web.port}/")
        with socket.socket() as probe_port:
            probe_port.bind(("127.0.0.1", 0))
            closed = int(probe_port.getsockname()[1])
        yield Lab(pki, dns_server.port, web.port, closed)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def lab(pki: LabPki) -> Callable[[], AbstractAsyncContextManager[Lab]]:
    """`async with lab() as site:` starts the stand-ins inside the test's own event loop."""
    return lambda: _lab(pki)
