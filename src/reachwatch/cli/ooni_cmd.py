"""`reachwatch ooni sync`: download OONI raw measurements from the public bucket layout."""

from __future__ import annotations

import os
import re
from datetime import UTC, date, datetime
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TransferSpeedColumn,
)

from reachwatch.cli._app import app
from reachwatch.cli._jobs import cores, engine_from, engine_options
from reachwatch.cli.ingest_cmd import FolderPath
from reachwatch.errors import UserError
from reachwatch.ingest._ooni_sync import (
    OONI_BUCKET,
    OONI_FIRST_DAY,
    RemoteFile,
    SyncSummary,
    sync_ooni,
)

# OONI's test names: lower-case words joined by underscores (web_connectivity, dnscheck).
_TEST_NAME = re.compile(r"[a-z][a-z0-9_]{1,63}")


@app.group("ooni")
def ooni_group() -> None:
    """OONI's public measurement corpus."""


def _day(_ctx: click.Context, _param: click.Parameter, value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@ooni_group.command("sync")
@click.option("--cc", required=True, help="Country code, e.g. PK.")
@click.option("--test", "test_name", required=True, help="Test name, e.g. web_connectivity.")
@click.option("--since", required=True, callback=_day, help="First UTC day (YYYY-MM-DD).")
@click.option("--until", required=True, callback=_day, help="Last UTC day, included.")
@click.option("--out", required=True, type=FolderPath(), help="Download folder.")
@click.option("--endpoint", default=None, help="S3 endpoint URL (default: OONI's bucket).")
@click.option("--bucket", default=OONI_BUCKET, show_default=True, help="Bucket name.")
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def sync_command(
    cc: str,
    test_name: str,
    since: date,
    until: date,
    out: Path,
    endpoint: str | None,
    bucket: str,
    engine_kind: str,
    scheduler: str | None,
    as_json: bool,
) -> None:
    """Download raw/YYYYMMDD/HH/CC/TEST/*.jsonl.gz; resumes, skips files already complete and
    unchanged, downloads again those whose object changed (--json lists the files written).
    With --engine dask the cluster's workers download from the bucket into --out, a folder
    they share with this machine."""
    if len(cc) != 2 or not cc.isalpha():
        raise UserError(f"--cc {cc!r} is not a two-letter country code")
    engine = engine_from(engine_kind, scheduler, cores())
    _check_before_network(test_name, since, until, out)
    console = Console(stderr=True)
    bar = Progress(
        TextColumn("ooni sync"),
        BarColumn(),
        TextColumn("{task.fields[files]}"),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    task = bar.add_task("sync", total=None, files="listing")
    done: set[str] = set()
    listed_files = [0]

    def listed(files: list[RemoteFile]) -> None:
        total = sum(f.size for f in files)
        listed_files[0] = len(files)
        bar.update(task, total=total, files=f"0/{len(files)} files")

    def advanced(count: int, key: str, size: int) -> None:
        bar.advance(task, count)
        done.add(key)
        bar.update(task, files=f"{len(done)}/{listed_files[0]} files")

    with bar:
        summary = sync_ooni(
            cc=cc, test_name=test_name, since=since, until=until, out=out,
            endpoint=endpoint, bucket=bucket, on_listed=listed, on_bytes=advanced,
            engine=engine,
        )  # fmt: skip
    _report(summary, out, as_json)
    if not summary.files:
        # A valid query that matched nothing is done (exit 0: a country may have no such
        # test); but a mistyped --test or --cc, or an endpoint that is not a bucket at all (a
        # captive portal answers 200 too), lists nothing as well: say so rather than look done.
        click.echo(
            f"reachwatch: warning: nothing matched: no raw/YYYYMMDD/HH/{cc.upper()}/{test_name}/"
            f"*.jsonl.gz file from {since} to {until} in s3://{bucket}; "
            "check --cc, --test and --endpoint",
            err=True,
        )


def _check_before_network(test_name: str, since: date, until: date, out: Path) -> None:
    """Every mistake that can be seen here is reported before the first request."""
    if not _TEST_NAME.fullmatch(test_name):
        raise UserError(f"--test {test_name!r} is not an OONI test name (e.g. web_connectivity)")
    if until < since:
        raise UserError(f"--until {until} is before --since {since}")
    today = datetime.now(UTC).date()
    if since > today:
        raise UserError(f"--since {since} is in the future: OONI has nothing from then yet")
    if until < OONI_FIRST_DAY:
        raise UserError(f"--until {until} is before OONI's first measurements ({OONI_FIRST_DAY})")
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: cannot write there: a file, not a folder")
    existing = next(p for p in (out.absolute(), *out.absolute().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"--out {out}: cannot write under {existing}")


def _report(summary: SyncSummary, out: Path, as_json: bool) -> None:
    if as_json:
        click.echo(orjson.dumps({**summary.to_json(), "out": str(out)}).decode())
        return
    click.echo(
        f"{summary.files} files: {summary.downloaded} downloaded "
        f"({summary.changed} changed since the last run, {summary.resumed} resumed, "
        f"{summary.bytes_downloaded:,} bytes), "
        f"{summary.skipped} already complete, in {out}"
    )
