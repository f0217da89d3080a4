"""`reachwatch classify`: judge measurement files and print the verdicts (nothing is stored).

Human output is streamed, one line per measurement as each file is judged (a progress bar on a
terminal), so a corpus of any size costs about what `--json` costs; only `--json` holds every
verdict until the end, because it prints one document.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from reachwatch.classify import Classified, load_fingerprints, summarize
from reachwatch.classify._files import FileResult, classify_file
from reachwatch.cli._app import app
from reachwatch.cli._output import chosen_format, format_option, write_csv
from reachwatch.errors import ReachwatchError, UserError

_LAYERS = ("dns", "tcp", "tls", "http", "quic", "throughput")
_SHORT = {"inconclusive": "?"}
# ANSI colours for a terminal only: a pipe gets plain text.
_COLOUR = {"ok": "32", "accessible": "32", "blocked": "1;31", "down": "33"}
# Padded columns: verdict, technique, the layers, cc; id and input follow unpadded.
_WIDTHS = (12, 16, *(max(7, len(name)) for name in _LAYERS), 3)
_HEADINGS = ("verdict", "technique", *_LAYERS, "cc", "id", "input")


@app.command("classify")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@format_option
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
    output: str | None,
    ooni_dns: str | None,
    ooni_http: str | None,
    cp_blockpages: str | None,
    cp_false_positives: str | None,
) -> None:
    """Judge the measurements in PATH... (.json, .jsonl, .jsonc, gzipped or not; a folder
    means the measurement files under it)."""
    fmt = chosen_format(output, as_json)
    fingerprints = load_fingerprints(
        ooni_dns=ooni_dns,
        ooni_http=ooni_http,
        cp_blockpages=cp_blockpages,
        cp_false_positives=cp_false_positives,
    )
    files = _expand(paths)
    tally = _Tally()
    kept: list[Classified] = []
    printer = _Printer(fmt, sys.stdout)
    with _progress(len(files), redirect=fmt != "json") as advance:
        for path in files:
            try:
                result = classify_file(path, fingerprints)
            except ReachwatchError as exc:
                tally.failed += 1
                tally.problems.append(str(exc))
                advance()
                continue
            tally.add(result)
            if fmt == "json":
                kept += result.judged
            else:
                printer.rows(result.judged)
            advance()
    tally.fail_if_nothing_judged(len(files))
    tally.report_problems()
    if fmt == "json":
        click.echo(orjson.dumps(_document(kept, tally)).decode())
    elif fmt == "table":
        click.echo(tally.summary_line())


class _Tally:
    """Counts over every file, so that no verdict needs to be kept for the summary."""

    def __init__(self) -> None:
        self.verdicts: Counter[str] = Counter(summarize([]))
        self.unsupported = 0
        self.invalid = 0
        self.failed = 0
        self.problems: list[str] = []  # one line per file that was unreadable or held bad records

    def add(self, result: FileResult) -> None:
        self.verdicts.update(c.verdict for c in result.judged)
        self.unsupported += result.unsupported
        self.invalid += result.invalid
        if result.invalid:
            where = f"first at {result.first_invalid}"
            self.problems.append(f"{result.path}: {result.invalid} invalid record(s), {where}")

    def report_problems(self) -> None:
        for problem in self.problems:
            click.echo(f"reachwatch: error: {problem}", err=True)

    def summary_line(self) -> str:
        return (
            ", ".join(f"{k}: {v}" for k, v in self.verdicts.items())
            + f"; not classified: {self.unsupported} unsupported, {self.invalid} invalid"
        )

    def fail_if_nothing_judged(self, files: int) -> None:
        """Exit non-zero when the input held nothing judgeable because all of it was bad; one
        bad file is one line, more are one line each and then this one."""
        if sum(self.verdicts.values()) or not self.problems:
            return
        if len(self.problems) == 1:
            what = "no readable measurement file" if self.failed else "no measurement judged"
            raise UserError(f"{what}: {self.problems[0]}")
        self.report_problems()
        if self.failed == files:
            raise UserError("no readable measurement file")
        raise UserError(
            f"no measurement judged: {self.invalid} invalid record(s), "
            f"{self.failed} unreadable file(s), {self.unsupported} unsupported"
        )


@contextmanager
def _progress(total: int, *, redirect: bool) -> Iterator[Any]:
    """A bar of files done on a terminal's stderr; rows printed meanwhile go above it."""
    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda: None
        return
    with Progress(
        TextColumn("classify"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("files"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        redirect_stdout=redirect and sys.stdout.isatty(),
    ) as bar:
        task = bar.add_task("classify", total=total)
        yield lambda: bar.advance(task)


class _Printer:
    """Rows as they come: aligned text for people (coloured on a terminal), or CSV."""

    def __init__(self, fmt: str, out: TextIO) -> None:
        self.fmt = fmt
        self.out = out
        self.colour = out.isatty()
        self.started = False

    def rows(self, judged: list[Classified]) -> None:
        if self.fmt == "csv":
            write_csv(_HEADINGS, (_cells(c) for c in judged), header=not self.started)
        else:
            if not self.started:
                self.out.write(_line(_HEADINGS, colour=False))
            self.out.write("".join(_line(_cells(c), colour=self.colour) for c in judged))
        self.started = True


def _cells(c: Classified) -> tuple[str, ...]:
    layers = []
    for name in _LAYERS:
        lv = c.layers.get(name)
        layers.append(_SHORT.get(lv.verdict, lv.verdict) if lv else "-")
    return (c.verdict, c.technique or "", *layers, c.probe_cc, c.id, c.input or "")


def _line(cells: tuple[str, ...], *, colour: bool) -> str:
    # Control characters in measured data (a URL, an id) must not reach the terminal.
    parts = [_clean(cell) for cell in cells]
    for i, width in enumerate(_WIDTHS):
        padded = parts[i].ljust(width)
        code = _COLOUR.get(parts[i]) if colour else None
        parts[i] = f"\x1b[{code}m{padded}\x1b[0m" if code else padded
    return " ".join(parts) + "\n"


def _clean(text: str) -> str:
    return text if text.isprintable() else "".join(ch if ch.isprintable() else "?" for ch in text)


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


def _document(judged: list[Classified], tally: _Tally) -> dict[str, Any]:
    return {
        "measurements": [c.to_json() for c in judged],
        "summary": summarize(judged),
        "not_classified": {"unsupported": tally.unsupported, "invalid": tally.invalid},
    }
