"""A watch's detection round: `IncrementalDetect` (reads only new files, builds only the
changed series' timelines) against `detect` over the whole store, as the store grows a day
at a time.

Simulates the pk-x-2024 case (`reachwatch simulate`: 98 days of measurements from Pakistan's
networks, one .jsonl.gz per day), ingests the first `--start` days at once, then one day per
round. Each round runs both on the same store, checks that they answer the same (the run
fails otherwise), and times both; it prints per round the seconds of each and what the
incremental run read and built, then the totals and the ratio full / incremental.

    python bench/detect_incremental.py [--start N] [--rounds N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from reachwatch.detect import IncrementalDetect, detect
from reachwatch.ingest import ingest
from reachwatch.store import open_store

REACHWATCH = [sys.executable, "-c", "from reachwatch.cli import main; main()"]


def full_detect(db: Path) -> dict[str, object]:
    con = open_store(db, read_only=True, cc="PK")
    try:
        return detect(con, cc="PK", platform="x").to_json()
    finally:
        con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", type=int, default=60, help="days in the store at first")
    parser.add_argument("--rounds", type=int, default=20, help="rounds of one new day each")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-inc-") as tmp_name:
        tmp = Path(tmp_name)
        subprocess.run([*REACHWATCH, "simulate", "pk-x-2024", "--out", str(tmp / "sim")],
                       check=True, capture_output=True)  # fmt: skip
        days = sorted((tmp / "sim" / "raw").iterdir())
        if len(days) <= args.start + args.rounds:
            sys.exit(f"the simulation has {len(days)} days: fewer than --start + --rounds")
        db = tmp / "db"
        ingest(days[: args.start], db)
        inc = IncrementalDetect(db, "PK", "x")
        started = time.perf_counter()
        inc.run()  # the first round reads everything: not what the rounds below measure
        first = time.perf_counter() - started
        print(f"store: {args.start} days; first incremental run (reads all): {first:.2f} s")
        print(f"{'round':>5}{'full s':>9}{'incr. s':>9}{'files read':>12}{'rows read':>11}"
              f"{'series built':>14}")  # fmt: skip
        total_full = total_inc = 0.0
        for number, day in enumerate(days[args.start : args.start + args.rounds], 1):
            ingest([day], db)
            started = time.perf_counter()
            expected = full_detect(db)
            full = time.perf_counter() - started
            started = time.perf_counter()
            got = inc.run().to_json()
            incremental = time.perf_counter() - started
            if got != expected:
                sys.exit(f"round {number}: the incremental answer differs from detect's")
            total_full += full
            total_inc += incremental
            work = inc.last
            built = f"{work.timelines_built}/{work.series}"
            print(f"{number:>5}{full:>9.3f}{incremental:>9.3f}{work.files_read:>12}"
                  f"{work.measurements_read:>11,}{built:>14}")  # fmt: skip
        inc.close()
        print(f"total over {args.rounds} rounds: full {total_full:.2f} s, incremental "
              f"{total_inc:.2f} s; ratio full / incremental {total_full / total_inc:.2f}x; "
              "answers equal every round")  # fmt: skip
        kept_rows(tmp, db, days[args.start + args.rounds])


def kept_rows(tmp: Path, db: Path, day: Path) -> None:
    """`detect --cc` run again by a new process: rows kept in a file, one new day."""
    kept = tmp / "kept.duckdb"
    IncrementalDetect(db, "PK", "x", rows_file=kept).run()  # an earlier detect
    ingest([day], db)
    started = time.perf_counter()
    expected = full_detect(db)
    full = time.perf_counter() - started
    later = IncrementalDetect(db, "PK", "x", rows_file=kept)
    started = time.perf_counter()
    got = later.run().to_json()
    seconds = time.perf_counter() - started
    later.close()
    if got != expected:
        sys.exit("the kept rows' answer differs from detect's")
    print(f"a later process, rows kept in a file, one new day: {seconds:.3f} s against a full "
          f"detect's {full:.3f} s ({full / seconds:.2f}x); read {later.last.files_read} "
          "file(s); answers equal")  # fmt: skip


if __name__ == "__main__":
    main()
