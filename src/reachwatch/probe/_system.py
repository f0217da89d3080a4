"""The system resolver (getaddrinfo), run so that a hung lookup never holds up the process."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable
from typing import Any


async def system_address(host: str) -> str:
    """The first address the system resolver gives for host; raises socket.gaierror."""
    infos = await getaddrinfo_in_thread(host)
    if not infos:
        raise socket.gaierror(socket.EAI_NONAME, "no address")
    return str(infos[0][4][0])


def getaddrinfo_in_thread(host: str) -> asyncio.Future[list[Any]]:
    """getaddrinfo in a daemon thread: a resolver that hangs must not hold up the exit of the
    process the way a thread of the default executor would."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[list[Any]] = loop.create_future()

    def settle(setter: Callable[[Any], None], value: Any) -> None:
        if not future.done():
            setter(value)

    def work() -> None:
        try:
            outcome: tuple[Callable[[Any], None], Any] = (
                future.set_result,
                socket.getaddrinfo(host, None, type=socket.SOCK_STREAM),
            )
        except Exception as exc:
            outcome = (future.set_exception, exc)
        # The loop may be gone when the system resolver answers late: nobody waits any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"getaddrinfo {host}", daemon=True).start()
    return future
