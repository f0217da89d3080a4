"""Rejudge rate against ingest, on one core.

Builds the corpus bench/ingest.py builds (real web_connectivity samples with fresh ids), ingests
it, then times `rejudge` over the whole store: every measurement read back from the store's
evidence table, parsed, classified again, and its measurement and observation rows written as
one batch that supersedes the old files. Prints measurements/s for both and the ratio
rejudge/ingest (the baseline: what re-reading the corpus files would cost instead).

    python bench/rejudge.py [--count N] [--files N]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from _common import peak_rss_mib
from ingest import build_corpus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=10)
    args = parser.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    from reachwatch.ingest import ingest, rejudge

    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        count, size = build_corpus(corpus, args.count, args.files)
        print(f"corpus: {count:,} measurements, {size / 1e6:,.0f} MB of JSON")
        db = Path(tmp) / "db"
        started = time.perf_counter()
        stored = ingest([corpus], db)
        ingest_s = time.perf_counter() - started
        started = time.perf_counter()
        again = rejudge(db)
        rejudge_s = time.perf_counter() - started
    assert again.rejudged == stored.stored, (again, stored)
    ingest_rate, rejudge_rate = stored.stored / ingest_s, again.rejudged / rejudge_s
    print(f"{'ingest (read corpus, classify, store)':<44}{ingest_rate:>10,.0f} meas./s")
    print(f"{'rejudge (read store, classify, store)':<44}{rejudge_rate:>10,.0f} meas./s")
    print(f"peak RSS {peak_rss_mib():,.0f} MiB (rejudge holds its whole batch)")
    print(f"ratio rejudge/ingest: {rejudge_rate / ingest_rate:.3f}")


if __name__ == "__main__":
    main()
