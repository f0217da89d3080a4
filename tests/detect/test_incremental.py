"""Detection again over a growing store (`IncrementalDetect`, what `watch` runs each round):
each run reads only the files committed since the last and builds again only the timelines
of the series that changed, and answers exactly what `detect` answers over the whole store."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.detect import detect
from reachwatch.detect._incremental import IncrementalDetect
from reachwatch.ingest import ingest, rejudge
from reachwatch.simulate import detection_corpus, generate
from reachwatch.store import open_store


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
    for r in found[::5]:
        moved = copy.deepcopy(r)
        moved["probe_cc"] = "IR"
        moved["measurement_uid"] = f"{r['measurement_uid']}ir"
        found.append(moved)
    return found


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
