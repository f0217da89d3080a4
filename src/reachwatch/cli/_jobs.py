"""`--jobs N`, `--engine embedded|dask` and `--scheduler ADDR`: how many workers read and judge
(ingest, rejudge) or count (detect), and where they run."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

from reachwatch.cluster import Engine
from reachwatch.errors import UserError

F = TypeVar("F", bound=Callable[..., Any])


def cores() -> int:
    """The cores this process may run on (its CPU affinity, which a container or `taskset`
    may narrow), not every core of the machine."""
    return len(os.sched_getaffinity(0))


jobs_option = click.option(
    "--jobs",
    type=click.IntRange(min=1),
    default=cores,
    show_default="the cores this process may use",
    help="Worker processes that read and judge; this process writes (a commit's files on N "
    "threads), so the store is the same whatever N. 1 does it all in this process. With "
    "--engine dask and no --scheduler: the workers of the local Dask cluster.",
)


def engine_options(fn: F) -> F:
    """--engine and --scheduler (after --jobs, which the local engine and a local Dask
    cluster use); the command gets `engine_kind` and `scheduler`, and builds its Engine with
    `engine_from`."""
    fn = click.option(
        "--scheduler",
        metavar="ADDR",
        help="The Dask scheduler's address (tcp://HOST:PORT), with --engine dask; without "
        "it, a Dask cluster of --jobs worker processes is started on loopback for the run.",
    )(fn)
    fn = click.option(
        "--engine",
        "engine_kind",
        type=click.Choice(["embedded", "dask"]),
        default="embedded",
        show_default=True,
        help="Where the work runs: this machine's processes, or a Dask cluster.",
    )(fn)
    return fn


def engine_from(engine_kind: str, scheduler: str | None, jobs: int) -> Engine:
    if scheduler is not None and engine_kind != "dask":
        raise UserError("--scheduler needs --engine dask")
    if scheduler is not None and not scheduler.strip():
        raise UserError("--scheduler is empty: give the scheduler's address, tcp://HOST:PORT")
    return Engine("dask" if engine_kind == "dask" else "embedded", scheduler, jobs)
