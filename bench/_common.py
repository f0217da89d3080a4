"""Shared helpers for benchmarks: each prints figures and the ratio to the baseline it races."""

from __future__ import annotations

import resource
import sys


def peak_rss_mib() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return kib / 1024 if sys.platform.startswith("linux") else kib / (1024 * 1024)


def figure(name: str, value: float, unit: str) -> None:
    print(f"{name:48} {value:12.3f} {unit}")
