"""How often the watch runs: `1h`, `30m`, `90s`, `1d`, or parts together (`1h30m`)."""

from __future__ import annotations

import re
from datetime import timedelta

from reachwatch.watch._errors import WatchError

_PART = re.compile(r"(\d+)([dhms])")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_LONGEST = timedelta(days=366)


def parse_every(text: str) -> timedelta:
    """The interval `text` names; WatchError when it names none (or zero, or over a year)."""
    compact = text.strip().lower().replace(" ", "")
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise WatchError(f"--every {text!r} is not an interval (e.g. 1h, 30m, 90s, 1d or 1h30m)")
    seconds = sum(int(n) * _UNIT[u] for n, u in parts)
    if seconds == 0:
        raise WatchError(f"--every {text!r}: the interval must be longer than zero")
    if seconds > _LONGEST.total_seconds():
        raise WatchError(f"--every {text!r}: the interval must be at most a year")
    return timedelta(seconds=seconds)
