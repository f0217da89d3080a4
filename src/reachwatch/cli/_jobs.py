"""`--jobs N`: how many worker processes read and judge (ingest, rejudge)."""

from __future__ import annotations

import os

import click


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset`
    may narrow), not every core of the machine."""
    return len(os.sched_getaffinity(0))


jobs_option = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=cores,
    show_default="the cores this process may use",
    help="Worker processes that read and judge; this process writes, so the store is the "
    "same whatever N. 1 does it all in this process.",
)
