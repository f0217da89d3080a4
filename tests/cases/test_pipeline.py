"""End to end through the command line: simulate -> ingest -> detect -> case check, and the
demo itself. Real files, the real ingest and classifier, a real store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.cli import app

SMALL_CASE = """
id: small-x
title: A small synthetic X case
scope: {cc: PK, platform: x, networks: [AS17557, AS9541]}
events:
  - {id: letter, date: 2024-02-17, kind: letter, summary: Block X., requires: blocked,
     sources: [A letter]}
  - {id: order, date: 2024-02-18, kind: court_directive, actor: Court, summary: Restore X.,
     label: restore X within a day, requires: accessible, within_days: 1, sources: [A report]}
simulation:
  start: 2024-02-15
  end: 2024-02-21
  measurements_per_hour: 4
  blocks:
    - {start: "2024-02-17T15:00:00", technique: tls.reset}
    - {start: "2024-02-17T15:00:00", end: "2024-02-20T06:00:00", technique: dns.nxdomain,
       networks: [AS9541]}
  vanish:
    - {start: "2024-02-18T00:00:00", end: "2024-02-19T00:00:00", networks: [AS17557]}
"""


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_simulate_ingest_detect_check(tmp_path: Path) -> None:
    case = tmp_path / "small.yaml"
    case.write_text(SMALL_CASE)
    out, db = tmp_path / "sim", tmp_path / "db"
    sim = orjson.loads(
        _run("simulate", str(case), "--out", str(out), "--seed", "4", "--json").output
    )
    assert sim["synthetic"] is True and sim["measurements"] > 500
    _run("ingest", sim["corpus"], "--db", str(db))

    doc = orjson.loads(_run("detect", "--db", str(db), "--cc", "PK", "--json").output)
    (incident,) = [i for i in doc["incidents"] if i["platform"] == "x"]
    assert incident["synthetic"] is True and doc["data"]["synthetic"] is True
    nets = {n["network"]: n for n in incident["networks"]}
    assert nets["AS17557"]["start"].startswith("2024-02-17T1")
    assert nets["AS17557"]["end"] is None  # still blocked when the data ends
    assert nets["AS17557"]["gaps"]  # the day its probes vanished is a gap, not an end
    assert nets["AS9541"]["end"].startswith("2024-02-20T0")
    assert nets["AS9541"]["techniques"] == ["dns.nxdomain"]
    assert list(nets["AS9541"]["blocked_layers"]) == ["dns"]
    assert "tls" in nets["AS17557"]["blocked_layers"]
    assert any(c["network"] == "AS17557" for c in doc["volume_collapses"])
    shape = {"cc", "platform", "start", "end", "start_bounds", "end_bounds", "networks"}
    shape |= {"techniques", "measurements", "evidence"}
    assert all(set(i) >= shape for i in doc["incidents"])

    check = orjson.loads(_run("case", "check", str(case), "--db", str(db), "--json").output)
    assert check["headline"].startswith("X (formerly Twitter) blocked in PK since 2024-02-17 1")
    assert "restore X within a day" in check["headline"]
    letter, order = check["directives"]
    assert letter["status"] == "followed"
    assert order["status"] == "not followed"
    by_net = {n["network"]: n for n in order["networks"]}
    assert by_net["AS17557"]["status"] == "not followed" and by_net["AS17557"]["ongoing"]
    assert by_net["AS9541"]["status"] == "followed late"
    assert by_net["AS17557"]["evidence"]

    table = _run("case", "check", str(case), "--db", str(db)).output
    assert "SYNTHETIC" in table and "NOT FOLLOWED" in table


def test_demo_runs_end_to_end(tmp_path: Path) -> None:
    out = _run("demo", "--out", str(tmp_path / "demo")).output
    assert "SYNTHETIC DATA" in out
    assert "ongoing at end of data" in out
    assert "deadline 2024-04-24" in out and "NOT FOLLOWED" in out
    assert "where to look next" in out
    last = out.strip().splitlines()[-1]
    assert last.startswith("open the dashboard on the demo's store: reachwatch serve --db ")
    assert "http://127.0.0.1:8000/" in last
    assert (tmp_path / "demo" / "ground-truth.json").exists()
    _assert_bounds_hold_the_truth(tmp_path / "demo")


def _assert_bounds_hold_the_truth(demo: Path) -> None:
    """Every simulated start and end, on every network, lies within the bounds detect
    reports for it: a bound is a promise about where the change happened."""
    truth = orjson.loads((demo / "ground-truth.json").read_bytes())
    doc = orjson.loads(_run("detect", "--db", str(demo / "db"), "--json").output)
    nets = {n["network"]: n for i in doc["incidents"] for n in i["networks"]}
    for network, info in truth["networks"].items():
        periods = [p for p in nets[network]["periods"] if p["state"] != "clear"]
        assert len(periods) == len(info["blocks"]), (network, periods)
        for block, period in zip(info["blocks"], periods, strict=True):
            lo, hi = period["start_bounds"]
            assert lo <= block["start"] <= hi, (network, block, period)
            if block["end"] is None:
                assert period["end"] is None, (network, period)
            else:
                lo, hi = period["end_bounds"]
                assert lo <= block["end"] <= hi, (network, block, period)


def test_user_mistakes_are_one_line_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    (tmp_path / "a-file").write_text("not a folder")
    (tmp_path / "binary.yaml").write_bytes(b"\xff\xfe\x00\x01")
    for args, message in (
        (["detect", "--db", str(tmp_path / "a-file")], "no store here"),
        (["case", "check", str(tmp_path / "binary.yaml"), "--db", str(tmp_path)], "not UTF-8"),
        (["case", "check", str(tmp_path), "--db", str(tmp_path)], "Is a directory"),
        (["simulate", "pk-x-2024", "--out", str(tmp_path / "a-file" / "o")], "cannot create"),
        (["demo", "--out", str(tmp_path / "a-file" / "o")], "cannot prepare"),
        (["demo", "--out", str(tmp_path / "a-file")], "not a folder"),
        (["simulate", "pk-x-2024", "--out", str(tmp_path / "o"), "--seed", "abc"], "--seed"),
        (["detect", "--bogus"], "No such option"),
        (["demo", "--seed", "x"], "--seed"),
        (["case", "check"], "Missing argument"),
        (["case", "--bogus"], "No such option"),
        (["case", "nope"], "No such command"),
        (["detect", "--db", str(tmp_path / "none")], "no store here"),
        (["detect", "--db", str(tmp_path), "--cc", "PAK"], "two-letter country code"),
        (["detect", "--db", str(tmp_path), "--platform", "myspace"], "unknown platform"),
        (["case", "check", str(tmp_path / "nope.yaml"), "--db", str(tmp_path)], "cannot read"),
        (["simulate", "no-such-case", "--out", str(tmp_path / "o")], "no case file"),
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, result.output)


def test_case_show_lists_every_event_with_its_sources() -> None:
    doc = orjson.loads(_run("case", "show", "pk-x-2024", "--json").output)
    assert doc["scope"]["cc"] == "PK" and "AS17557" in doc["scope"]["networks"]
    assert all(e["sources"] for e in doc["events"])
    deadlines = [e["deadline"] for e in doc["events"] if e["deadline"]]
    assert deadlines == ["2024-04-24"]
    table = _run("case", "show", "pk-x-2024").output
    assert "2024-02-17" in table and "2025-05-07" in table


def test_an_empty_store_or_an_unmeasured_country_says_nothing_is_known(tmp_path: Path) -> None:
    (tmp_path / "nothing").mkdir()
    # Nothing to store is exit 2 (README's exit codes), and leaves an empty store behind.
    empty = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "nothing"), "--db", str(tmp_path / "db")]
    )
    assert empty.exit_code == 2 and "nothing stored" in empty.output
    out = _run("detect", "--db", str(tmp_path / "db"), "--cc", "fr").output
    assert "nothing is known about blocking" in out and "in FR" in out
    doc = orjson.loads(
        _run("case", "check", "pk-x-2024", "--db", str(tmp_path / "db"), "--json").output
    )
    assert "nothing is known" in doc["headline"]
    assert {d["status"] for d in doc["directives"]} == {"no data"}


def test_late_uploads_ingested_later_give_the_same_incidents(tmp_path: Path) -> None:
    """Upload days ingested in two runs (the second holding measurements uploaded hours late
    for hours already stored) give what one run over everything gives."""
    case = tmp_path / "small.yaml"
    case.write_text(SMALL_CASE)
    sim = orjson.loads(
        _run("simulate", str(case), "--out", str(tmp_path / "s"), "--seed", "9", "--json").output
    )
    days = sorted(p for p in Path(sim["corpus"]).iterdir())
    _run("ingest", *map(str, days[:3]), "--db", str(tmp_path / "two-runs"))
    _run("ingest", *map(str, days[3:]), "--db", str(tmp_path / "two-runs"))
    _run("ingest", sim["corpus"], "--db", str(tmp_path / "one-run"))
    docs = [
        orjson.loads(_run("detect", "--db", str(tmp_path / db), "--json").output)
        for db in ("two-runs", "one-run")
    ]
    assert docs[0]["incidents"] and docs[0] == docs[1]


def test_a_store_damaged_inside_a_file_is_a_one_line_error(tmp_path: Path) -> None:
    """A Parquet file whose pages are garbage still opens; the error comes with the first
    query that reads it, and must be one line, not a DuckDB traceback."""
    case = tmp_path / "small.yaml"
    case.write_text(SMALL_CASE)
    sim = orjson.loads(_run("simulate", str(case), "--out", str(tmp_path / "s"), "--json").output)
    db = tmp_path / "db"
    _run("ingest", sim["corpus"], "--db", str(db))
    for part in (db / "parquet" / "measurements").rglob("*.parquet"):
        data = bytearray(part.read_bytes())
        data[4 : min(len(data) // 3, 4000)] = b"\x55" * (min(len(data) // 3, 4000) - 4)
        part.write_bytes(bytes(data))
    runner = CliRunner()
    for args in (["detect", "--db", str(db)], ["case", "check", str(case), "--db", str(db)]):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and "store damaged" in lines[0], result.output


def test_demo_refuses_a_folder_that_is_not_its_own_output(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "raw").mkdir(parents=True)  # what `ooni sync --out` writes
    (out / "raw" / "2024-02-17.jsonl.gz").write_bytes(b"someone's download")
    (out / "db").mkdir()
    (out / "db" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(app, ["demo", "--out", str(out)])
    assert result.exit_code == 2
    assert "not the output of an earlier `reachwatch demo`" in result.output
    assert (out / "raw" / "2024-02-17.jsonl.gz").read_bytes() == b"someone's download"
    assert (out / "db" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in out.iterdir()) == ["db", "raw"]
