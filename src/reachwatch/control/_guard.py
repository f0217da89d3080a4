"""What one client may hold of the control: connections, time to send a request, slots.

aiohttp has no deadline for a request's headers, so a client sending them a byte at a time holds
a connection for as long as it likes, and thousands of them exhaust the process's descriptors.
`GuardedProtocol` wraps each connection's protocol: a connection must deliver its headers within
`header_timeout` and is closed after `connection_lifetime` whatever it does, and one client may
hold only so many connections. `FairSlots` gives each client at most a share of the measurement
slots, so one client flooding requests cannot starve the others.

A client is its address, an IPv6 client its /64: one host is usually given a whole /64.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Callable
from typing import Any

_HEADER_END = b"\r\n\r\n"


def client_key(peer: Any) -> str:
    """The address a client is counted under ('?' when the transport does not say)."""
    host = peer[0] if isinstance(peer, tuple) and peer else None
    if not isinstance(host, str):
        return "?"
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class ConnectionCounts:
    """Open connections per client and in all, shared by every connection of one server."""

    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client
        self.total = total
        self.by_client: Counter[str] = Counter()

    def admit(self, key: str) -> bool:
        if self.by_client[key] >= self.per_client or self.by_client.total() >= self.total:
            return False
        self.by_client[key] += 1
        return True

    def leave(self, key: str) -> None:
        self.by_client[key] -= 1
        if self.by_client[key] <= 0:
            del self.by_client[key]


class GuardedProtocol(asyncio.Protocol):
    """Passes everything to the wrapped HTTP protocol, and closes connections that overstay."""

    def __init__(
        self,
        inner: asyncio.Protocol,
        counts: ConnectionCounts,
        *,
        header_timeout: float,
        lifetime: float,
    ) -> None:
        self._inner = inner
        self._counts = counts
        self._header_timeout = header_timeout
        self._lifetime = lifetime
        self._key: str | None = None
        self._tail = b""  # the last bytes seen, to find a header end split across reads
        self._timers: list[asyncio.TimerHandle] = []
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        key = client_key(transport.get_extra_info("peername"))
        if not self._counts.admit(key):
            # Refused before the HTTP protocol ever sees it: no buffers, no handler task.
            transport.abort()
            return
        self._key = key
        loop = asyncio.get_running_loop()
        self._timers = [
            loop.call_later(self._header_timeout, self._close),
            loop.call_later(self._lifetime, self._close),
        ]
        self._inner.connection_made(transport)

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def data_received(self, data: bytes) -> None:
        if self._key is None:
            return
        if self._timers and len(self._timers) == 2:
            seen = self._tail + data
            if _HEADER_END in seen:
                self._timers.pop(0).cancel()  # headers complete: only the lifetime is left
            else:
                self._tail = seen[-(len(_HEADER_END) - 1) :]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received() if self._key is not None else None

    def connection_lost(self, exc: Exception | None) -> None:
        if self._key is None:
            return
        for timer in self._timers:
            timer.cancel()
        self._counts.leave(self._key)
        self._key = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


def guarded_factory(
    factory: Callable[[], asyncio.Protocol],
    counts: ConnectionCounts,
    *,
    header_timeout: float,
    lifetime: float,
) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for `loop.create_server` that guards every connection it makes."""
    return lambda: GuardedProtocol(
        factory(), counts, header_timeout=header_timeout, lifetime=lifetime
    )


class FairSlots:
    """Measurement slots, of which one client holds at most `per_client` at a time."""

    def __init__(self, total: int, per_client: int) -> None:
        self._free = asyncio.Semaphore(total)
        self.per_client = per_client
        self._held: Counter[str] = Counter()

    def try_reserve(self, key: str) -> bool:
        """Count a request against its client's share; False when the share is used up.

        Reserved before waiting for a free slot, so a client cannot queue more than its share.
        """
        if self._held[key] >= self.per_client:
            return False
        self._held[key] += 1
        return True

    async def acquire(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self._free.acquire(), timeout)
        except TimeoutError:
            return False
        return True

    def release(self) -> None:
        self._free.release()

    def unreserve(self, key: str) -> None:
        self._held[key] -= 1
        if self._held[key] <= 0:
            del self._held[key]
