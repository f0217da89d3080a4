"""Large stores stay fast: detection, a case check and a report's queries on a year of 50 million
observation rows, each timed in a fresh process with its peak RSS.

The store is bench/_serve_store.py's simulated year (real classifier, real rows, written through
StoreWriter in time order, so it has the writer's own partitions, batches and manifest), sized by
--observations, cached under out/bench/ and reused while its parameters and generator are the
same; the build time is printed (and kept in the record beside the store when it was reused).

A copy of the store is compacted by `reachwatch store compact` (timed, and `store check` after
it, timed), cached beside it the same way. Each step then runs on both, the files as the writer
left them and the compacted copy, each in its own process (imports, opening the store and its
work all counted), its peak RSS that process's own (os.wait4 in a small parent). The steps:

- open: `open_store` on the whole store (every committed file: what `serve` and `show` open),
  and open-cc: on one country's files (what detect, case check and report open now);
- detect: `reachwatch detect --cc CC --platform P --no-cache --json` over the whole year,
  every file of the country read (target: < 10 s and < 2 GiB peak RSS on the machine it runs
  on);
- detect-kept: the same without --no-cache, twice, its rows kept in a fresh folder: kept-1st
  reads every file and keeps the rows, kept-2nd finds them and reads no file (nothing was
  committed in between), and must print what detect printed;
- case: `reachwatch case check CASE --json` (the shipped Pakistan case: the simulated year
  blocks X in Pakistan from 2024-02-17 to its end, on the case's networks among others);
- report: the report's queries, `gather_facts` (the report's whole content: the case check,
  series, counts, techniques, sources, rules, cited measurements), each part timed inside.

--before SRC runs the steps with the package found in SRC (e.g. an export of an earlier
commit's src/: `git archive REV src | tar -x -C DIR`) on the writer's files, checks that detect
and case check print the same JSON, and prints the ratios.

Run: .venv/bin/python bench/large_store.py [--observations 50000000] [--cc BR] [--platform x]
     [--case pk-x-2024] [--before DIR/src] [--before-steps open,detect,case,report]
     [--steps open,open-cc,detect,detect-kept,case,report] [--timeout 1800]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from _serve_store import ensure_store

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
TARGET_SECONDS = 10.0
TARGET_MIB = 2048.0

# Run inside a step's process: opening the store, all of it or one country's files.
_OPEN = """
import sys, time
from reachwatch.store import open_store
t = time.perf_counter()
con = open_store(sys.argv[1], read_only=True, **({"cc": sys.argv[2]} if sys.argv[2] else {}))
n = con.execute("SELECT count(*) FROM measurements").fetchone()
print(f"open {time.perf_counter() - t:.2f} s, {n[0]:,} measurements", file=sys.stderr)
"""

# The report's content, each part timed (the functions gather_facts calls, in its order).
_REPORT = """
import json, sys, time
from reachwatch.cases import check_case, load_case
from reachwatch.report import _facts as f
from reachwatch.store import open_store
case = load_case(sys.argv[2])
times = {}
t = time.perf_counter()
try:
    con = open_store(sys.argv[1], read_only=True, cc=case.scope.cc)
except TypeError:  # code from before open_store took a country: the whole store
    con = open_store(sys.argv[1], read_only=True)
times["open_store (country)"] = time.perf_counter() - t
def timed(name, fn, *a):
    t = time.perf_counter()
    out = fn(*a)
    times[name] = time.perf_counter() - t
    return out
checked = timed("case check", check_case, case, con)
args = f.scope_params(case)
timed("series", f._series, con, case)
timed("verdicts", f._counts, con, "coalesce(verdict, 'not classified')", args)
timed("techniques", f._techniques, con, args)
timed("sources", f._sources, con, args)
timed("rules", f._rules, con, args)
timed("cited", f._cited, con, sorted(set(f.cited_ids(checked.to_json()))))
t = time.perf_counter()
facts = f.gather_facts(case, con)
times["gather_facts (all of the above again)"] = time.perf_counter() - t
print("REPORT_TIMES " + json.dumps(times))
"""


@dataclass(frozen=True, slots=True)
class Run:
    seconds: float
    peak_mib: float
    cpu: float  # user + system seconds: the work, whatever else the machine was doing
    ok: bool
    stdout: str
    stderr: str


def run(argv: list[str], source: Path | None, timeout: float) -> Run:
    """`argv` in a fresh process (the package from `source` when given): wall time, peak RSS."""
    env = dict(os.environ)
    if source is not None:
        env["PYTHONPATH"] = str(source)
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT, text=True
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n(killed after {timeout:.0f} s)"
    # communicate() reaped the child; its rusage is in RUSAGE_CHILDREN only as a maximum over
    # all children, so each step's own peak is read from wait4 by a wrapper (see _peak).
    seconds = time.perf_counter() - started
    return Run(seconds, _peak(err), _cpu(err), proc.returncode == 0, out, err)


def _cpu(stderr: str) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith("CPU_SECONDS "):
            return float(line.split()[1])
    return float("nan")


def _peak(stderr: str) -> float:
    for line in reversed(stderr.splitlines()):
        if line.startswith("PEAK_RSS_KIB "):
            return int(line.split()[1]) / 1024
    return float("nan")


# A wrapper that runs the command as its child and prints the child's own peak RSS (wait4),
# so no step's figure is another step's (RUSAGE_CHILDREN keeps the maximum over all of them).
_WRAP = """
import os, sys
pid = os.fork()
if pid == 0:
    os.execvp(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
print(f"PEAK_RSS_KIB {usage.ru_maxrss}", file=sys.stderr)
print(f"CPU_SECONDS {usage.ru_utime + usage.ru_stime}", file=sys.stderr)
sys.exit(os.waitstatus_to_exitcode(status))
"""


def steps(db: Path, cc: str, platform: str, case: str, older: bool) -> dict[str, list[str]]:
    py = str(BIN / "python")
    rw = str(BIN / "reachwatch")
    detect = [rw, "detect", "--db", str(db), "--cc", cc, "--platform", platform, "--json"]
    return {
        "open": [py, "-c", _OPEN, str(db), ""],
        "open-cc": [py, "-c", _OPEN, str(db), cc],
        # Every file of the country read: what the target names (and what an older reachwatch,
        # which keeps no rows and knows no --no-cache, always does).
        "detect": detect if older else [*detect, "--no-cache"],
        # Run twice, its rows kept in a folder of this run (see run_steps): the first reads
        # every file and keeps the rows, the second reads only what was committed since.
        "detect-kept": detect,
        "case": [rw, "case", "check", case, "--db", str(db), "--json"],
        "report": [py, "-c", _REPORT, str(db), case],
    }


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def measure(name: str, argv: list[str], source: Path | None, timeout: float) -> Run:
    wrapped = [str(BIN / "python"), "-c", _WRAP, *argv]
    before = load()
    r = run(wrapped, source, timeout)
    status = "ok" if r.ok else "FAILED"
    print(f"  {name:10} {r.seconds:8.2f} s  {r.cpu:8.2f} CPU s  {r.peak_mib:6.0f} MiB  {status}"
          f"  (load before {before}, after {load()})")  # fmt: skip
    if not r.ok:
        print("    " + "\n    ".join(r.stderr.strip().splitlines()[-5:]))
    return r


def detect_kept(argv: list[str], source: Path | None, timeout: float) -> dict[str, Run]:
    """`detect --cc` twice with its rows kept in a fresh folder: the run that keeps them, and
    the next one, which finds them (no file was committed in between)."""
    with tempfile.TemporaryDirectory(prefix="reachwatch-bench-kept-") as folder:
        saved = os.environ.get("REACHWATCH_CACHE")
        os.environ["REACHWATCH_CACHE"] = folder
        try:
            return {
                "kept-1st": measure("kept-1st", argv, source, timeout),
                "kept-2nd": measure("kept-2nd", argv, source, timeout),
            }
        finally:
            if saved is None:
                del os.environ["REACHWATCH_CACHE"]
            else:
                os.environ["REACHWATCH_CACHE"] = saved


def compacted_copy(out: Path, timeout: float) -> Path:
    """A copy of the store compacted by `reachwatch store compact` (timed, then `store check`
    timed), reused while the store it was copied from is the same build."""
    copy = out.with_name(out.name + "-compacted")
    record = out.parent / "large-store-compacted.json"
    source = json.loads((out.parent / "large-store.json").read_text())
    if copy.exists():
        done = json.loads(record.read_text()) if record.exists() else None
        if done is None:
            raise SystemExit(f"{copy}: exists and was not made by this benchmark")
        if done.get("source") == source and done.get("complete"):
            print(f"compacted copy {copy}: reused (compaction took {done['seconds']:.0f} s)")
            return copy
        shutil.rmtree(copy)  # ours (the record says so), of another build
    record.write_text(json.dumps({"source": source, "complete": False}))
    shutil.copytree(out, copy)
    rw = str(BIN / "reachwatch")
    print(f"compacted copy {copy}:")
    compact = measure("compact", [rw, "store", "compact", "--db", str(copy), "--json"], None,
                      timeout)  # fmt: skip
    if not compact.ok:
        raise SystemExit("store compact failed")
    print(f"    {compact.stdout.strip()}")
    check = measure("check", [rw, "store", "check", "--db", str(copy), "--json"], None, timeout)
    doc = json.loads(check.stdout)
    print(f"    store check: ok={doc['ok']}, {doc['files']} files, rows {doc['rows']}")
    if not doc["ok"]:
        raise SystemExit("the compacted store does not pass store check")
    record.write_text(json.dumps({"source": source, "complete": True, "seconds": compact.seconds}))
    return copy


def run_steps(title: str, db: Path, args: argparse.Namespace, names: str,
              source: Path | None = None) -> dict[str, Run]:  # fmt: skip
    todo = steps(db, args.cc, args.platform, args.case, older=source is not None)
    print(f"{title}, {args.cc}/{args.platform}, case {args.case}:")
    done: dict[str, Run] = {}
    for name in (n for n in names.split(",") if n):
        if name == "detect-kept":
            done.update(detect_kept(todo[name], source, args.timeout))
        else:
            done[name] = measure(name, todo[name], source, args.timeout)
    if "detect" in done and "kept-2nd" in done and done["detect"].ok and done["kept-2nd"].ok:
        same = json.loads(done["detect"].stdout) == json.loads(done["kept-2nd"].stdout)
        print(f"    detect with kept rows answers as detect reading every file: {same}")
        if not same:
            raise SystemExit("detect with kept rows differs from detect reading every file")
    for name in ("detect", "case"):
        if name in done and done[name].ok:
            print(f"    {name}: {_summary(json.loads(done[name].stdout))}")
    if "report" in done and done["report"].ok:
        line = done["report"].stdout.split("REPORT_TIMES ")[-1].splitlines()[0]
        for part, secs in json.loads(line).items():
            print(f"    report query {part:40} {secs:8.2f} s")
    if "detect" in done:
        d = done["detect"]
        ok = d.ok and d.seconds < TARGET_SECONDS and d.peak_mib < TARGET_MIB
        print(
            f"    target detect < {TARGET_SECONDS:.0f} s and < {TARGET_MIB:.0f} MiB: "
            f"{d.seconds:.2f} s, {d.peak_mib:.0f} MiB -> {'PASS' if ok else 'FAIL'}"
        )
    return done


def compare(before: dict[str, Run], after: dict[str, Run], label: str, was: str = "before") -> None:
    for s, b in before.items():
        if s not in after:
            continue
        a = after[s]
        same = ""
        if s in ("detect", "case") and b.ok and a.ok:
            equal = json.loads(b.stdout) == json.loads(a.stdout)
            same = ", same JSON" if equal else ", JSON DIFFERS"
        ratio = b.seconds / a.seconds if a.seconds else float("nan")
        cpu = b.cpu / a.cpu if a.cpu else float("nan")
        print(
            f"    {s:10} {b.seconds:8.2f} s {was} -> {a.seconds:8.2f} s {label}: {ratio:.1f}x "
            f"wall, {cpu:.1f}x CPU ({b.cpu:.1f} -> {a.cpu:.1f} CPU s){same}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--observations", type=int, default=50_000_000)
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "bench" / "large-store")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cc", default="BR")
    parser.add_argument("--platform", default="x")
    parser.add_argument("--case", default="pk-x-2024")
    parser.add_argument("--before", type=Path, help="src/ folder of the code to compare with")
    parser.add_argument("--before-steps", default="open,detect,case,report")
    parser.add_argument("--steps", default="open,open-cc,detect,detect-kept,case,report")
    parser.add_argument("--timeout", type=float, default=1800.0)
    args = parser.parse_args()

    free = shutil.disk_usage(args.out.parent if args.out.parent.exists() else ROOT).free
    print(f"disk free where the store lives: {free / 2**30:.1f} GiB; load {load()}")
    record_name = "large-store.json"
    built = ensure_store(args.out, args.observations, seed=args.seed, record_name=record_name)
    record = json.loads((args.out.parent / record_name).read_text())
    files = sum(1 for _ in (args.out / "parquet" / "observations").rglob("*.parquet"))
    how = "reused" if built.reused else "built"
    print(
        f"store {args.out}: {built.measurements:,} measurements, {built.observations:,} "
        f"observation rows, {built.batches} batches, {files:,} observation files; {how} "
        f"(build took {record.get('seconds', built.seconds):.0f} s)"
    )
    compacted = compacted_copy(args.out, args.timeout)
    writer = run_steps("this code, the files as the writer left them", args.out, args, args.steps)
    small = run_steps("this code, after `store compact`", compacted, args, args.steps)
    before = {}
    if args.before is not None:
        source = args.before.resolve()
        before = run_steps(f"before ({source}), the files as the writer left them", args.out,
                           args, args.before_steps, source)  # fmt: skip
    print("ratios:")
    compare(writer, small, "compacted", was="writer's files")
    if before:
        compare(before, writer, "now")
        compare(before, small, "now, compacted")


def _summary(doc: dict[str, Any]) -> str:
    """What detect or case check found, in one line."""
    incidents = [f"{i['cc']} {i['platform']} {i['start']} .. {i['end']}" for i in doc["incidents"]]
    found = f"{len(incidents)} incident(s): " + "; ".join(incidents)
    if "directives" not in doc:
        return found
    statuses = "; ".join(f"{d['id']}: {d['status']}" for d in doc["directives"])
    return f"{found}; directives: {statuses}"


if __name__ == "__main__":
    main()
