"""Case files: the shipped case loads, and every mistake is one line naming where it is."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from reachwatch.cases import CaseError, load_case, parse_case, shipped_cases

REPO = Path(__file__).resolve().parents[2]

VALID = """
id: demo
title: A demo case
scope: {cc: pk, platform: X, networks: [AS17557, 9541]}
events:
  - date: 2024-02-22
    kind: court_directive
    actor: A court
    summary: Restore access.
    requires: accessible
    within_days: 7
    sources: [{name: A newspaper, url: "https://example.org/a"}]
  - date: 2024-02-17
    kind: letter
    summary: Block it.
    requires: blocked
    sources: [A ministry letter]
"""


def test_shipped_case_loads_with_scope_directives_and_sources() -> None:
    assert "pk-x-2024" in shipped_cases()
    case = load_case("pk-x-2024")
    assert case.scope.cc == "PK" and case.scope.platform == "x"
    assert set(case.scope.networks) >= {"AS17557", "AS9541", "AS135407", "AS140499"}
    assert all(event.sources for event in case.events)
    dates = [e.date for e in case.events]
    assert dates == sorted(dates)
    withdraw = next(e for e in case.directives if e.id == "shc-withdraw")
    assert withdraw.date == date(2024, 4, 17) and withdraw.deadline == date(2024, 4, 24)
    assert {e.date for e in case.events if e.kind == "restoration"} == {
        date(2024, 2, 18),
        date(2025, 5, 7),
    }
    assert case.simulation is not None


def test_repo_root_copy_is_identical_to_the_packaged_case() -> None:
    packaged = REPO / "src" / "reachwatch" / "cases" / "data" / "pk-x-2024.yaml"
    assert (REPO / "cases" / "pk-x-2024.yaml").read_bytes() == packaged.read_bytes()


def test_case_loads_from_a_path(tmp_path: Path) -> None:
    path = tmp_path / "demo.yaml"
    path.write_text(VALID)
    case = load_case(path)
    assert case.scope.networks == ("AS17557", "AS9541")
    assert case.scope.platform == "x" and case.scope.cc == "PK"
    assert [e.kind for e in case.events] == ["letter", "court_directive"]
    assert case.directives[1].deadline == date(2024, 2, 29)
    assert case.events[0].sources[0].name == "A ministry letter"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (("id: demo\n", ""), "top level: missing 'id'"),
        (("cc: pk", "cc: pakistan"), "scope.cc: 'PAKISTAN' is not a two-letter country code"),
        (("9541]", "nine]"), "scope.networks[1]: 'nine' is not a network"),
        (("date: 2024-02-22", "date: 2024-02-31"), "events[0].date: '2024-02-31' is not a date"),
        (("kind: letter", "kind: rumour"), "events[1].kind: 'rumour' is not one of"),
        (("requires: accessible", "requires: maybe"), "events[0].requires: 'maybe'"),
        (("within_days: 7", "within_days: soon"), "events[0].within_days: 'soon'"),
        (("sources: [A ministry letter]", "sources: []"), "events[1].sources: every event"),
        (("https://example.org/a", "ftp://x"), "events[0].sources[0].url: 'ftp://x'"),
        (("    summary: Block it.\n", ""), "events[1]: missing 'summary'"),
        (("within_days: 7", "within_days: 7\n    deadline: 2024-03-01"), "not both"),
        (("title: A demo case", "title: [unclosed"), "line "),
        (("within_days: 7", "within_day: 7"), "events[0]: unknown key 'within_day'"),
        (("cc: pk", "cc: pk, platfrom: x"), "scope: unknown key 'platfrom'"),
        (("sources: [A ministry letter]", "sources: A ministry letter"), "expected a list of"),
    ],
)
def test_mistakes_are_one_line_errors(tmp_path: Path, edit: tuple[str, str], message: str) -> None:
    path = tmp_path / "bad.yaml"
    assert edit[0] in VALID
    path.write_text(VALID.replace(*edit))
    with pytest.raises(CaseError) as caught:
        load_case(path)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"{path}: ")
    assert message in text


def test_unknown_case_name_lists_the_shipped_ones() -> None:
    with pytest.raises(CaseError, match=r"shipped: .*pk-x-2024"):
        load_case("no-such-case")


def test_not_a_mapping() -> None:
    with pytest.raises(CaseError, match="<case>: top level: expected a mapping"):
        parse_case("- just a list")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff\xfe\x00binary", "not UTF-8 text"),
        (b"", "top level: expected a mapping"),
        (b"id: a\n: : :\n  - [", "line "),
    ],
)
def test_unreadable_files_are_one_line_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "case.yaml"
    path.write_bytes(content)
    with pytest.raises(CaseError) as caught:
        load_case(path)
    assert "\n" not in str(caught.value) and message in str(caught.value)


def test_a_folder_is_a_one_line_error(tmp_path: Path) -> None:
    folder = tmp_path / "case.yaml"
    folder.mkdir()
    with pytest.raises(CaseError, match="cannot read case"):
        load_case(folder)
