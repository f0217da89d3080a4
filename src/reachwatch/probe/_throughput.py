"""The throughput sample: bytes over time for a bounded download of one resource."""

from __future__ import annotations

import ssl
from typing import Any

from reachwatch.probe._clock import now
from reachwatch.probe._http import Resolve, exchange

# One sample per interval keeps the record small whatever the link speed.
_SAMPLE_INTERVAL = 0.05


async def throughput_sample(
    url: str,
    *,
    address: str | None,
    ssl_context: ssl.SSLContext,
    max_bytes: int,
    max_seconds: float,
    resolve: Resolve | None = None,
    local_address: str | None = None,
) -> dict[str, Any]:
    """Download url (pinned to address) until max_bytes or max_seconds, whichever comes first.

    `samples` is [[seconds, cumulative_bytes], ...] from the request's start. Running out of
    time while data flows is how a slow sample ends, not a failure.
    """
    begin = now()
    received = 0
    samples: list[list[float]] = []
    last_sample = -_SAMPLE_INTERVAL

    def on_data(size: int) -> None:
        nonlocal received, last_sample
        received += size
        elapsed = now() - begin
        if elapsed - last_sample >= _SAMPLE_INTERVAL or received >= max_bytes:
            samples.append([round(elapsed, 4), received])
            last_sample = elapsed

    result = await exchange(
        url,
        address=address,
        ssl_context=ssl_context,
        body_cap=0,
        read_limit=max_bytes,
        on_data=on_data,
        resolve=resolve,
        timeout=max_seconds,
        local_address=local_address,
    )
    seconds = round(now() - begin, 4)
    if received and (not samples or samples[-1][1] != received):
        samples.append([seconds, received])
    failure = result.failure
    if failure == "generic_timeout_error" and received:
        failure = None
    return {
        "url": url,
        "address": result.address,
        "status_code": result.status or None,
        "bytes": received,
        "seconds": seconds,
        "samples": samples,
        "failure": failure,
    }
