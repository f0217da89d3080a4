"""Detection again over a growing store (`IncrementalDetect`, what `watch` runs each round):
each run reads only the files committed since the last and builds again only the timelines
of the series that changed, and answers exactly what `detect` answers over the whole store."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.detect.conftest import elsewhere

from reachwatch.detect import detect
from reachwatch.detect._incremental import IncrementalDetect
from reachwatch.ingest import ingest, rejudge
from reachwatch.simulate import detection_corpus, generate
from reachwatch.store import NotAStore, committed_files, open_store


def _full(db: Path, cc: str, platform: str) -> dict[str, Any]:
    con = open_store(db, read_only=True, cc=cc)
    try:
        return detect(con, cc=cc, platform=platform).to_json()
    finally:
        con.close()


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
    return path


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """20 days of one country over 3 networks, blocks starting and ending, and a fifth of
    it again from another country (which the country's detection must not read)."""
    scenario = detection_corpus("lone-failure", 3, networks=3)
    found = [dict(item.measurement) for item in generate(scenario, 3)]
    return found + [elsewhere(r, "IR") for r in found[::5]]


def test_each_run_reads_only_new_files_rebuilds_only_changed_series_and_equals_detect(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    cc = str(records[0]["probe_cc"])
    days = sorted({str(r["measurement_start_time"])[:10] for r in records})
    networks = sorted({str(r["probe_asn"]) for r in records if r["probe_cc"] == cc})
    assert len(days) >= 20 and len(networks) == 3
    db = tmp_path / "db"
    inc = IncrementalDetect(db, cc, "x")
    # Rounds: 12 days at once, then a day at a time, then one network's next day alone.
    rounds = [days[:12], *([d] for d in days[12:-1])]
    for number, chunk in enumerate(rounds):
        batch = [r for r in records if str(r["measurement_start_time"])[:10] in chunk]
        ingest([_write(tmp_path / f"round-{number}.jsonl", batch)], db)
        assert inc.run().to_json() == _full(db, cc, "x")
        # Only the new files, and of them only the country's: every row of it, every platform.
        assert inc.last.measurements_read == sum(r["probe_cc"] == cc for r in batch)
        assert not inc.last.reread_all
    assert inc.last.timelines_built < 3 * len(rounds), "some series were built once only"

    last_day = [r for r in records if str(r["measurement_start_time"]).startswith(days[-1])]
    one_network = [r for r in last_day if r["probe_asn"] == networks[0] or r["probe_cc"] != cc]
    ingest([_write(tmp_path / "one-network.jsonl", one_network)], db)
    expected = _full(db, cc, "x")
    assert expected["incidents"], "blocks in the corpus: an empty answer would prove nothing"
    assert inc.run().to_json() == expected
    assert inc.last.series == 3 and inc.last.timelines_built == 1
    assert inc.last.files_read > 0 and not inc.last.reread_all

    before = inc.last.measurements_read
    assert inc.run().to_json() == expected  # nothing new: nothing read, nothing built
    assert (inc.last.files_read, inc.last.measurements_read, inc.last.timelines_built) == (0, 0, 0)
    assert before > 0

    rejudge(db)  # files replaced, not appended: everything is read again
    assert inc.run().to_json() == expected
    assert inc.last.reread_all and inc.last.timelines_built == 3
    inc.close()


def test_an_empty_store_and_one_without_the_country_detect_nothing(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    db = tmp_path / "db"
    ingest([_write(tmp_path / "ir.jsonl", [r for r in records if r["probe_cc"] == "IR"][:50])], db)
    inc = IncrementalDetect(db, "PK", "x")
    assert inc.run().to_json() == _full(db, "PK", "x")
    assert inc.run().to_json()["incidents"] == []
    inc.close()


# -- rows kept in a file, for `reachwatch detect` run again by later processes ----------------


def _grow(tmp_path: Path, records: list[dict[str, Any]], db: Path, days: list[str]) -> None:
    batch = [r for r in records if str(r["measurement_start_time"])[:10] in days]
    ingest([_write(tmp_path / f"{days[0]}-{len(days)}.jsonl", batch)], db)


def _days(records: list[dict[str, Any]]) -> list[str]:
    return sorted({str(r["measurement_start_time"])[:10] for r in records})


def _setting(tmp_path: Path, records: list[dict[str, Any]]) -> tuple[str, list[str], Path, Path]:
    """The country, the days, the store and the file its rows are kept in."""
    return str(records[0]["probe_cc"]), _days(records), tmp_path / "db", tmp_path / "kept.duckdb"


def test_rows_kept_in_a_file_serve_a_later_process_which_reads_only_new_files(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    cc, days, db, kept = _setting(tmp_path, records)
    _grow(tmp_path, records, db, days[:15])
    first = IncrementalDetect(db, cc, "x", rows_file=kept)
    assert first.run().to_json() == _full(db, cc, "x")
    files = first.last.files_read
    first.close()
    assert files > 0 and kept.is_file()

    _grow(tmp_path, records, db, days[15:17])
    later = IncrementalDetect(db, cc, "x", rows_file=kept)  # another process, in effect
    expected = _full(db, cc, "x")
    assert expected["incidents"]
    assert later.run().to_json() == expected
    assert 0 < later.last.files_read < files and not later.last.reread_all
    later.close()

    other = tmp_path / "other"  # another store at the path of the first: nothing is reused
    db.rename(other)
    _grow(tmp_path, records, db, days[3:9])
    again = IncrementalDetect(db, cc, "x", rows_file=kept)
    assert again.run().to_json() == _full(db, cc, "x")
    assert again.last.reread_all
    again.close()


def test_a_kept_file_in_use_or_damaged_or_left_by_a_failed_run_changes_no_answer(
    tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cc, days, db, kept = _setting(tmp_path, records)
    _grow(tmp_path, records, db, days[:10])
    IncrementalDetect(db, cc, "x", rows_file=kept).run()
    _grow(tmp_path, records, db, days[10:12])
    expected = _full(db, cc, "x")
    hold = "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print(1, flush=True); "
    holder = subprocess.Popen(  # another process has the file open: this one works in memory
        [sys.executable, "-c", hold + "time.sleep(120)", str(kept)], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == b"1"
        beside = IncrementalDetect(db, cc, "x", rows_file=kept)
        assert beside.run().to_json() == expected
        files = committed_files(db, cc)
        assert beside.last.files_read == len(files["measurements"]) + len(files["observations"])
        beside.close()
    finally:
        holder.kill()
        holder.wait()

    import reachwatch.detect._kept_rows as kept_rows

    def fail(*_args: object, **_kwargs: object) -> int:
        raise RuntimeError("killed midway")

    _grow(tmp_path, records, db, days[12:13])
    monkeypatch.setattr(kept_rows, "add_country_rows", fail)
    failing = IncrementalDetect(db, cc, "x", rows_file=kept)
    with pytest.raises(RuntimeError, match="killed midway"):
        failing.run()
    failing.close()
    monkeypatch.undo()
    after = IncrementalDetect(db, cc, "x", rows_file=kept)  # the file is as it was before
    assert after.run().to_json() == _full(db, cc, "x")
    assert not after.last.reread_all
    after.close()

    kept.write_bytes(b"not a DuckDB file" * 100)
    damaged = IncrementalDetect(db, cc, "x", rows_file=kept)
    assert damaged.run().to_json() == _full(db, cc, "x")
    damaged.close()


def test_detect_twice_keeps_rows_in_the_cache_folder_and_answers_as_without(
    tmp_path: Path, records: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    cc, days, db = str(records[0]["probe_cc"]), _days(records), tmp_path / "db"
    monkeypatch.setenv("REACHWATCH_CACHE", str(tmp_path / "cache"))
    cli = [sys.executable, "-c", "from reachwatch.cli import main; main()"]
    args = [*cli, "detect", "--db", str(db), "--cc", cc, "--platform", "x", "--json"]
    for chunk in (days[:14], days[14:16]):
        _grow(tmp_path, records, db, chunk)
        kept = subprocess.run(args, capture_output=True, check=True).stdout
        plain = subprocess.run([*args, "--no-cache"], capture_output=True, check=True).stdout
        assert orjson.loads(kept) == orjson.loads(plain) == _full(db, cc, "x")
    assert list((tmp_path / "cache" / "detect").glob(f"*/{cc}.duckdb"))


def test_a_folder_that_is_no_store_is_refused_and_gets_no_kept_file(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "mine.txt").write_text("keep\n")
    kept = tmp_path / "cache" / "kept.duckdb"
    run = IncrementalDetect(folder, "PK", "x", rows_file=kept)
    with pytest.raises(NotAStore):
        run.run()
    run.close()
    assert not kept.exists() and not kept.parent.exists()
    assert [p.name for p in folder.iterdir()] == ["mine.txt"]
