"""`reachwatch ingest`: every valid measurement stored once, every bad one counted and kept."""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.ingest import ingest
from reachwatch.ingest._lines import MAX_LINE
from reachwatch.store import open_store


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    con = open_store(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _quarantine(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def test_bad_input_of_every_kind_is_counted_and_valid_input_stored(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    good = [make_measurement(f"m{i}", url=f"https://x.com/{i}") for i in range(3)]
    wrong_type = make_measurement("w1")
    wrong_type["test_keys"] = ["not", "an", "object"]
    bad_time = make_measurement("w2")
    bad_time["measurement_start_time"] = 1708164000
    missing = make_measurement("w3")
    del missing["test_name"]
    null_keys = make_measurement("w4")
    null_keys["test_keys"] = None
    unknown = make_measurement("u1")
    unknown["test_name"] = "some_future_test"
    synthetic = make_measurement("s1")
    synthetic["software_name"] = "reachwatch-simulate"
    synthetic["annotations"] = {"x_synthetic": "true"}
    lines = [
        _dump(good[0]),  # 1
        _dump(good[1]),  # 2
        b"{not json",  # 3
        _dump(good[0]),  # 4 the same measurement again
        b'{"test_name": "web_connectivity", "x": "\xff"}',  # 5 invalid UTF-8
        _dump(wrong_type),  # 6
        _dump(bad_time),  # 7
        _dump(missing),  # 8
        _dump(null_keys),  # 9
        _dump(unknown),  # 10 stored raw, not classified
        b'{"x": "' + b"y" * (MAX_LINE + 10) + b'"}',  # 11 over the line limit
        _dump(["an", "array"]),  # 12
        _dump(synthetic),  # 13
        _dump(good[2])[:-20],  # 14 truncated last line
    ]
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.jsonl").write_bytes(b"\n".join(lines))
    (src / "notes.txt").write_text("not measurements")
    (src / "b.jsonl.gz.part").write_bytes(b"\x1f\x8b")  # a download still going on
    db = tmp_path / "db"

    summary = ingest([src], db)

    assert summary.stored == 4  # m0, m1, u1 (raw), s1
    assert summary.duplicates == 1
    assert summary.unsupported == 1
    assert summary.quarantined == {
        "invalid_json": 1,
        "invalid_utf8": 1,
        "wrong_type": 2,
        "missing_key": 1,
        "null_test_keys": 1,
        "line_too_long": 1,
        "not_an_object": 1,
        "truncated_line": 1,
        "unsupported_file_type": 1,
        "incomplete_download": 1,
    }
    entries = _quarantine(summary.quarantine_file)
    where = sorted((Path(e["file"]).name, e["line"], e["reason"]) for e in entries)
    assert where == sorted(
        [
            ("a.jsonl", 3, "invalid_json"),
            ("a.jsonl", 4, "duplicate"),  # named in the file, counted apart from quarantine
            ("a.jsonl", 5, "invalid_utf8"),
            ("a.jsonl", 6, "wrong_type"),
            ("a.jsonl", 7, "wrong_type"),
            ("a.jsonl", 8, "missing_key"),
            ("a.jsonl", 9, "null_test_keys"),
            ("a.jsonl", 11, "line_too_long"),
            ("a.jsonl", 12, "not_an_object"),
            ("a.jsonl", 14, "truncated_line"),
            ("notes.txt", 0, "unsupported_file_type"),
            ("b.jsonl.gz.part", 0, "incomplete_download"),
        ]
    )
    assert next(e for e in entries if e["line"] == 3)["raw"] == "{not json"
    assert "raw" not in next(e for e in entries if e["line"] == 11)  # too big to copy

    stored = _rows(
        db,
        "SELECT measurement_id, test_name, classified, synthetic, source_line, probe_cc, "
        "platform, host FROM measurements ORDER BY source_line",
    )
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in stored] == [
        ("m0", "web_connectivity", True, False, 1),
        ("m1", "web_connectivity", True, False, 2),
        ("u1", "some_future_test", False, False, 10),
        ("s1", "web_connectivity", True, True, 13),
    ]
    assert {(r[5], r[6], r[7]) for r in stored} == {("PK", "x", "x.com")}
    sources = _rows(db, "SELECT measurement_id, source FROM measurements ORDER BY 1")
    assert sources == [("m0", "ooni"), ("m1", "ooni"), ("s1", "reachwatch"), ("u1", "ooni")]
    raw = _rows(db, "SELECT measurement_id, json FROM raw")
    assert [r[0] for r in raw] == ["u1"] and orjson.loads(raw[0][1]) == unknown
    observed = _rows(db, "SELECT DISTINCT measurement_id FROM observations ORDER BY 1")
    assert observed == [("m0",), ("m1",), ("s1",)]
    assert _rows(db, "SELECT DISTINCT synthetic FROM observations WHERE measurement_id='s1'") == [
        (True,)
    ]


def test_observations_carry_the_classifier_verdicts(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    from reachwatch.classify import classify

    measurement = make_measurement("v1")
    (tmp_path / "a.jsonl").write_bytes(_dump(measurement))
    ingest([tmp_path / "a.jsonl"], tmp_path / "db")
    expected = classify(measurement)
    rows = _rows(
        tmp_path / "db",
        "SELECT host, address, layer, verdict, rule, technique, failure, "
        "loni_blocked, loni_down, loni_ok, platform FROM observations",
    )
    assert sorted(rows, key=str) == sorted(
        (
            (o.host, o.address, o.layer, o.verdict, o.rule, o.technique, o.failure, *o.loni, "x")
            for o in expected.observations
        ),
        key=str,
    )
    assert _rows(tmp_path / "db", "SELECT verdict, technique FROM measurements") == [
        (expected.verdict, expected.technique)
    ]


def test_ingesting_again_adds_nothing_and_duplicates_across_files_are_stored_once(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    first = [_dump(make_measurement(f"a{i}")) for i in range(5)]
    second = [*first[3:], *(_dump(make_measurement(f"b{i}")) for i in range(4))]
    (tmp_path / "one.jsonl").write_bytes(b"\n".join(first) + b"\n")
    with gzip.open(tmp_path / "two.jsonl.gz", "wb") as fh:
        fh.write(b"\n".join(second) + b"\n")
    db = tmp_path / "db"
    paths = [tmp_path / "one.jsonl", tmp_path / "two.jsonl.gz"]

    run1 = ingest(paths, db)
    assert (run1.stored, run1.duplicates) == (9, 2)
    before = _rows(db, "SELECT * FROM measurements ORDER BY measurement_id")
    obs_before = _rows(db, "SELECT count(*) FROM observations")

    run2 = ingest(paths, db)
    assert (run2.stored, run2.duplicates, run2.quarantined) == (0, 11, {})
    assert _rows(db, "SELECT * FROM measurements ORDER BY measurement_id") == before
    assert _rows(db, "SELECT count(*) FROM observations") == obs_before


def test_corrupt_gzip_keeps_lines_before_the_damage(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    lines = [_dump(make_measurement(f"g{i}", url=f"https://x.com/{i}")) for i in range(400)]
    data = gzip.compress(b"\n".join(lines) + b"\n")
    (tmp_path / "cut.jsonl.gz").write_bytes(data[: len(data) // 2])
    summary = ingest([tmp_path / "cut.jsonl.gz"], tmp_path / "db")
    assert summary.quarantined.get("corrupt_gzip") == 1
    ids = [r[0] for r in _rows(tmp_path / "db", "SELECT measurement_id FROM measurements")]
    # Every stored id is one of the first lines, in an unbroken run from the start.
    assert sorted(ids, key=lambda s: int(s[1:])) == [f"g{i}" for i in range(len(ids))]
    assert len(ids) > 100


def test_cli_json_summary_shape(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    (tmp_path / "a.jsonl").write_bytes(_dump(make_measurement("c1")) + b"\nnope\n")
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "a.jsonl"), "--db", str(tmp_path / "db"), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = orjson.loads(result.stdout)
    assert {k: doc[k] for k in ("stored", "duplicates", "unsupported", "quarantined")} == {
        "stored": 1,
        "duplicates": 0,
        "unsupported": 0,
        "quarantined": {"invalid_json": 1},
    }
    assert Path(doc["quarantine_file"]).is_file()


def test_cli_human_summary_and_missing_path(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    (tmp_path / "a.jsonl").write_bytes(_dump(make_measurement("h1")) + b"\n")
    ok = CliRunner().invoke(app, ["ingest", str(tmp_path), "--db", str(tmp_path / "db")])
    assert ok.exit_code == 0 and "stored" in ok.output
    missing = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "db")]
    )
    assert missing.exit_code == 2
    assert "no such file" in missing.output and "Traceback" not in missing.output


def test_store_inside_the_ingested_folder_is_not_read_back(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    (tmp_path / "a.jsonl").write_bytes(_dump(make_measurement("i1")) + b"\nbad\n")
    first = ingest([tmp_path], tmp_path / "reachwatch-db")
    second = ingest([tmp_path], tmp_path / "reachwatch-db")
    assert (first.files, second.files) == (1, 1)  # not the manifest, Parquet or quarantine
    assert (second.stored, second.duplicates, second.quarantined) == (0, 1, {"invalid_json": 1})


def test_censoredplanet_records_are_checked_too(tmp_path: Path) -> None:
    response = {
        "matches_template": False,
        "error": "read: connection reset by peer",
        "start_time": "2024-02-18T10:00:00.123456789+05:00",
        "end_time": "2024-02-18T10:00:00.2+05:00",
    }
    good: dict[str, Any] = {
        "vp": "1.2.3.4",
        "location": {"country_code": "PK", "country_name": "Pakistan"},
        "service": "https",
        "test_url": "x.com",
        "response": [response],
        "anomaly": True,
        "controls_failed": False,
        "stateful_block": False,
        "tag": "2024-02-18T10:00:00",
    }
    no_list = {**good, "response": {"not": "a list"}}
    bad_time = {**good, "response": [{**response, "start_time": "yesterday"}]}
    lines = [_dump(good), _dump(no_list), _dump(bad_time), _dump({"resolver": "8.8.8.8"})]
    (tmp_path / "https_results_v2.json").write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest([tmp_path / "https_results_v2.json"], tmp_path / "db")
    assert summary.stored == 1
    assert summary.quarantined == {"wrong_type": 1, "bad_timestamp": 1, "not_a_measurement": 1}
    rows = _rows(
        tmp_path / "db",
        "SELECT source, test_name, probe_cc, host, platform, measurement_start_time "
        "FROM measurements",
    )
    assert [r[:5] for r in rows] == [("censoredplanet", "hyperquack_https", "PK", "x.com", "x")]
    assert str(rows[0][5]) == "2024-02-18 05:00:00.123456"  # UTC


def test_fingerprint_files_given_on_the_command_line_are_used(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    measurement = make_measurement("fp1", reset=False)
    answer = {"answer_type": "A", "ipv4": "93.184.216.34"}  # not the control's address
    measurement["test_keys"]["queries"][0]["answers"] = [answer]
    (tmp_path / "a.jsonl").write_bytes(_dump(measurement) + b"\n")
    csv = tmp_path / "dns.csv"
    csv.write_text(
        "name,scope,location_found,pattern_type,pattern\nlab.portal,nat,dns,full,93.184.216.34\n"
    )

    def dns_rule(db: Path, *extra: str) -> list[tuple[Any, ...]]:
        args = ["ingest", str(tmp_path / "a.jsonl"), "--db", str(db), "--json", *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
        return _rows(db, "SELECT rule, verdict FROM observations WHERE layer = 'dns'")

    assert dns_rule(tmp_path / "shipped") != [("dns.fingerprint_address", "blocked")]
    assert dns_rule(tmp_path / "custom", "--dns-fingerprints", str(csv)) == [
        ("dns.fingerprint_address", "blocked")
    ]


LEGACY_REPORT = b"""---
probe_asn: AS17557
probe_cc: PK
report_id: 20150101T000000Z_legacy
software_name: ooniprobe
software_version: 1.3.1
start_time: 1420070400.0
test_name: http_requests
test_version: 0.2.4
...
---
input: http://twitter.com
body: !!binary |
  //79
headers_diff: !!set {Server: null}
test_start_time: 1420070460.0
...
---
input: http://x.com
test_start_time: 1420070520.0
...
---
input: [unterminated
"""


def test_legacy_yaml_report_entries_are_kept_raw_in_the_json_format(tmp_path: Path) -> None:
    (tmp_path / "report.yaml").write_bytes(LEGACY_REPORT)
    summary = ingest([tmp_path / "report.yaml"], tmp_path / "db")
    assert (summary.stored, summary.unsupported) == (2, 2)
    assert summary.quarantined == {"invalid_yaml": 1}
    rows = _rows(
        tmp_path / "db",
        "SELECT m.host, m.probe_cc, m.measurement_start_time, m.source_line, r.json "
        "FROM measurements m JOIN raw r USING (measurement_id) ORDER BY 4",
    )
    assert [(r[0], r[1], str(r[2]), r[3]) for r in rows] == [
        ("twitter.com", "PK", "2015-01-01 00:01:00", 12),
        ("x.com", "PK", "2015-01-01 00:02:00", 19),
    ]
    first = orjson.loads(rows[0][4])
    assert first["test_name"] == "http_requests" and first["report_id"] == "20150101T000000Z_legacy"
    assert first["test_keys"]["body"] == {"format": "base64", "data": "//79"}
    assert first["test_keys"]["headers_diff"] == ["Server"]


def test_symlink_loop_in_a_folder_does_not_stop_the_run(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # Regression (ingest/_pipeline.py): resolving a looping symlink raised out of expand_paths.
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "loop1.jsonl").symlink_to(folder / "loop2.jsonl")
    (folder / "loop2.jsonl").symlink_to(folder / "loop1.jsonl")
    (folder / "ok.jsonl").write_bytes(_dump(make_measurement("loop-ok")) + b"\n")
    summary = ingest([folder], tmp_path / "db")
    assert summary.stored == 1


def test_store_that_cannot_be_created_is_a_one_line_error(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # Regression (store/_writer.py): mkdir under a file was a NotADirectoryError traceback.
    (tmp_path / "file").write_text("x")
    source = tmp_path / "m.jsonl"
    source.write_bytes(_dump(make_measurement("nodir")) + b"\n")
    result = CliRunner().invoke(app, ["ingest", str(source), "--db", str(tmp_path / "file" / "db")])
    assert result.exit_code == 2 and "cannot write the store" in result.output, result.output
    assert result.output.count("\n") == 1


def test_country_code_that_is_not_two_letters_is_quarantined_not_a_path(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # probe_cc names the partition folder: '../..' escaped the store, a NUL crashed the run.
    lines = []
    for n, code in enumerate(["../../../outside", "P\x00K", "x" * 300, "P1", "pk"]):
        record = make_measurement(f"cc{n}")
        record["probe_cc"] = code
        lines.append(_dump(record))
    source = tmp_path / "cc.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    db = tmp_path / "db"
    summary = ingest([source], db)
    assert summary.stored == 1 and summary.quarantined == {"wrong_type": 4}
    assert _rows(db, "SELECT probe_cc FROM measurements") == [("PK",)]
    folders = {p.name for p in (db / "parquet").rglob("cc=*")}
    assert folders == {"cc=PK"}
    assert not (tmp_path / "outside").exists()


def test_start_time_pushed_out_of_range_by_its_offset_is_a_bad_timestamp(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # '0001-01-01T00:00:00+01:00' in UTC is before year 1: an OverflowError ended the run.
    lines = []
    for n, start in enumerate(["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"]):
        record = make_measurement(f"t{n}")
        record["measurement_start_time"] = start
        lines.append(_dump(record))
    lines.append(_dump(make_measurement("t-ok")))
    satellite = {
        "vp": "192.0.2.1", "test_url": "x.com", "anomaly": False, "passed_liveness": True,
        "start_time": "0001-01-01 00:00:00.1 +0100 CET", "location": {"country_code": "PK"},
    }  # fmt: skip
    lines.append(_dump(satellite))
    source = tmp_path / "times.jsonl"
    source.write_bytes(b"\n".join(lines) + b"\n")
    summary = ingest([source], tmp_path / "db")
    assert summary.stored == 1 and summary.quarantined == {"bad_timestamp": 3}


def test_file_names_that_are_not_utf8_are_stored_and_quarantined_escaped(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # Regression (ingest/_pipeline.py, _quarantine.py): str() of such a name holds surrogates,
    # which orjson (quarantine) and Arrow (source_file, at commit) refused with a traceback.
    folder = tmp_path / "in"
    folder.mkdir()
    good = os.fsdecode(bytes(folder) + b"/ok\xff.jsonl")
    bad = os.fsdecode(bytes(folder) + b"/junk\xfe.jsonl")
    Path(good).write_bytes(_dump(make_measurement("name-ok")) + b"\n")
    Path(bad).write_bytes(b"{broken\n")
    db = tmp_path / "db"
    summary = ingest([folder], db)
    assert summary.stored == 1 and summary.quarantined == {"invalid_json": 1}
    assert _rows(db, "SELECT source_file FROM measurements") == [(f"{folder}/ok\\xff.jsonl",)]
    entry = _quarantine(summary.quarantine_file)[0]
    assert entry["file"] == f"{folder}/junk\\xfe.jsonl" and entry["line"] == 1


def test_symlink_is_read_by_its_own_name(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    blob = tmp_path / "objects" / "SHA256-s1234--5f3a"
    blob.parent.mkdir()
    blob.write_bytes(_dump(make_measurement("annexed")) + b"\n")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "pk.jsonl").symlink_to(blob)
    assert ingest([folder], tmp_path / "db").stored == 1


def test_empty_db_or_out_is_refused_not_taken_for_the_current_folder(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # `--db "$UNSET"` was Path(''): the current folder quietly became a store.
    source = tmp_path / "m.jsonl"
    source.write_bytes(_dump(make_measurement("empty-db")) + b"\n")
    for args in (
        ["ingest", str(source), "--db", ""],
        ["ooni", "sync", "--cc", "PK", "--test", "web_connectivity", "--since", "2024-02-17",
         "--until", "2024-02-17", "--out", " "],
    ):  # fmt: skip
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "is empty" in result.output, result.output
        assert result.output.count("\n") == 1
    assert not (Path.cwd() / "manifest.jsonl").exists()


def test_duplicate_in_one_run_is_written_to_the_quarantine_file_with_its_line(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    line = _dump(make_measurement("twice"))
    source = tmp_path / "twice.jsonl"
    source.write_bytes(line + b"\n" + line + b"\n")
    summary = ingest([source], tmp_path / "db")
    assert summary.stored == 1 and summary.duplicates == 1
    entries = _quarantine(summary.quarantine_file)
    assert [(e["file"], e["line"]) for e in entries] == [(str(source), 2)]
