"""`reachwatch demo`: the pk-x-2024 case end to end on synthetic data (what `make demo` runs):
simulate, ingest, detect, check the case, and say where to look next."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson
from rich.console import Console
from rich.table import Table

from reachwatch.cases import check_case, load_case
from reachwatch.cli._app import app
from reachwatch.cli.case_cmd import print_compliance
from reachwatch.cli.detect_cmd import (
    SYNTHETIC_BANNER,
    console_for_output,
    print_detection,
    when,
)
from reachwatch.errors import UserError
from reachwatch.simulate import (
    CORPUS_DIR,
    MAX_SEED,
    MIN_SEED,
    TRUTH_FILE,
    CorpusSummary,
    scenario_from_case,
    write_corpus,
)
from reachwatch.store import open_store

if TYPE_CHECKING:
    from reachwatch.ingest import IngestSummary

CASE = "pk-x-2024"
STORE_DIR = "db"
REPORT_DIR = "report"
BUNDLE_FILE = "evidence.zip"
# Written first into the folder a demo fills: only a folder holding it is replaced.
MARKER = "reachwatch-demo.json"


def _fresh(out: Path) -> None:
    """Clear what an earlier demo left in `out`, and nothing else: a folder that is neither
    new, empty nor marked as demo output is refused (`raw/` is what `ooni sync` writes too)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"{out}: exists and is not a folder")
    try:
        if out.is_dir() and any(out.iterdir()) and not (out / MARKER).is_file():
            raise UserError(
                f"{out}: not empty and not the output of an earlier `reachwatch demo`; "
                "give --out a new or empty folder"
            )
        out.mkdir(parents=True, exist_ok=True)
        (out / MARKER).write_bytes(orjson.dumps({"reachwatch": "demo", "case": CASE}))
        for name in (CORPUS_DIR, STORE_DIR, REPORT_DIR):
            if (out / name).is_dir():
                shutil.rmtree(out / name)
        (out / TRUTH_FILE).unlink(missing_ok=True)
        (out / BUNDLE_FILE).unlink(missing_ok=True)
    except OSError as exc:
        raise UserError(f"{out}: cannot prepare the demo folder ({exc.strerror})") from None


@app.command("demo")
@click.option(
    "--out", type=click.Path(path_type=Path), default=Path("out/demo"), show_default=True,
    help="New or empty folder for the synthetic corpus and its store (or an earlier demo's "
    "output, which is replaced).",
)  # fmt: skip
@click.option("--seed", type=click.IntRange(MIN_SEED, MAX_SEED), default=1, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document (no tables).")
def demo_command(out: Path, seed: int, as_json: bool) -> None:
    """Simulate the pk-x-2024 case, ingest it, detect incidents and check the court orders."""
    from reachwatch.ingest import ingest  # imported here: the classifier loads its data

    case = load_case(CASE)
    _fresh(out)  # before any output: a bad --out is a one-line error
    # With --json the tables are still built (they check the output), but never shown.
    console = Console(quiet=True) if as_json else console_for_output()
    console.rule(f"[bold yellow]reachwatch demo: {CASE} -- {SYNTHETIC_BANNER}")
    clock = time.monotonic()

    scenario = scenario_from_case(case)
    corpus = write_corpus(scenario, out, seed=seed)
    console.print(
        f"1. simulated {corpus.measurements:,} measurements ({corpus.late_uploads:,} uploaded "
        f"late) on {len(scenario.networks)} networks, {scenario.start:%Y-%m-%d} to "
        f"{scenario.end:%Y-%m-%d}, seed {seed}: {corpus.corpus}  [{_since(clock)}]"
    )
    db = out / STORE_DIR
    summary = ingest([corpus.corpus], db)
    console.print(
        f"2. ingested {summary.stored:,} measurements into {db} "
        f"(quarantined {sum(summary.quarantined.values())})  [{_since(clock)}]"
    )
    con = open_store(db, read_only=True)
    try:
        checked = check_case(case, con)
    finally:
        con.close()
    doc = checked.to_json()
    detection = checked.detection.to_json()
    console.print(f"3. detected {len(detection['incidents'])} incident(s)  [{_since(clock)}]")
    console.rule("incidents")
    print_detection(console, detection)
    _print_truth(console, out / TRUTH_FILE, detection)
    console.rule("court orders and whether the measurements show them followed")
    print_compliance(console, doc)
    report_dir, bundle = out / REPORT_DIR, out / BUNDLE_FILE
    reported = _report_and_verify(console, out, report_dir, bundle)
    if reported:
        console.print(f"4. report and signed bundle written and verified  [{_since(clock)}]")
    console.rule(f"done in {_since(clock)}")
    if as_json:
        document = _document(out, seed, corpus, summary, doc, detection)
        if reported:
            document["report"] = str(report_dir / "report.html")
            document["bundle"] = str(bundle)  # verified: the demo stops with an error otherwise
        click.echo(orjson.dumps(document).decode())
        return
    console.print("where to look next:")
    steps = (
        (f"reachwatch detect --db {db} --json", "incidents with bounds and evidence ids"),
        (f"reachwatch case check {CASE} --db {db} --json", "the compliance check as data"),
        (f"reachwatch case show {CASE}", "the dated, sourced timeline of the case"),
        (str(report_dir / "report.html"), "the report (and report.pdf beside it)"),
        (
            f"reachwatch verify {bundle} --key {out / 'keys' / 'reachwatch-signing.pub'}",
            "check the signed evidence bundle again",
        ),
        (str(out / TRUTH_FILE), "what the simulation really did"),
        ("docs/detection.md", "how detection works, and its limits"),
    )
    width = max(len(cmd) for cmd, _ in steps) + 2
    for cmd, why in steps:
        console.print(f"  {cmd:<{width}}{why}", highlight=False)
    console.print(f"open the dashboard on the demo's store: {serve_line(out, signed=reported)}",
                  highlight=False, soft_wrap=True)  # fmt: skip


def serve_line(out: Path, *, signed: bool) -> str:
    """The command that serves the demo's store, and where to point a browser. With the demo's
    own key, the dashboard offers the case's signed evidence bundle too."""
    from reachwatch.cli.serve_cmd import DEFAULT_HOST, DEFAULT_PORT
    from reachwatch.evidence import PRIVATE_NAME

    key = f" --key {out / 'keys' / PRIVATE_NAME}" if signed else ""
    return (
        f"reachwatch serve --db {out / STORE_DIR}{key}, then open "
        f"http://{DEFAULT_HOST}:{DEFAULT_PORT}/ (Ctrl-C stops it)"
    )


def _document(
    out: Path,
    seed: int,
    corpus: CorpusSummary,
    summary: IngestSummary,
    compliance: dict[str, Any],
    detection: dict[str, Any],
) -> dict[str, Any]:
    return {
        "synthetic": True,
        "case": CASE,
        "seed": seed,
        "corpus": str(corpus.corpus),
        "ground_truth": str(out / TRUTH_FILE),
        "db": str(out / STORE_DIR),
        "measurements": corpus.measurements,
        "stored": summary.stored,
        "quarantined": sum(summary.quarantined.values()),
        "incidents": detection["incidents"],
        "compliance": compliance,
    }


def _report_and_verify(console: Console, out: Path, report_dir: Path, bundle: Path) -> bool:
    """The demo's report and evidence bundle, signed with a demo key kept in out/keys (never
    the user's own key), then verified as a reader would; False when chromium is missing."""
    from reachwatch.cli.report_cmd import run_report, run_verify
    from reachwatch.evidence import PRIVATE_NAME, PUBLIC_NAME, generate_keys
    from reachwatch.report import find_chromium

    if find_chromium() is None:
        console.print(
            "no chromium here: the report's PDF, and so the report and its bundle, "
            "are skipped (apt-get install chromium)"
        )
        return False
    keys = out / "keys"
    if not (keys / PRIVATE_NAME).exists():
        generate_keys(keys)
    console.rule("report and signed evidence")

    def say(line: str) -> None:
        console.print(line, highlight=False, markup=False)

    run_report(CASE, out / STORE_DIR, report_dir, bundle, keys / PRIVATE_NAME, echo=say)
    if not run_verify(bundle, keys / PUBLIC_NAME, echo=say):
        raise UserError(f"{bundle}: the demo's own bundle does not verify")
    return True


def _since(start: float) -> str:
    return f"{time.monotonic() - start:.1f} s"


def _print_truth(console: Console, truth_path: Path, detection: dict[str, Any]) -> None:
    """Detected start per network next to the simulation's ground truth."""
    truth = orjson.loads(truth_path.read_bytes())
    detected = {n["network"]: n for inc in detection["incidents"] for n in inc["networks"]}
    table = Table(title="detected vs simulated ground truth (first start, last end per network)",
                  title_justify="left")  # fmt: skip
    for col in ("network", "true start", "detected start", "true end", "detected end"):
        table.add_column(col)
    for network, info in truth["networks"].items():
        blocks = info["blocks"]
        found = detected.get(network)
        true_end = blocks[-1]["end"] if blocks else None
        table.add_row(
            network,
            when(blocks[0]["start"]) if blocks else "never blocked",
            when(found["start"]) if found else "not detected",
            when(true_end) if true_end else ("after the window" if blocks else ""),
            (when(found["end"]) if found["end"] else "ongoing at end of data") if found else "",
        )
    console.print(table)
