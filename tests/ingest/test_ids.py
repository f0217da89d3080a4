"""One id per measurement: what `classify --json` prints is what the store holds."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.formats.ids import measurement_id
from reachwatch.ingest import ingest
from reachwatch.store import open_store


def _classify_ids(paths: list[Path]) -> set[str]:
    result = CliRunner().invoke(app, ["classify", *map(str, paths), "--json"])
    assert result.output.strip(), result.output
    doc = orjson.loads(result.output.splitlines()[-1])
    return {m["id"] for m in doc["measurements"]}


def _stored_ids(db: Path, where: str = "true") -> set[str]:
    con = open_store(db, read_only=True)
    try:
        rows = con.execute(f"SELECT measurement_id FROM measurements WHERE {where}").fetchall()
    finally:
        con.close()
    return {row[0] for row in rows}


def test_a_record_with_a_report_id_and_no_uid_has_one_id_everywhere(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    record = make_measurement("unused")
    del record["measurement_uid"]
    path = tmp_path / "m.jsonl"
    path.write_bytes(orjson.dumps(record) + b"\n")
    # The same measurement reformatted (keys reordered, spaced) keeps its id.
    again = tmp_path / "again.json"
    again.write_bytes(orjson.dumps(dict(reversed(record.items())), option=orjson.OPT_INDENT_2))
    ingest([path], tmp_path / "db")
    (expected,) = _stored_ids(tmp_path / "db")
    assert expected.startswith("r-") and expected == measurement_id(record)
    assert _classify_ids([path]) == _classify_ids([again]) == {expected}


def test_a_record_with_neither_has_its_content_digest_everywhere(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    record = make_measurement("unused")
    del record["measurement_uid"], record["report_id"]
    path = tmp_path / "m.json"
    path.write_bytes(orjson.dumps(record, option=orjson.OPT_INDENT_2))
    ingest([path], tmp_path / "db")
    assert _stored_ids(tmp_path / "db") == _classify_ids([path]) == {measurement_id(record)}


@pytest.mark.reference
def test_classify_and_the_store_agree_on_every_reference_file(
    reference_dir: Path, tmp_path: Path
) -> None:
    files = sorted(
        p
        for folder in ("ooni", "censoredplanet")
        for p in (reference_dir / folder).rglob("*")
        if p.is_file() and p.name.endswith((".json", ".jsonl", ".json.gz", ".jsonl.gz"))
    )
    assert len(files) > 50
    ingest(files, tmp_path / "db")
    stored = _stored_ids(tmp_path / "db", "classified")
    for path in files:
        judged = _classify_ids([path]) if _judges_something(path) else set()
        mine = _stored_ids(tmp_path / "db", f"classified AND source_file = '{path}'")
        # Every measurement both judged has one id; ingest may refuse what classify reads
        # leniently (bare test_keys, a file of comments), never the other way round.
        assert mine <= judged, path
    assert stored and stored <= _classify_ids(files)


def _judges_something(path: Path) -> bool:
    result = CliRunner().invoke(app, ["classify", str(path), "--json"])
    return result.exit_code == 0 and b'"id"' in result.output.encode()
