"""`reachwatch lab`: run the censorship lab's scenarios, or clean up after a killed run."""

from __future__ import annotations

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.cli._app import app
from reachwatch.cli._output import chosen_format, format_option, print_table, write_csv
from reachwatch.lab import (
    LabReport,
    clean_leftovers,
    load_scenarios,
    require_lab_environment,
    run_lab,
    select,
)


@app.group("lab")
def lab_group() -> None:
    """The censorship lab: real packet filtering in network namespaces (root, Linux)."""


@lab_group.command("run")
@click.option("--scenario", "name", default="all", show_default=True, help="NAME or all.")
@click.option("--platform", default="x", show_default=True, help="Catalog platform to test.")
@format_option
def run_command(name: str, platform: str, as_json: bool, output: str | None) -> None:
    """Build the lab, run `reachwatch probe` per scenario, score the verdicts, tear down."""
    fmt = chosen_format(output, as_json)
    scenarios = select(load_scenarios(), name)
    require_lab_environment()
    console = Console(stderr=True, log_path=False)
    report = run_lab(scenarios, platform=platform, progress=lambda m: console.log(m))
    if fmt == "json":
        click.echo(orjson.dumps(report.to_json()).decode())
    elif fmt == "csv":
        write_csv(
            ("scenario", "host", "expected", "observed", "correct"),
            (
                (scenario.name, host.host, host.expected.label, host.observed_label, host.correct)
                for scenario in report.scenarios
                for host in scenario.hosts
            ),
        )
    else:
        _print_report(report, Console())


@lab_group.command("clean")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def clean_command(as_json: bool) -> None:
    """Remove namespaces, links and rules a killed lab left behind."""
    require_lab_environment()
    removed = clean_leftovers()
    if as_json:
        click.echo(orjson.dumps({"removed": removed}).decode())
        return
    click.echo(
        f"removed {len(removed)} lab namespace(s)" + (f": {' '.join(removed)}" if removed else "")
    )


def _print_report(report: LabReport, console: Console) -> None:
    table = Table(title="reachwatch lab: expected and observed verdicts")
    for column in ("scenario", "host", "expected", "observed", ""):
        # Wrapped, never cut: a verdict label cut short reads as another verdict.
        table.add_column(column, overflow="fold")
    for scenario in report.scenarios:
        for host in scenario.hosts:
            mark = "[green]ok[/]" if host.correct else "[red]WRONG[/]"
            # Extra facts a scenario checks (e.g. that DoH still resolves), passed or not.
            facts = [
                f"{name}: {'yes' if passed else 'NO'}"
                for name, passed in host.checks.items()
                if isinstance(passed, bool)
            ]
            observed = host.observed_label + (f" ({', '.join(facts)})" if facts else "")
            table.add_row(scenario.name, host.host, host.expected.label, observed, mark)
        if scenario.error:
            table.add_row(scenario.name, "", "", f"[red]{scenario.error}[/]", "")
        table.add_section()
    print_table(console, table)
    matrix = report.confusion()
    observed_labels = sorted({label for row in matrix.values() for label in row})
    confusion = Table(title="confusion matrix (rows: expected, columns: observed)")
    confusion.add_column("expected")
    for label in observed_labels:
        confusion.add_column(label, justify="right")
    for expected, row in matrix.items():
        confusion.add_row(expected, *(str(row.get(label, "")) for label in observed_labels))
    print_table(console, confusion)
    results = report.results
    console.print(
        f"accuracy {report.accuracy:.1%} ({sum(r.correct for r in results)}/{len(results)})"
        f" in {report.seconds:.1f}s"
    )
