"""Every rule in RULES is documented (one row of docs/conformance.md's rule table) and fired by
at least one test of this folder; every documented rule exists."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reachwatch.classify import RULES

from .conftest import FIRED

HERE = Path(__file__).resolve().parent
DOC = HERE.parents[1] / "docs" / "conformance.md"
# A row of the rule table: | `rule.id` | layer | verdict | the evidence it needs |
_ROW = re.compile(r"^\|\s*`([a-z0-9_.]+)`\s*\|\s*(\w+)\s*\|\s*(\w+)\s*\|\s*(.+?)\s*\|\s*$")


def _table() -> dict[str, tuple[str, str, str]]:
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Rule table", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str, str]] = {}
    for line in section.splitlines():
        found = _ROW.match(line)
        if found:
            rule, layer, verdict, evidence = found.groups()
            assert rule not in rows, f"{rule} has two rows"
            rows[rule] = (layer, verdict, evidence)
    return rows


def test_every_rule_is_documented() -> None:
    missing = sorted(set(RULES) - set(_table()))
    assert not missing, f"add a row to docs/conformance.md's rule table for: {missing}"


def test_every_documented_rule_exists() -> None:
    stale = sorted(set(_table()) - set(RULES))
    assert not stale, f"docs/conformance.md documents rules that no longer exist: {stale}"


def test_each_row_gives_the_rules_layer_verdict_and_evidence() -> None:
    for rule, (layer, verdict, evidence) in _table().items():
        if rule not in RULES:
            continue
        assert layer == rule.split(".", 1)[0], rule
        assert verdict == RULES[rule][0], rule
        assert len(evidence.split()) >= 3, f"{rule}: say what evidence the rule needs"


def _whole_folder_ran(request: pytest.FixtureRequest) -> bool:
    """Only a session that ran every test of this folder can say a rule never fires."""
    config = request.config
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    if any("::" in arg for arg in config.args):
        return False
    ran = {Path(str(item.path)).resolve() for item in request.session.items}
    return all(path.resolve() in ran for path in HERE.glob("test_*.py"))


@pytest.mark.after_all_classify_tests
def test_every_rule_fires_in_some_test(request: pytest.FixtureRequest) -> None:
    if not _whole_folder_ran(request):
        pytest.skip("only a run of all of tests/classify can tell which rules never fire")
    if request.session.testsfailed:
        pytest.skip("tests failed before: rules they would have fired are not counted")
    never = sorted(set(RULES) - FIRED)
    assert not never, f"no test of tests/classify makes these rules fire: {never}"
