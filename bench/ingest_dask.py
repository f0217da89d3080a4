"""`ingest --engine dask` on 1 and 2 Dask workers against the embedded engine (`--jobs 1`),
the same store, and what a country-year and OONI's whole corpus would cost.

Builds the corpus bench/ingest.py builds (real web_connectivity samples from
../shared/reference with fresh ids, .jsonl.gz files), or reuses one given with --corpus.
Starts a `dask scheduler` and W `dask worker` processes (one thread each) on loopback, for
W = 1 and then 2, and times `reachwatch ingest CORPUS --db FRESH --engine dask --scheduler
ADDR --json` against the standing cluster, and `reachwatch ingest ... --jobs 1` without one.
For each it prints measurements/s (wall clock of the whole command, connecting included),
the CPU the command itself used (the writer: it reads nothing, it stores), and the CPU the
workers used (judging). Last it checks that the 2-worker store holds the bytes the embedded
store holds (every table file's, in commit order, and the manifest and quarantine file
apart from names and times) and fails if it does not.

The projection: a cluster of W workers stores at most min(W x the rate one worker judges,
the rate the one writer stores) measurements a second, each rate taken from the CPU seconds
measured here; it is printed for W = 1..64 and three corpus sizes: OONI's whole published
corpus (683 million measurements of every test, ooni/ooni.org issue 1303, an upper bound for
web_connectivity), and the 2022 totals of Russia and Pakistan in the ACSAC series under
../shared/reference (when present). On this machine 2 workers and the writer share 2 cores:
the measured 2-worker rate is below the projection's, which assumes a core per worker.

    python bench/ingest_dask.py [--count N] [--files N] [--repeat N] [--corpus DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from ingest import REFERENCE, build_corpus
from ingest_jobs import store_contents

REACHWATCH = [sys.executable, "-c", "from reachwatch.cli import main; main()"]
DASK = str(Path(sys.executable).with_name("dask"))
OONI_PUBLISHED = 683_000_000  # every test, 2012 on (ooni/ooni.org issue 1303)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def cluster(workers: int, home: Path) -> Iterator[tuple[str, list[int]]]:
    """A scheduler and `workers` single-thread workers on loopback; its address, and the
    worker processes (their nannies, whose children do the work)."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = (home / f"cluster-{workers}.log").open("wb")
    common: dict[str, Any] = {"stdout": log, "stderr": log, "start_new_session": True}
    scheduler = ["scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"]
    procs = [subprocess.Popen([DASK, *scheduler, "--no-show"], **common)]
    for n in range(workers):
        worker = ["worker", address, "--nworkers", "1", "--nthreads", "1", "--host", "127.0.0.1",
                  "--no-dashboard", "--local-directory", str(home / f"w{workers}-{n}")]  # fmt: skip
        procs.append(subprocess.Popen([DASK, *worker], **common))
    try:
        with Client(address, timeout=60) as client:  # type: ignore[no-untyped-call]
            client.wait_for_workers(workers, timeout=60)
        yield address, [p.pid for p in procs[1:]]
    finally:
        for p in reversed(procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            p.wait()
        log.close()


def _tree_cpu(roots: list[int]) -> float:
    """CPU seconds used so far by these processes and their descendants (Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    stack = list(roots)
    while stack:
        pid = stack.pop()
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack += [int(c) for c in (task / "children").read_text().split()]
    return total


def run_ingest(corpus: Path, db: Path, extra: list[str], workers: list[int]) -> dict[str, Any]:
    cmd = [*REACHWATCH, "ingest", str(corpus), "--db", str(db), "--json", *extra]
    worker_cpu = _tree_cpu(workers)
    out, err = db.with_suffix(".out"), db.with_suffix(".err")
    started = time.perf_counter()
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
        # wait4, not Popen.wait: it gives the CPU time of this one command (the writer)
        _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        sys.exit(f"ingest failed: {err.read_text()[-2000:]}")
    summary: dict[str, Any] = orjson.loads(out.read_bytes())
    return {
        "seconds": seconds,
        "writer_cpu": usage.ru_utime + usage.ru_stime,
        "worker_cpu": _tree_cpu(workers) - worker_cpu,
        "measurements": summary["stored"] + summary["duplicates"],
    }


def country_years() -> dict[str, int]:
    """Measurements in 2022 per country in the ACSAC series (../shared/reference)."""
    folder = REFERENCE / "acsac-series" / "ooni"
    found = {}
    for cc in ("ru", "pk"):
        path = folder / f"ooni-data-{cc}.csv"
        if path.exists():
            with path.open() as f:
                rows = [r for r in csv.DictReader(f) if r["date"].startswith("2022")]
            found[f"{cc.upper()} 2022 (ACSAC series)"] = sum(int(float(r["total"])) for r in rows)
    return found


def _duration(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50_000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=2, help="runs per setting; fastest kept")
    parser.add_argument("--corpus", type=Path, help="reuse (or build into) this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-dask-") as tmp_name:
        tmp = Path(tmp_name)
        corpus = args.corpus or tmp / "corpus"
        if not any(corpus.glob("*.jsonl.gz")):
            corpus.mkdir(parents=True, exist_ok=True)
            count, size = build_corpus(corpus, args.count, args.files)
            print(f"corpus: {count:,} measurements, {size / 1e6:,.0f} MB of JSON, "
                  f"{args.files} .jsonl.gz files")  # fmt: skip
        else:
            print(f"corpus: {corpus} reused ({len(list(corpus.glob('*.jsonl.gz')))} files)")
        load_before = os.getloadavg()
        best: dict[str, dict[str, Any]] = {}
        for attempt in range(args.repeat):
            name = "embedded --jobs 1"
            run = run_ingest(corpus, tmp / f"db-embedded-{attempt}", ["--jobs", "1"], [])
            if name not in best or run["seconds"] < best[name]["seconds"]:
                best[name] = run
        for workers in (1, 2):
            with cluster(workers, tmp) as (address, processes):
                name = f"dask, {workers} worker{'s' if workers > 1 else ''}"
                for attempt in range(args.repeat):
                    db = tmp / f"db-dask{workers}-{attempt}"
                    extra = ["--engine", "dask", "--scheduler", address]
                    run = run_ingest(corpus, db, extra, processes)
                    if name not in best or run["seconds"] < best[name]["seconds"]:
                        best[name] = run
        load_after = os.getloadavg()
        same = store_contents(tmp / "db-embedded-0") == store_contents(tmp / "db-dask2-0")
    print(f"cores: {len(os.sched_getaffinity(0))}; load average before {load_before}, "
          f"after {load_after}")  # fmt: skip
    print(f"{'':<20}{'meas./s':>9}{'wall s':>8}{'writer CPU s':>14}{'worker CPU s':>14}")
    for name, r in best.items():
        rate = r["measurements"] / r["seconds"]
        print(f"{name:<20}{rate:>9,.0f}{r['seconds']:>8.2f}{r['writer_cpu']:>14.2f}"
              f"{r['worker_cpu']:>14.2f}")  # fmt: skip
    base = best["embedded --jobs 1"]["seconds"]
    for name in ("dask, 1 worker", "dask, 2 workers"):
        print(f"ratio {name} / embedded --jobs 1: {base / best[name]['seconds']:.2f}x")
    scaling = best["dask, 1 worker"]["seconds"] / best["dask, 2 workers"]["seconds"]
    print(f"ratio dask 2 workers / 1 worker: {scaling:.2f}x")
    print(f"stores equal (embedded --jobs 1 and dask with 2 workers): {same}")

    two = best["dask, 2 workers"]
    judge_rate = two["measurements"] / two["worker_cpu"]
    writer_rate = two["measurements"] / two["writer_cpu"]
    print(f"\nmeasured: one worker judges {judge_rate:,.0f} meas. per CPU second; the writer "
          f"stores {writer_rate:,.0f} per CPU second")  # fmt: skip
    sizes = {"OONI's whole published corpus": OONI_PUBLISHED, **country_years()}
    widths = (1, 2, 4, 8, 16, 32, 64)
    print(f"projection (hours; W workers, a core each, one writer): "
          f"min(W x {judge_rate:,.0f}, {writer_rate:,.0f}) meas./s")  # fmt: skip
    print(f"{'':<34}{'measurements':>14}" + "".join(f"{f'W={w}':>12}" for w in widths))
    for label, n in sizes.items():
        cells = [_duration(n / min(w * judge_rate, writer_rate)) for w in widths]
        print(f"{label:<34}{n:>14,}" + "".join(f"{c:>12}" for c in cells))
    print(f"the writer caps a cluster at {writer_rate / judge_rate:.1f} workers' worth")
    if not same:
        sys.exit("the dask store differs from the embedded store")


if __name__ == "__main__":
    main()
