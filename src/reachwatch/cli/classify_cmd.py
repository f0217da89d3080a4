"""`reachwatch classify`: judge measurement files and print the verdicts (nothing is stored)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson
from rich.console import Console
from rich.table import Table
from rich.text import Text

from reachwatch.classify import Classified, load_fingerprints, summarize
from reachwatch.classify._files import FileResult, classify_file
from reachwatch.cli._app import app
from reachwatch.errors import UserError

_STYLE = {"ok": "green", "accessible": "green", "blocked": "bold red", "down": "yellow"}
_LAYERS = ("dns", "tcp", "tls", "http", "quic", "throughput")


@app.command("classify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
@click.option("--ooni-dns", type=click.Path(dir_okay=False), help="OONI DNS fingerprint CSV.")
@click.option("--ooni-http", type=click.Path(dir_okay=False), help="OONI HTTP fingerprint CSV.")
@click.option(
    "--cp-blockpages", type=click.Path(dir_okay=False), help="Censored Planet blockpage JSONL."
)
@click.option(
    "--cp-false-positives",
    type=click.Path(dir_okay=False),
    help="Censored Planet false-positive JSONL.",
)
def classify_command(
    paths: tuple[Path, ...],
    as_json: bool,
    ooni_dns: str | None,
    ooni_http: str | None,
    cp_blockpages: str | None,
    cp_false_positives: str | None,
) -> None:
    """Judge the measurements in PATH... (.json, .jsonl, .jsonc, gzipped or not; a folder
    means the measurement files under it)."""
    fingerprints = load_fingerprints(
        ooni_dns=ooni_dns,
        ooni_http=ooni_http,
        cp_blockpages=cp_blockpages,
        cp_false_positives=cp_false_positives,
    )
    results: list[FileResult] = []
    failed = 0
    files = _expand(paths)
    for path in files:
        try:
            results.append(classify_file(path, fingerprints))
        except UserError as exc:
            failed += 1
            click.echo(f"reachwatch: error: {exc}", err=True)
    for r in results:
        if r.invalid:
            click.echo(
                f"reachwatch: error: {r.path}: {r.invalid} invalid record(s), "
                f"first at {r.first_invalid}",
                err=True,
            )
    if failed == len(files):
        raise UserError("no readable measurement file")
    judged = [c for r in results for c in r.judged]
    if as_json:
        click.echo(orjson.dumps(_document(judged, results)).decode())
    else:
        _print_table(judged, results)


_SUFFIXES = (".json", ".jsonl", ".jsonc", ".json.gz", ".jsonl.gz", ".jsonc.gz")


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; a folder stands for the measurement files under it."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.name.lower().endswith(_SUFFIXES))
            out += found or [path]  # an empty folder is reported like an unreadable file
        else:
            out.append(path)
    return out


def _document(judged: list[Classified], results: list[FileResult]) -> dict[str, Any]:
    return {
        "measurements": [c.to_json() for c in judged],
        "summary": summarize(judged),
        "not_classified": {
            "unsupported": sum(r.unsupported for r in results),
            "invalid": sum(r.invalid for r in results),
        },
    }


def _print_table(judged: list[Classified], results: list[FileResult]) -> None:
    """Verdicts per layer (the rules that fired are in --json)."""
    console = Console()
    table = Table(title="reachwatch classify")
    for column in ("input", "cc", "verdict", "technique", *_LAYERS, "id"):
        table.add_column(column, overflow="fold")
    for c in judged:
        cells = []
        for name in _LAYERS:
            lv = c.layers.get(name)
            cells.append(Text(lv.verdict, style=_STYLE.get(lv.verdict, "")) if lv else Text("-"))
        table.add_row(
            Text(c.input or ""),  # Text: measured URLs are data, never console markup
            Text(c.probe_cc),
            Text(c.verdict, style=_STYLE.get(c.verdict, "")),
            Text(c.technique or ""),
            *cells,
            Text(c.id),
        )
    console.print(table)
    counts = summarize(judged)
    unsupported = sum(r.unsupported for r in results)
    invalid = sum(r.invalid for r in results)
    console.print(
        ", ".join(f"{k}: {v}" for k, v in counts.items())
        + f"; not classified: {unsupported} unsupported, {invalid} invalid"
    )
