"""How commands print tables: for a terminal, for a pipe, as CSV, and the option choosing it.

Rich assumes 80 columns when stdout is not a terminal and squeezes a wide table into them until
it is unreadable; piped, a table is printed at its own natural width instead.
"""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table

F = TypeVar("F", bound=Callable[..., Any])
FORMATS = ("table", "csv", "json")


def format_option(command: F) -> F:
    """`--format table|csv|json` and its shorthand `--json`, resolved into one `output` value."""
    command = click.option(
        "--format",
        "output",
        type=click.Choice(FORMATS),
        default=None,
        help="Output: a table (default), CSV rows, or one JSON document (as --json).",
    )(command)
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")(command)


def chosen_format(output: str | None, as_json: bool) -> str:
    if as_json and output not in (None, "json"):
        raise click.UsageError(f"--json and --format {output} ask for different outputs")
    return "json" if as_json else (output or "table")


def print_table(console: Console, table: Table) -> None:
    """The table at the terminal's width, or at its own natural width when piped."""
    if console.is_terminal or console.quiet:
        console.print(table)
        return
    measuring = Console(width=100_000, file=console.file, color_system=None)
    width = Measurement.get(measuring, measuring.options, table).maximum
    Console(width=max(width, 80), file=console.file, color_system=None).print(table)


def write_csv(
    columns: Sequence[str], rows: Iterable[Sequence[Any]], *, header: bool = True
) -> None:
    """CSV on stdout, header first (unless continuing earlier rows); None is an empty cell."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    if header:
        writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if cell is None else cell for cell in row])


if TYPE_CHECKING:  # generic only from click 8.2; the project allows 8.1
    _FloatParam = click.ParamType[float, Any]
else:
    _FloatParam = click.ParamType


class FiniteFloat(_FloatParam):
    """A float within [low, high]: nan and inf are refused, which click.FloatRange lets through
    (every comparison with nan is false)."""

    name = "float"

    def __init__(self, low: float, high: float) -> None:
        self.low = low
        self.high = high

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number) or not self.low <= number <= self.high:
            self.fail(f"{value} is not a number from {self.low:g} to {self.high:g}", param, ctx)
        return number
