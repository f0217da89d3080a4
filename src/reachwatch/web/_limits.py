"""How much an upload may hold, and how fast one token may send."""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SubmitLimits:
    """`serve`'s upload limits (each a `--submit-*` option)."""

    max_body_bytes: int = 16 << 20  # a larger body is 413
    max_measurements: int = 1000  # per request; more is 413
    rate_per_minute: float = 6000.0  # measurements a token may send, sustained; then 429
    burst: int = 2000  # measurements a token may send at once, from rest
    wait_seconds: float = 5.0  # how long a request waits for its outcomes (then 202)

    def __post_init__(self) -> None:
        if self.burst < self.max_measurements:
            raise ValueError(
                f"the burst ({self.burst}) must allow a full request "
                f"({self.max_measurements} measurements)"
            )


class RateLimiter:
    """A token bucket per submitter: `burst` measurements at once, refilled at `rate_per_minute`."""

    def __init__(self, rate_per_minute: float, burst: int) -> None:
        self.rate = rate_per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}  # name: (level, when)
        self._lock = threading.Lock()

    def take(self, name: str, count: int) -> float:
        """Take `count` from `name`'s bucket: 0 when allowed, else the seconds to wait before
        the same request would be (nothing is taken then)."""
        now = time.monotonic()
        with self._lock:
            level, when = self._buckets.get(name, (self.burst, now))
            level = min(self.burst, level + (now - when) * self.rate)
            if count <= level:
                self._buckets[name] = (level - count, now)
                return 0.0
            self._buckets[name] = (level, now)
            if self.rate <= 0:
                return math.inf
            return (count - level) / self.rate
