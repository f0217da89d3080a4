"""The store keeps each measurement's exact bytes; `reachwatch show` produces them from the
store alone, checked by SHA-256, with the verdicts and their rule ids."""

from __future__ import annotations

import gzip
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.cli import app


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), prog_name="reachwatch")


def test_show_gives_the_exact_bytes_after_the_sources_are_gone(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    spaced = orjson.dumps(make_measurement("spaced"), option=orjson.OPT_INDENT_2).replace(
        b"\n", b" "
    )  # one line, but not as orjson would write it
    element = b'{ "b" : 1 }'
    in_array = orjson.dumps(make_measurement("in-array"))
    zipped = orjson.dumps(make_measurement("zipped", url="https://x.com/z"))
    sources = tmp_path / "src"
    sources.mkdir()
    (sources / "a.jsonl").write_bytes(spaced + b"\n")
    (sources / "b.json").write_bytes(b"[" + in_array + b" ,\n " + element + b"]")
    (sources / "c.jsonl.gz").write_bytes(gzip.compress(zipped + b"\n"))
    db = tmp_path / "db"
    assert _cli("ingest", str(sources), "--db", str(db)).exit_code == 0
    for path in sources.iterdir():
        path.unlink()
    for uid, exact in (("spaced", spaced), ("in-array", in_array), ("zipped", zipped)):
        result = _cli("show", uid, "--db", str(db), "--json")
        assert result.exit_code == 0, result.output
        doc = orjson.loads(result.output)
        assert doc["id"] == uid
        assert doc["raw_sha256"] == hashlib.sha256(exact).hexdigest() and doc["raw_intact"]
        assert doc["raw"] == orjson.loads(exact)
        layers = {o["layer"]: o for o in doc["observations"]}
        assert layers["tls"]["verdict"] == "blocked" and layers["tls"]["rule"]
        assert doc["measurement"]["verdict"] == "blocked"
    human = _cli("show", "spaced", "--db", str(db))
    assert human.exit_code == 0
    assert hashlib.sha256(spaced).hexdigest() in human.output and "intact" in human.output
    missing = _cli("show", "nope", "--db", str(db))
    assert missing.exit_code == 2 and "no measurement 'nope'" in missing.output


def test_show_finds_what_classify_names(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    record = make_measurement("unused")
    del record["measurement_uid"]
    path = tmp_path / "m.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    classified = orjson.loads(_cli("classify", str(path), "--json").output)
    (measurement,) = classified["measurements"]
    assert _cli("ingest", str(path), "--db", str(tmp_path / "db")).exit_code == 0
    shown = _cli("show", measurement["id"], "--db", str(tmp_path / "db"), "--json")
    assert shown.exit_code == 0, shown.output
    assert orjson.loads(shown.output)["measurement"]["verdict"] == measurement["verdict"]
