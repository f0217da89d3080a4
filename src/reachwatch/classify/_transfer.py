"""A transfer's byte-arrival timeline, and what it shows: how fast bytes came, whether they kept
coming, and whether the timeline holds enough evidence to say either.

Three sources give one: the page fetch of reachwatch's probe (`x_arrivals` on the final request),
OONI's `network_events` of the final request's transaction (`bytes_received_cumulative`, or
the older per-`read` byte counts), and a throughput sample (`x_throughput.samples`). Malformed
points are skipped: a timeline is evidence for one rule, never a reason to reject a record.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

# The least evidence a slow rate is judged on: this many arrivals (so at least three gaps to
# judge steadiness by), spread over this long, carrying this many bytes. Over TLS a slow link
# delivers whole records (up to 16 KiB) at a time, so arrivals can be a second apart.
MIN_POINTS = 4
MIN_SECONDS = 1.0
MIN_BYTES = 16 * 1024
# Bytes stopped arriving before the transfer ended: a gap after the last arrival this long, and
# this many times the mean gap between arrivals, is a stall, not a slow flow.
STALL_SECONDS = 2.0
STALL_FACTOR = 3.0


class Transfer:
    """[(t, cumulative_bytes)] in time order, and when the exchange ended on the same clock."""

    __slots__ = ("end", "points")

    def __init__(self, points: list[tuple[float, float]], end: float | None) -> None:
        self.points = points
        self.end = end

    @property
    def seconds(self) -> float:
        """From the first arrival to the last."""
        return self.points[-1][0] - self.points[0][0]

    @property
    def flow_bytes(self) -> float:
        """Bytes that arrived after the first arrival."""
        return self.points[-1][1] - self.points[0][1]

    @property
    def rate(self) -> float | None:
        """Bytes per second between the first and the last arrival; None for a single one."""
        seconds = self.seconds
        return self.flow_bytes / seconds if seconds > 1e-6 else None

    @property
    def enough(self) -> bool:
        """Whether the timeline holds the minimum of evidence to judge a rate by."""
        return (
            len(self.points) >= MIN_POINTS
            and self.seconds >= MIN_SECONDS
            and self.flow_bytes >= MIN_BYTES
        )

    @property
    def stalled(self) -> bool:
        """Bytes stopped coming well before the exchange ended (a cut, or a server gone
        quiet): the rate before the stall says nothing of the path's speed."""
        if self.end is None:
            return False
        gaps = len(self.points) - 1
        mean_gap = self.seconds / gaps if gaps else 0.0
        quiet = self.end - self.points[-1][0]
        return quiet > max(STALL_SECONDS, STALL_FACTOR * mean_gap)

    def intervals(self) -> list[tuple[float, float]]:
        """(duration, bytes) between consecutive arrivals."""
        return [(t1 - t0, b1 - b0) for (t0, b0), (t1, b1) in pairwise(self.points) if t1 > t0]


def page_transfer(test_keys: dict[str, Any]) -> Transfer | None:
    """The final request's timeline (the first entry of `requests`), None when none was kept."""
    requests = test_keys.get("requests")
    if not isinstance(requests, list) or not requests or not isinstance(requests[0], dict):
        return None
    final: dict[str, Any] = requests[0]
    end = _number(final.get("t"))
    points = _points(final.get("x_arrivals"))
    if not points:
        points = _from_events(test_keys.get("network_events"), final)
    return Transfer(points, end) if points else None


def sample_transfer(sample: dict[str, Any] | None) -> Transfer | None:
    """A throughput sample's timeline (its clock starts with its own request)."""
    if sample is None:
        return None
    points = _points(sample.get("samples"))
    return Transfer(points, _number(sample.get("seconds"))) if points else None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _points(raw: Any) -> list[tuple[float, float]]:
    """[[t, cumulative_bytes], ...] as read from a record: well-formed points in time order,
    each with at least the bytes of the one before."""
    if not isinstance(raw, list):
        return []
    out: list[tuple[float, float]] = []
    for p in raw:
        if not isinstance(p, list | tuple) or len(p) != 2:
            continue
        t, size = _number(p[0]), _number(p[1])
        if t is None or size is None:
            continue
        if out and (t < out[-1][0] or size < out[-1][1]):
            continue
        out.append((t, size))
    return out


def _from_events(events: Any, final: dict[str, Any]) -> list[tuple[float, float]]:
    """OONI's network_events of the final request's transaction, from its start on."""
    transaction = final.get("transaction_id")
    if not isinstance(events, list) or transaction is None:
        return []
    start = _number(final.get("t0"))
    points: list[list[float]] = []
    total = 0.0
    for e in events:
        if not isinstance(e, dict) or e.get("transaction_id") != transaction:
            continue
        t, size = _number(e.get("t")), _number(e.get("num_bytes"))
        if t is None or size is None or (start is not None and t < start):
            continue
        operation = e.get("operation")
        if operation == "bytes_received_cumulative":
            points.append([t, size])
        elif operation == "read":
            total += size
            points.append([t, total])
    return _points(points)
