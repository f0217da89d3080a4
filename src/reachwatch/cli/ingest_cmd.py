"""`reachwatch ingest PATH... [--db DB] [--jobs N] [--engine embedded|dask [--scheduler ADDR]]
[--format table|csv|json]`: measurements into the embedded store."""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from reachwatch.cli._app import app
from reachwatch.cli._jobs import engine_from, engine_options, jobs_option
from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.errors import UserError
from reachwatch.ingest import IngestSummary, ingest
from reachwatch.ingest import Progress as RunProgress
from reachwatch.ingest._quarantine import DEFAULT_CAP
from reachwatch.store import DEFAULT_DB

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class FolderPath(click.Path):
    """A folder to write: an empty value (`--db "$UNSET"`) is refused, where Path('') would
    quietly be the current folder."""

    def __init__(self) -> None:
        super().__init__(path_type=Path)

    def convert(
        self,
        value: str | os.PathLike[str],
        param: click.Parameter | None,
        ctx: click.Context | None,
    ) -> str | bytes | os.PathLike[str]:
        if isinstance(value, str) and not value.strip():
            self.fail("is empty", param, ctx)
        return super().convert(value, param, ctx)


@app.command("ingest")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--db", type=FolderPath(), default=DEFAULT_DB, show_default=True,
    help="Store folder (created when missing).",
)  # fmt: skip
@format_option
@click.option("--dns-fingerprints", type=_FILE, help="OONI-format DNS fingerprints CSV.")
@click.option("--http-fingerprints", type=_FILE, help="OONI-format HTTP fingerprints CSV.")
@click.option("--cp-blockpages", type=_FILE, help="Censored Planet blockpage signatures.")
@click.option("--cp-false-positives", type=_FILE, help="Censored Planet false positives.")
@jobs_option
@engine_options
@click.option("--batch-size", type=click.IntRange(min=1), default=200_000, hidden=True)
@click.option(
    "--quarantine-cap", type=click.IntRange(min=0), default=DEFAULT_CAP, show_default=True,
    help="Quarantine entries written whole per run; the rest are counted.",
)  # fmt: skip
def ingest_command(
    paths: tuple[Path, ...],
    db: Path,
    as_json: bool,
    output: str | None,
    dns_fingerprints: Path | None,
    http_fingerprints: Path | None,
    cp_blockpages: Path | None,
    cp_false_positives: Path | None,
    jobs: int,
    engine_kind: str,
    scheduler: str | None,
    batch_size: int,
    quarantine_cap: int,
) -> None:
    """Ingest OONI (.json, .jsonl, .jsonl.gz), Censored Planet and reachwatch files or folders.

    Fingerprint files not given are reachwatch's shipped set."""
    from reachwatch.classify import load_fingerprints

    fmt = chosen_format(output, as_json)
    fingerprints = load_fingerprints(
        ooni_dns=dns_fingerprints,
        ooni_http=http_fingerprints,
        cp_blockpages=cp_blockpages,
        cp_false_positives=cp_false_positives,
    )
    run = partial(
        ingest,
        paths,
        db,
        fingerprints=fingerprints,
        batch_size=batch_size,
        quarantine_cap=quarantine_cap,
        engine=engine_from(engine_kind, scheduler, jobs),
    )
    console = Console(stderr=True)
    if console.is_terminal:
        with _ProgressBar(console) as bar:
            summary = run(on_progress=bar.update)
    else:
        summary = run()
    if fmt == "json":
        click.echo(orjson.dumps(summary.to_json()).decode())
    elif fmt == "csv":
        write_csv(("outcome", "count"), ((o.strip(), n) for o, n in _outcomes(summary)))
    else:
        _print_summary(Console(), summary)
    _fail_if_nothing_usable(summary)


def _fail_if_nothing_usable(summary: IngestSummary) -> None:
    """Exit non-zero when no input held a single measurement to store (every record refused,
    or no measurement file at all); a run that only met duplicates did its work."""
    if summary.stored or summary.duplicates:
        return
    if summary.files == 0:
        raise UserError("no measurement file found in the given paths: nothing stored")
    refused = sum(summary.quarantined.values())
    raise UserError(
        f"nothing stored: none of the {summary.files} file(s) held a valid measurement"
        + (f" ({refused:,} record(s) quarantined in {summary.quarantine_file})" if refused else "")
    )


class _ProgressBar:
    """Files done, measurements read and MB/s of JSON, on stderr while a run goes."""

    def __init__(self, console: Console) -> None:
        self._bar = Progress(
            TextColumn("ingest"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} files"),
            TextColumn("{task.fields[records]} records"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> _ProgressBar:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def update(self, progress: RunProgress) -> None:
        if self._task is None:
            self._task = self._bar.add_task(
                "ingest", total=progress.files_total, records=0, rate=""
            )
        elapsed = max(time.monotonic() - progress.started, 1e-6)
        self._bar.update(
            self._task,
            completed=progress.files_done,
            records=f"{progress.records:,}",
            rate=f"{progress.bytes_read / elapsed / 1e6:.1f} MB/s",
        )


def _outcomes(summary: IngestSummary) -> list[tuple[str, int]]:
    return [
        ("stored", summary.stored),
        ("  of which not classified (test not supported)", summary.unsupported),
        ("duplicates (already stored)", summary.duplicates),
        *((f"quarantined: {reason}", n) for reason, n in sorted(summary.quarantined.items())),
    ]


def _print_summary(console: Console, summary: IngestSummary) -> None:
    table = Table(title=f"ingested {summary.files} files in {summary.seconds:.1f} s")
    table.add_column("outcome")
    table.add_column("count", justify="right")
    for outcome, count in _outcomes(summary):
        table.add_row(outcome, f"{count:,}")
    print_table(console, table)
    if summary.quarantined:
        console.print(f"quarantine file: {summary.quarantine_file}")
    if summary.quarantine_overflow:
        console.print(
            f"the quarantine file holds the first {summary.quarantine_cap:,} entries whole; "
            f"{summary.quarantine_overflow:,} more were counted, not written"
        )
