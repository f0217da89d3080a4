"""Detection over a store's Parquet files, as `reachwatch detect` runs it (one country's files,
its rows read once into memory), answers exactly as over tables already in memory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.detect.conftest import two_country_store

from reachwatch.cases import check_case, load_case
from reachwatch.detect import detect, reads_files
from reachwatch.simulate import memory_store
from reachwatch.store import open_store


@pytest.fixture(scope="module")
def two_countries(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    return two_country_store(tmp_path_factory.mktemp("two-countries"))


def test_detect_over_the_files_equals_detect_in_memory(
    two_countries: tuple[Path, list[dict[str, Any]]],
) -> None:
    db, records = two_countries
    cc = str(records[0]["probe_cc"])
    expected = detect(memory_store(records), cc=cc, platform="x").to_json()
    assert expected["incidents"], "the corpus has blocks: an empty answer would prove nothing"
    for scoped in (None, cc):
        con = open_store(db, read_only=True, cc=scoped)
        assert reads_files(con)
        assert detect(con, cc=cc, platform="x").to_json() == expected
        con.close()


def test_a_country_scoped_store_holds_that_country_only(
    two_countries: tuple[Path, list[dict[str, Any]]],
) -> None:
    db, records = two_countries
    cc = str(records[0]["probe_cc"])
    count = "SELECT probe_cc, count(*) FROM measurements GROUP BY 1 ORDER BY 1"
    whole = dict(open_store(db, read_only=True).execute(count).fetchall())
    assert set(whole) == {cc, "IR"}
    for country in (cc, "IR", cc.lower()):
        scoped = open_store(db, read_only=True, cc=country).execute(count).fetchall()
        assert scoped == [(country.upper(), whole[country.upper()])]
    assert open_store(db, read_only=True, cc="DE").execute(count).fetchall() == []


def test_case_check_over_the_files_equals_case_check_in_memory(
    two_countries: tuple[Path, list[dict[str, Any]]],
) -> None:
    db, records = two_countries
    case = load_case("pk-x-2024")
    expected = check_case(case, memory_store(records)).to_json()
    con = open_store(db, read_only=True, cc=case.scope.cc)
    assert check_case(case, con).to_json() == expected
