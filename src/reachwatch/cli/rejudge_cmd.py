"""`reachwatch rejudge [--db DB] [--since DATE] [--jobs N] [--engine embedded|dask [--scheduler
ADDR]] [--format table|csv|json]`:
verdicts again from stored bytes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import orjson

from reachwatch.cli._app import app
from reachwatch.cli._jobs import engine_from, engine_options, jobs_option
from reachwatch.cli._output import chosen_format, format_option, write_csv
from reachwatch.store import DEFAULT_DB


@app.command("rejudge")
@click.option(
    "--db", type=click.Path(path_type=Path), default=DEFAULT_DB, show_default=True,
    help="Store folder.",
)  # fmt: skip
@click.option(
    "--since", type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Only measurements from this UTC day on (YYYY-MM-DD).",
)  # fmt: skip
@jobs_option
@engine_options
@format_option
def rejudge_command(
    db: Path,
    since: datetime | None,
    jobs: int,
    engine_kind: str,
    scheduler: str | None,
    as_json: bool,
    output: str | None,
) -> None:
    """Classify the stored measurements again with the current rules and fingerprints, from
    the bytes the store keeps (the corpus files are not read). Incidents follow the new
    verdicts on the next `detect` or `case check`."""
    from reachwatch.ingest import rejudge  # imported here: the classifier loads its data

    fmt = chosen_format(output, as_json)
    engine = engine_from(engine_kind, scheduler, jobs)
    summary = rejudge(db, since=since.date() if since else None, engine=engine)
    doc = summary.to_json()
    if fmt == "json":
        click.echo(orjson.dumps(doc).decode())
    elif fmt == "csv":
        write_csv(tuple(doc), [tuple(doc.values())])
    else:
        click.echo(
            f"{db}: {summary.rejudged:,} of {summary.measurements:,} measurements judged "
            f"again, {summary.changed:,} changed verdict, {summary.kept:,} kept as they were "
            f"(no stored bytes, or not classified), in {summary.seconds:.1f} s; classifier "
            f"{summary.classifier_version}, fingerprint set SHA-256 {summary.fingerprints_sha256}"
            + (
                f"; {summary.facts_added:,} facts read for measurements stored without them"
                if summary.facts_added
                else ""
            )
        )
