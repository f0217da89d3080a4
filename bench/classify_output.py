"""Benchmark: `reachwatch classify` printing for people against printing JSON.

The corpus is the demo's (`reachwatch simulate pk-x-2024`, about 38k measurements), or the one
under --raw. Each output is timed as a user runs it (its own process, stdout to a file): the
streamed human table, CSV, and the one JSON document. Target: the human table costs at most
twice the JSON path in wall time.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_RATIO = 2.0
REACHWATCH = str(Path(sys.executable).with_name("reachwatch"))


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout, inlined: mypy cannot follow the sys.path import of it.
    print(f"{name:48} {value:12.3f} {unit}")


def timed(args: list[str], out: Path) -> float:
    """Wall seconds of one run with stdout to `out`."""
    started = time.monotonic()
    with out.open("wb") as sink:
        subprocess.run([REACHWATCH, *args], stdout=sink, check=True)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", type=Path, help="a corpus folder (default: simulate one)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        raw = args.raw
        if raw is None:
            out = Path(tmp) / "sim"
            subprocess.run(
                [REACHWATCH, "simulate", "pk-x-2024", "--out", str(out), "--json"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            raw = out / "raw"
        best: dict[str, float] = {}
        for name, extra in (("json", ["--json"]), ("csv", ["--format", "csv"]), ("table", [])):
            command = ["classify", str(raw), *extra]
            best[name] = min(timed(command, Path(tmp) / name) for _ in range(args.rounds))
            figure(f"classify --format {name}: best of {args.rounds}", best[name], "s")
        lines = sum(1 for _ in (Path(tmp) / "table").open())
        figure("measurements judged (table lines less 2)", lines - 2, "")
        figure("human table / JSON wall time", best["table"] / best["json"], "x")
        ratio = best["table"] / best["json"]
        figure(f"ratio to the {TARGET_RATIO:g}x target", ratio / TARGET_RATIO, "x")


if __name__ == "__main__":
    main()
