"""`reachwatch watch`: sync → ingest → detect on a schedule; each new or ended incident as a
line on stdout, a JSON line in --events and a POST to --webhook."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import click

from reachwatch.catalog import load_catalog
from reachwatch.cli._app import app
from reachwatch.cli.detect_cmd import when
from reachwatch.cli.ingest_cmd import FolderPath
from reachwatch.cli.ooni_cmd import _check_before_network, _day
from reachwatch.errors import UserError
from reachwatch.ingest._ooni_sync import OONI_BUCKET
from reachwatch.store import DEFAULT_DB
from reachwatch.watch import (
    Callbacks,
    RoundReport,
    WatchConfig,
    WatchError,
    check_webhook,
    parse_every,
    run_watch,
)

DEFAULT_OUT = Path("reachwatch-ooni")


def _optional_day(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    return None if value is None else _day(ctx, param, value)


@app.command("watch")
@click.option("--cc", required=True, help="Country code, e.g. PK.")
@click.option("--platform", required=True, help="Catalog platform, e.g. x.")
@click.option(
    "--every",
    default="1h",
    show_default=True,
    help="Time from one round's start to the next: 1h, 30m, 90s, 1d, 1h30m.",
)
@click.option("--webhook", default=None, help="POST each event's JSON to this http(s) URL.")
@click.option(
    "--events",
    "events_file",
    type=click.Path(path_type=Path),
    default=None,
    help="Append each event as one JSON line to this file.",
)
@click.option(
    "--db",
    type=FolderPath(),
    default=DEFAULT_DB,
    show_default=True,
    help="Store folder (created when missing).",
)
@click.option(
    "--out",
    type=FolderPath(),
    default=DEFAULT_OUT,
    show_default=True,
    help="Download folder (also holds the watch's state file).",
)
@click.option("--endpoint", default=None, help="S3 endpoint URL (default: OONI's bucket).")
@click.option("--bucket", default=OONI_BUCKET, show_default=True, help="Bucket name.")
@click.option(
    "--test",
    "test_name",
    default="web_connectivity",
    show_default=True,
    help="OONI test to download.",
)
@click.option(
    "--since",
    default=None,
    callback=_optional_day,
    help="First UTC day to download (default: the day before each round, until data is seen).",
)
@click.option(
    "--until",
    default=None,
    callback=_optional_day,
    help="Last UTC day to download (default: today, as each round runs).",
)
@click.option("--once", is_flag=True, help="Run one round and end (for cron).")
@click.option(
    "--rounds", type=click.IntRange(min=1), default=None, help="Run this many rounds and end."
)
def watch_command(
    cc: str, platform: str, every: str, webhook: str | None, events_file: Path | None,
    db: Path, out: Path, endpoint: str | None, bucket: str, test_name: str,
    since: date | None, until: date | None, once: bool, rounds: int | None,
) -> None:  # fmt: skip
    """Run sync → ingest → detect for one country and platform now, then every --every;
    report each new or ended incident (stdout, --events, --webhook). SIGTERM or Ctrl-C stops
    it between or during a round; the next start goes on from where it stopped."""
    if len(cc) != 2 or not cc.isalpha():
        raise UserError(f"--cc {cc!r} is not a two-letter country code")
    if once and rounds is not None:
        raise UserError("--once and --rounds: give one of them")
    try:
        interval = parse_every(every)
        if webhook is not None:
            check_webhook(webhook)
    except WatchError as exc:
        raise UserError(str(exc)) from None
    today = datetime.now(UTC).date()
    _check_before_network(test_name, since or today - timedelta(days=1), until or today, out)
    _check_events_file(events_file)
    config = WatchConfig(
        cc=cc.upper(), platform=load_catalog().get(platform).name, db=db, out=out,
        every=interval, test_name=test_name, since=since, until=until, endpoint=endpoint,
        bucket=bucket, events_file=events_file, webhook=webhook, rounds=1 if once else rounds,
    )  # fmt: skip
    callbacks = Callbacks(on_event=_print_event, on_round=_print_round, on_warning=_warn)
    stop = threading.Event()
    with _stop_on_signals(stop) as stopped_by:
        done = run_watch(config, callbacks, stop)
    if stopped_by:
        click.echo(f"reachwatch: watch stopped by {stopped_by[0]} after {done} round(s)", err=True)


def _check_events_file(path: Path | None) -> None:
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"--events {path}: a folder, not a file")
    folder = path.absolute().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        raise UserError(f"--events {path}: cannot write in {folder}")


@contextmanager
def _stop_on_signals(stop: threading.Event) -> Iterator[list[str]]:
    """SIGTERM and SIGINT ask the watch to stop (it finishes what cannot be cut, saves its
    state and ends); a second one ends it at once. A SIGINT ignored when the watch started (a
    background job's) stays ignored."""
    stopped_by: list[str] = []

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stopped_by:
            raise KeyboardInterrupt
        stopped_by.append(signal.Signals(signum).name)
        stop.set()

    previous: dict[signal.Signals, Any] = {}
    for sig in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            previous[sig] = signal.signal(sig, handler)
    try:
        yield stopped_by
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _print_event(doc: dict[str, Any]) -> None:
    where = f"{doc['platform']} in {doc['cc']}"
    techniques = ", ".join(doc["techniques"]) or "blocked"
    networks = ", ".join(n["network"] for n in doc["networks"])
    if doc["event"] == "new":
        span = f"blocked since {when(doc['start'])}"
        if doc["end"]:
            span = f"blocked from {when(doc['start'])} to {when(doc['end'])}"
        line = f"NEW incident {doc['id']}: {where} {span} ({techniques}; {networks})"
    else:
        line = (
            f"ENDED incident {doc['id']}: {where} blocked from {when(doc['start'])} "
            f"to {when(doc['end'])} ({techniques}; {networks})"
        )
    if doc["synthetic"]:
        line += " [SYNTHETIC DATA]"
    click.echo(line)


def _print_round(report: RoundReport) -> None:
    news = f"{report.events.count('new')} new, {report.events.count('ended')} ended"
    owed = f", {report.undelivered} webhook event(s) owed" if report.undelivered else ""
    timing = ", ".join(f"{stage} {s:.1f}s" for stage, s in report.seconds.items())
    click.echo(
        f"reachwatch: watch round {report.round}: listed {report.listed} file(s) "
        f"({report.listed_since} to {report.listed_until}), {report.new_files} new; "
        f"ingested {report.ingested_files} file(s), {report.stored:,} stored; "
        f"detect read {report.detect_files} file(s), built {report.detect_rebuilt} of "
        f"{report.detect_series} series; "
        f"{report.incidents} incident(s), {news}{owed} ({timing})",
        err=True,
    )


def _warn(text: str) -> None:
    click.echo(f"reachwatch: warning: {text}", err=True)
