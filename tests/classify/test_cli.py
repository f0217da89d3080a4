"""`reachwatch classify PATH... [--json]`."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.cli import app


def run(*args: str) -> Any:
    return CliRunner().invoke(app, ["classify", *args], catch_exceptions=False)


def _lines(*docs: Any) -> bytes:
    return b"\n".join(orjson.dumps(d) for d in docs) + b"\n"


def test_json_document_from_jsonl_gz(tmp_path: Path, healthy: Any, build: Any) -> None:
    blocked = build().dns([], failure="dns_nxdomain_error").control_dns(["10.0.2.10"]).build()
    path = tmp_path / "run.jsonl.gz"
    path.write_bytes(gzip.compress(_lines(healthy().build(), blocked)))
    result = run(str(path), "--json")
    assert result.exit_code == 0
    doc = orjson.loads(result.stdout)
    assert [m["verdict"] for m in doc["measurements"]] == ["accessible", "blocked"]
    assert doc["measurements"][1]["technique"] == "dns.nxdomain"
    assert doc["summary"] == {"accessible": 1, "blocked": 1, "down": 0, "inconclusive": 0}
    assert doc["not_classified"] == {"unsupported": 0, "invalid": 0}


def test_bad_files_get_one_line_each_and_good_ones_are_judged(tmp_path: Path, healthy: Any) -> None:
    good = tmp_path / "good.json"
    good.write_bytes(orjson.dumps(healthy().build()))
    corrupt = tmp_path / "corrupt.jsonl.gz"
    corrupt.write_bytes(gzip.compress(b'{"a": 1}\n')[:-6])
    mixed = tmp_path / "mixed.jsonl"
    mixed.write_bytes(_lines(healthy().build()) + b"not json\n" + _lines({"test_name": "tor"}))
    result = run(str(good), str(corrupt), str(tmp_path / "absent.json"), str(mixed), "--json")
    assert result.exit_code == 0
    errors = result.stderr.strip().splitlines()
    assert len(errors) == 3
    assert all(line.startswith("reachwatch: error: ") for line in errors)
    assert any("corrupt.jsonl.gz: cannot read" in line for line in errors)
    assert any("absent.json: cannot read" in line for line in errors)
    assert any("mixed.jsonl: 1 invalid record(s), first at line 2: not JSON" in e for e in errors)
    doc = orjson.loads(result.stdout)
    assert len(doc["measurements"]) == 2
    assert doc["not_classified"] == {"unsupported": 1, "invalid": 1}


def test_nothing_readable_is_a_one_line_error(tmp_path: Path) -> None:
    result = run(str(tmp_path / "absent.json"))
    assert result.exit_code == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("reachwatch: error: no readable measurement file: ")
    assert "absent.json: cannot read" in line


def test_jsonc_with_bare_test_keys(tmp_path: Path, healthy: Any) -> None:
    """OONI's own test data keeps test_keys alone in JSONC: judged as web_connectivity."""
    tk = healthy().build()["test_keys"]
    tk["x_control_request"] = {"http_request": "https://x.com/"}
    path = tmp_path / "sample.jsonc"
    path.write_text("// a comment\n// another\n" + orjson.dumps(tk).decode())
    result = run(str(path), "--json")
    doc = orjson.loads(result.stdout)
    assert doc["measurements"][0]["input"] == "https://x.com/"
    assert doc["measurements"][0]["verdict"] == "accessible"


def test_censored_planet_json_lines(tmp_path: Path) -> None:
    record = {
        "vp": "192.0.2.7",
        "location": {"country_code": "PK"},
        "service": "http",
        "test_url": "x.com",
        "response": [{"matches_template": True}, {"matches_template": True}],
        "anomaly": False,
        "controls_failed": False,
    }
    path = tmp_path / "http_results_v2.json"
    path.write_bytes(_lines(record, record))
    doc = orjson.loads(run(str(path), "--json").stdout)
    assert [m["test_name"] for m in doc["measurements"]] == ["hyperquack_http"] * 2


def test_table_output(tmp_path: Path, healthy: Any) -> None:
    path = tmp_path / "one.json"
    path.write_bytes(orjson.dumps(healthy().build()))
    result = run(str(path))
    assert result.exit_code == 0
    assert "accessible" in result.stdout
    assert "accessible: 1" in result.stdout


def test_custom_fingerprints(tmp_path: Path, healthy: Any) -> None:
    csv = tmp_path / "http.csv"
    csv.write_text(
        "name,scope,other_names,location_found,pattern_type,pattern,confidence_no_fp,"
        "expected_countries,source,exp_url,notes\n"
        "t.marker,isp,,body,contains,Operator says no,5,,t,,\n"
    )
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body="<title>x</title>Operator says no")
    path = tmp_path / "m.json"
    path.write_bytes(orjson.dumps(m.build()))
    doc = orjson.loads(run(str(path), "--ooni-http", str(csv), "--json").stdout)
    assert doc["measurements"][0]["technique"] == "http.blockpage"
    bad = run(str(path), "--ooni-http", str(tmp_path / "nope.csv"))
    assert bad.exit_code == 2 and "cannot read fingerprints" in bad.stderr


def test_table_shows_every_verdict_and_measured_text_is_not_markup(
    tmp_path: Path, healthy: Any, build: Any
) -> None:
    odd = healthy("http://x.com/[/]?q=[bold]").build()
    unknown = build(control=False).dns(["10.0.2.10"]).tcp("10.0.2.10", failure="eof_error")
    path = tmp_path / "two.jsonl"
    path.write_bytes(_lines(odd, unknown.build()))
    result = CliRunner().invoke(app, ["classify", str(path)], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert "[/]?q=[bold]" in result.stdout
    assert "inconclusive" in result.stdout


def test_a_folder_means_the_measurement_files_under_it(tmp_path: Path, healthy: Any) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one.json").write_bytes(orjson.dumps(healthy().build()))
    (tmp_path / "a" / "two.jsonl.gz").write_bytes(gzip.compress(_lines(healthy().build())))
    (tmp_path / "a" / "notes.txt").write_text("not a measurement")
    doc = orjson.loads(run(str(tmp_path), "--json").stdout)
    assert doc["summary"]["accessible"] == 2
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run(str(empty))
    assert result.exit_code == 2 and "cannot read" in result.stderr
