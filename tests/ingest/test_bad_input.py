"""Bad input stays loss-free: a gzip member failing its CRC gives no record, the quarantine
file has a cap, and every element of a JSON array is stored or quarantined."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from reachwatch.cli import app
from reachwatch.ingest import ingest
from reachwatch.ingest._quarantine import DEFAULT_CAP
from reachwatch.store import open_store


def _ids(db: Path) -> set[str]:
    con = open_store(db, read_only=True)
    try:
        return {row[0] for row in con.execute("SELECT measurement_id FROM measurements").fetchall()}
    finally:
        con.close()


def _entries(path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def _lines(make: Callable[..., dict[str, Any]], prefix: str, n: int) -> list[bytes]:
    return [orjson.dumps(make(f"{prefix}{i}", url=f"https://x.com/{i}")) for i in range(n)]


def _member_with_bad_crc(lines: list[bytes], target: bytes) -> bytes:
    """A gzip member of stored (uncompressed) blocks whose data has one byte changed after the
    CRC was computed: it decompresses to JSON that parses, and fails only its CRC."""
    member = bytearray(gzip.compress(b"\n".join(lines) + b"\n", compresslevel=0))
    at = bytes(member).index(target)
    member[at] = ord("7") if member[at] != ord("7") else ord("8")
    return bytes(member)


def test_a_member_failing_its_crc_is_quarantined_whole_and_the_members_before_are_stored(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    good = _lines(make_measurement, "good", 30)
    bad = _lines(make_measurement, "bad", 30)
    path = tmp_path / "crc.jsonl.gz"
    path.write_bytes(
        gzip.compress(b"\n".join(good) + b"\n") + _member_with_bad_crc(bad, b"https://x.com/17")
    )
    summary = ingest([path], tmp_path / "db")
    assert _ids(tmp_path / "db") == {f"good{i}" for i in range(30)}  # the last one included
    assert summary.quarantined == {"corrupt_gzip": 30}
    quarantined = _entries(summary.quarantine_file)
    assert {e["reason"] for e in quarantined} == {"corrupt_gzip"}
    assert [e["line"] for e in quarantined] == list(range(31, 61))
    kept = [e["raw"].encode() for e in quarantined]  # nothing lost: every line's bytes
    assert kept[:17] == bad[:17] and kept[18:] == bad[18:]
    assert kept[17] != bad[17] and b"https://x.com/" in kept[17]


def test_a_large_member_failing_its_crc_is_checked_before_any_of_it_is_stored(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # Over 64 MiB: the member is checked ahead rather than held whole.
    first = orjson.dumps(make_measurement("first"))
    filler = [orjson.dumps({"filler": f"{i:04d}" + "a" * (1 << 20)}) for i in range(70)]
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(_member_with_bad_crc([first, *filler], b'"0069'))
    summary = ingest([path], tmp_path / "db")
    assert _ids(tmp_path / "db") == set()
    assert summary.quarantined == {"corrupt_gzip": 71}
    assert _entries(summary.quarantine_file)[0]["raw"].encode() == first


def test_the_quarantine_file_is_capped_and_the_summary_says_so(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    # 20 KB of gzip, 300,000 bad lines: the file keeps the first DEFAULT_CAP entries whole.
    # One valid measurement first: a run that stores nothing is an error of its own.
    valid = orjson.dumps(make_measurement("kept")) + b"\n"
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress(valid + b"not json\n" * 300_000, compresslevel=9))
    assert path.stat().st_size < 20_000
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", str(tmp_path / "db"), "--json"])
    assert result.exit_code == 0, result.output
    summary = orjson.loads(result.output)
    assert summary["stored"] == 1
    assert summary["quarantined"] == {"invalid_json": 300_000}
    assert summary["quarantine_cap"] == DEFAULT_CAP
    assert summary["quarantine_overflow"] == 300_000 - DEFAULT_CAP
    assert len(Path(summary["quarantine_file"]).read_bytes().splitlines()) == DEFAULT_CAP
    human = CliRunner().invoke(
        app, ["ingest", str(path), "--db", str(tmp_path / "db2"), "--quarantine-cap", "10"]
    )
    assert "first 10 entries whole; 299,990 more were counted" in human.output


def test_every_element_of_a_json_array_is_stored_or_quarantined(
    tmp_path: Path, make_measurement: Callable[..., dict[str, Any]]
) -> None:
    deep = b"[" * 5000 + b"]" * 5000
    before, after = (orjson.dumps(make_measurement(uid)) for uid in ("before", "after"))
    document = b"[" + before + b",\n" + deep + b",\n" + after + b"]"
    (tmp_path / "plain.json").write_bytes(document)
    (tmp_path / "zipped.json.gz").write_bytes(gzip.compress(document))
    for name in ("plain.json", "zipped.json.gz"):
        db = tmp_path / f"db-{name}"
        summary = ingest([tmp_path / name], db)
        assert _ids(db) == {"before", "after"}, name
        assert summary.quarantined == {"invalid_json": 1}, name
        (entry,) = _entries(summary.quarantine_file)
        assert entry["line"] == 2 and entry["raw"].encode() == deep
