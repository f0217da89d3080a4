"""`reachwatch simulate CASE --out DIR [--seed N]`: a labelled synthetic OONI corpus."""

from __future__ import annotations

from pathlib import Path

import click
import orjson
from rich.console import Console

from reachwatch.cases import load_case
from reachwatch.cli._app import app
from reachwatch.simulate import MAX_SEED, MIN_SEED, scenario_from_case, write_corpus


@app.command("simulate")
@click.argument("case")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output folder.")
@click.option(
    "--seed",
    type=click.IntRange(MIN_SEED, MAX_SEED),
    default=1,
    show_default=True,
    help="Same seed, same corpus.",
)
@click.option("--rate", type=click.FloatRange(min=0.01, max=100), default=None,
              help="Measurements per network per hour (default: the case's).")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document.")
def simulate_command(case: str, out: Path, seed: int, rate: float | None, as_json: bool) -> None:
    """Simulate CASE (a case file or a shipped case name such as pk-x-2024) as an OONI corpus
    under OUT/raw, with the ground truth in OUT/ground-truth.json. Every measurement is
    labelled synthetic."""
    scenario = scenario_from_case(load_case(case), rate=rate)
    summary = write_corpus(scenario, out, seed=seed)
    if as_json:
        doc = {
            "synthetic": True,
            "case": scenario.case_id,
            "seed": seed,
            "corpus": str(summary.corpus),
            "ground_truth": str(summary.truth),
            "files": summary.files,
            "measurements": summary.measurements,
            "late_uploads": summary.late_uploads,
        }
        click.echo(orjson.dumps(doc).decode())
        return
    console = Console()
    console.print("[bold yellow]SYNTHETIC DATA[/]: simulated measurements, labelled as such")
    console.print(
        f"wrote {summary.measurements:,} measurements in {summary.files} files under "
        f"{summary.corpus} ({summary.late_uploads:,} uploaded late), seed {seed}"
    )
    console.print(f"ground truth: {summary.truth}")
    console.print(f"next: reachwatch ingest {summary.corpus} --db DB && reachwatch detect --db DB")
