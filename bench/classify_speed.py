"""Benchmark: classifying a corpus with this install against a baseline install.

Races two interpreters (this one and --baseline, e.g. another checkout's .venv/bin/python),
each classifying the same measurements in its own process, rounds alternating so that a busy
machine slows both alike. Files are read and parsed before the clock starts: only judging is
timed. Prints the median wall time of each, the ratio to the baseline, and whether the two
gave the same verdict, technique and rule ids for every measurement and observation.

Corpus: every measurement file under --corpus (default: ../shared/reference next to the
checkout) and, with --simulated, the demo's simulated corpus (`reachwatch simulate pk-x-2024`).
Target: at most 1.05x the baseline's time, with identical verdicts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_RATIO = 1.05
SUFFIXES = (".json", ".jsonl", ".jsonc", ".json.gz", ".jsonl.gz")
DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "reference"


def figure(name: str, value: float, unit: str) -> None:
    # bench/_common.py's layout, inlined: mypy cannot follow the sys.path import of it.
    print(f"{name:56} {value:12.3f} {unit}")


def corpus_files(roots: list[Path]) -> list[Path]:
    found = []
    for root in roots:
        found += [p for p in root.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES)]
    return sorted(found)


def worker(files: list[Path], repeat: int, dump: Path | None) -> None:
    """Run inside the interpreter under test: parse, then time judging `repeat` times."""
    from reachwatch.classify._censoredplanet import HYPERQUACK_SERVICES
    from reachwatch.classify._errors import InvalidMeasurement, Unsupported
    from reachwatch.classify._files import _judge, _records
    from reachwatch.classify._fingerprints import default_fingerprints
    from reachwatch.errors import ReachwatchError

    fps = default_fingerprints()
    records: list[tuple[str, Any, str | None]] = []
    for path in files:
        name = path.name.lower()  # the service a Hyperquack file holds, as classify_file says
        service = next((s for s in HYPERQUACK_SERVICES if s in name), None)
        if service == "http" and "https" in name:
            service = "https"
        try:
            records += [(f"{path}:{where}", r, service) for where, r in _records(path)]
        except ReachwatchError:
            continue
    judged: list[tuple[str, Any]] = []
    best = float("inf")
    for _ in range(repeat):
        judged = []
        started = time.perf_counter()
        for where, record, service in records:
            try:
                judged.append((where, _judge(record, fps, service)))
            except (Unsupported, InvalidMeasurement) as exc:
                judged.append((where, type(exc).__name__))
        best = min(best, time.perf_counter() - started)
    lines = [json.dumps([where, _summary(c)], sort_keys=True) for where, c in judged]
    if dump is not None:
        dump.write_text("\n".join(lines) + "\n")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    print(json.dumps({"seconds": best, "judged": len(judged), "digest": digest}))


def _summary(c: Any) -> Any:
    if isinstance(c, str):
        return c
    return {
        "verdict": c.verdict,
        "technique": c.technique,
        "layers": {k: [v.verdict, v.rule, v.technique] for k, v in c.layers.items()},
        "observations": [
            [o.host, o.address, o.layer, o.verdict, o.rule, o.technique, o.failure]
            for o in c.observations
        ],
    }


def run(python: str, files_list: Path, repeat: int, dump: Path | None) -> dict[str, Any]:
    command = [python, __file__, "--worker", str(files_list), "--repeat", str(repeat)]
    if dump is not None:
        command += ["--dump", str(dump)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required="--worker" not in sys.argv, help="its python")
    parser.add_argument("--corpus", type=Path, action="append")
    parser.add_argument("--simulated", action="store_true", help="add the demo's corpus")
    parser.add_argument("--rounds", type=int, default=5, help="alternating runs of each")
    parser.add_argument("--repeat", type=int, default=3, help="best-of passes within a run")
    parser.add_argument("--dump", type=Path, help="(worker) write each verdict here")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        files = [Path(line) for line in args.worker.read_text().splitlines() if line]
        worker(files, args.repeat, args.dump)
        return
    with tempfile.TemporaryDirectory() as tmp:
        roots = args.corpus or [DEFAULT_CORPUS]
        if args.simulated:
            out = Path(tmp) / "sim"
            reachwatch = str(Path(sys.executable).with_name("reachwatch"))
            subprocess.run(
                [reachwatch, "simulate", "pk-x-2024", "--out", str(out), "--json"],
                stdout=subprocess.DEVNULL,
                check=True,
            )
            roots.append(out / "raw")
        files_list = Path(tmp) / "files"
        files_list.write_text("\n".join(str(p) for p in corpus_files(roots)))
        dumps = {"this": Path(tmp) / "this.jsonl", "baseline": Path(tmp) / "baseline.jsonl"}
        pythons = {"this": sys.executable, "baseline": args.baseline}
        times: dict[str, list[float]] = {"this": [], "baseline": []}
        judged = 0
        for round_ in range(args.rounds):
            order = ("baseline", "this") if round_ % 2 == 0 else ("this", "baseline")
            for who in order:
                result = run(
                    pythons[who], files_list, args.repeat, dumps[who] if not round_ else None
                )
                times[who].append(result["seconds"])
                judged = result["judged"]
        this, base = statistics.median(times["this"]), statistics.median(times["baseline"])
        figure("measurements judged per pass", judged, "")
        figure(f"baseline: median of {args.rounds} runs (best of {args.repeat})", base, "s")
        figure(f"this install: median of {args.rounds} runs (best of {args.repeat})", this, "s")
        figure("this / baseline", this / base, "x")
        figure(f"ratio to the {TARGET_RATIO:g}x target", this / base / TARGET_RATIO, "x")
        ours, theirs = (
            dumps["this"].read_text().splitlines(),
            dumps["baseline"].read_text().splitlines(),
        )
        differing = sum(a != b for a, b in zip(ours, theirs, strict=False)) + abs(
            len(ours) - len(theirs)
        )
        figure("measurements whose verdicts differ from the baseline's", differing, "")
        for a, b in [(a, b) for a, b in zip(ours, theirs, strict=False) if a != b][:5]:
            print(f"  this:     {a[:300]}\n  baseline: {b[:300]}")


if __name__ == "__main__":
    main()
