"""Fixtures for the control's tests: a record of every connection attempt this process makes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest

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
