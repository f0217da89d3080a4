"""`ingest --jobs 2` against `--jobs 1`: throughput on two cores, and the same store.

Builds the corpus bench/ingest.py builds (real web_connectivity samples from
../shared/reference with fresh ids, .jsonl.gz files), or reuses one given with --corpus. Then
runs `reachwatch ingest CORPUS --db FRESH --jobs N --json` for N = 1 and 2, alternating,
each in its own process and a fresh store, and prints for each: measurements/s (wall clock of
the whole command, worker start-up included), CPU seconds of the command and its workers, and
the ratio jobs-2/jobs-1 (target >= 1.8 on 2 cores). Last it checks that the two stores hold
the same bytes (every table file's, in commit order, and the manifest and quarantine file
apart from names and times) and fails if they do not.

On a shared machine the wall clock counts time other processes took from the cores: the load
average before and after is printed beside the figures.

    python bench/ingest_jobs.py [--count N] [--files N] [--repeat N] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from ingest import build_corpus

REACHWATCH = [sys.executable, "-c", "from reachwatch.cli import main; main()"]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_ingest(corpus: Path, db: Path, jobs: int) -> dict[str, Any]:
    cmd = [*REACHWATCH, "ingest", str(corpus), "--db", str(db), "--jobs", str(jobs), "--json"]
    cpu = _children_cpu()
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, check=True)
    seconds = time.perf_counter() - started
    summary: dict[str, Any] = orjson.loads(done.stdout)
    return {
        "jobs": jobs,
        "seconds": seconds,
        "cpu_seconds": _children_cpu() - cpu,
        "measurements": summary["stored"] + summary["duplicates"],
        "summary": summary,
    }


def store_contents(db: Path) -> dict[str, Any]:
    """What the store holds, file names and commit times left out."""
    manifest: list[dict[str, Any]] = []
    tables: dict[str, list[str]] = {}
    for line in (db / "manifest.jsonl").read_bytes().splitlines():
        entry = orjson.loads(line)
        entry.pop("committed_at")
        files = entry.pop("files")
        checks = entry.pop("checks")
        entry["files"] = {t: [checks[n] for n in names] for t, names in files.items()}
        manifest.append(entry)
        for table, names in files.items():
            tables.setdefault(table, []).extend(
                hashlib.sha256((db / name).read_bytes()).hexdigest() for name in names
            )
    quarantine = [p.read_bytes() for p in sorted((db / "quarantine").glob("*.jsonl"))]
    return {"manifest": manifest, "tables": tables, "quarantine": quarantine}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs per N; the fastest is kept")
    parser.add_argument("--corpus", type=Path, help="reuse (or build into) this folder")
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-jobs-") as tmp:
        corpus = args.corpus or Path(tmp) / "corpus"
        if not any(corpus.glob("*.jsonl.gz")):
            corpus.mkdir(parents=True, exist_ok=True)
            started = time.perf_counter()
            count, size = build_corpus(corpus, args.count, args.files)
            print(
                f"corpus: {count:,} measurements, {size / 1e6:,.0f} MB of JSON, {args.files} "
                f".jsonl.gz files (built in {time.perf_counter() - started:.1f} s)"
            )
        else:
            files = len(list(corpus.glob("*.jsonl.gz")))
            print(f"corpus: {corpus} reused ({files} .jsonl.gz files)")
        load_before = os.getloadavg()
        runs: dict[int, list[dict[str, Any]]] = {1: [], 2: []}
        for attempt in range(args.repeat):
            for jobs in (1, 2):
                runs[jobs].append(run_ingest(corpus, Path(tmp) / f"db-{jobs}-{attempt}", jobs))
        load_after = os.getloadavg()
        best = {jobs: min(r, key=lambda x: x["seconds"]) for jobs, r in runs.items()}
        same = store_contents(Path(tmp) / "db-1-0") == store_contents(Path(tmp) / "db-2-0")
    print(f"cores this process may use: {cores}")
    print(f"load average (1, 5, 15 min) before: {load_before}, after: {load_after}")
    print(f"{'':<16}{'meas./s':>10}{'wall s':>9}{'CPU s':>9}{'CPU us/meas.':>14}")
    for jobs, result in best.items():
        rate = result["measurements"] / result["seconds"]
        cpu_us = 1e6 * result["cpu_seconds"] / result["measurements"]
        print(
            f"{f'ingest --jobs {jobs}':<16}{rate:>10,.0f}{result['seconds']:>9.2f}"
            f"{result['cpu_seconds']:>9.2f}{cpu_us:>14.1f}"
        )
    ratio = best[1]["seconds"] / best[2]["seconds"]
    print(f"ratio --jobs 2 / --jobs 1: {ratio:.2f}x (target >= 1.8 on 2 cores)")
    print(f"stores equal (bytes of every table file, manifest, quarantine): {same}")
    if not same:
        sys.exit("the --jobs 2 store differs from the --jobs 1 store")


if __name__ == "__main__":
    main()
