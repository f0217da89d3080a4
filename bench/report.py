"""Report and evidence timings on the demo case (pk-x-2024, SYNTHETIC, ~40k measurements).

Simulates and ingests the demo corpus into a temporary store (not timed), then times:
1. the whole report: facts from the store, report.html, and report.pdf printed by chromium
   (target: under 30 s);
2. bundle + verify: the raw bytes of every measurement in scope read back, zipped and signed,
   then verified, which classifies every measurement again and re-derives every claim
   (target: under 30 s).
Each figure is printed with its ratio to the 30 s target (below 1.0 meets it).

Run: .venv/bin/python bench/report.py [--seed N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import figure, peak_rss_mib
from reachwatch.cases import load_case, resolve_case
from reachwatch.evidence import (
    PRIVATE_NAME,
    fingerprint,
    generate_keys,
    load_private_key,
    verify_bundle,
    write_bundle,
)
from reachwatch.ingest import ingest
from reachwatch.report import build_report, find_chromium, write_report
from reachwatch.simulate import scenario_from_case, write_corpus
from reachwatch.store import open_store

TARGET_S = 30.0
CASE = "pk-x-2024"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    case = load_case(CASE)
    case_text, _ = resolve_case(CASE)
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-report-") as tmp:
        root = Path(tmp)
        corpus = write_corpus(scenario_from_case(case), root / "sim", seed=args.seed)
        ingest([corpus.corpus], root / "db")
        generate_keys(root / "keys")
        key = load_private_key(root / "keys" / PRIVATE_NAME)
        pdf = find_chromium() is not None
        con = open_store(root / "db", read_only=True)
        try:
            start = time.perf_counter()
            report = build_report(case, con, signer=fingerprint(key.public_key()))
            write_report(report, root / "report", pdf=pdf)
            built = time.perf_counter() - start
            start = time.perf_counter()
            made = write_bundle(
                root / "evidence.zip",
                report=report,
                report_dir=root / "report",
                case=case,
                case_text=case_text,
                con=con,
                key=key,
            )
            bundled = time.perf_counter() - start
        finally:
            con.close()
        start = time.perf_counter()
        result = verify_bundle(made.path.read_bytes(), key.public_key())
        verified = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"the bundle did not verify: {[str(f) for f in result.findings]}")
    print(
        f"demo case {CASE} (SYNTHETIC), seed {args.seed}: {corpus.measurements:,} simulated, "
        f"{made.measurements:,} in the report's scope; PDF {'printed' if pdf else 'skipped'}"
    )
    figure("report build (facts + html + pdf)", built, "s")
    figure("  ratio to the 30 s target", built / TARGET_S, "x")
    figure("bundle write", bundled, "s")
    figure("verify (container, signature, hashes, re-derive)", verified, "s")
    figure("bundle + verify", bundled + verified, "s")
    figure("  ratio to the 30 s target", (bundled + verified) / TARGET_S, "x")
    figure("bundle size", made.size / 1e6, "MB")
    figure("peak RSS", peak_rss_mib(), "MiB")


if __name__ == "__main__":
    main()
