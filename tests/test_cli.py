"""Every command answers a usage mistake with one line on stderr, never click's usage block."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reachwatch.cli import app

MISTAKES = [
    (["--bogus"], "No such option '--bogus'", "reachwatch --help"),
    (["nosuch"], "No such command 'nosuch'", "reachwatch --help"),
    (["probe", "--bogus", "x"], "No such option '--bogus'", "reachwatch probe --help"),
    (["probe"], "Missing argument", "reachwatch probe --help"),
    (["control", "serve", "--port", "abc"], "'abc' is not a valid integer", "control serve"),
    (["lab", "run", "--nope"], "No such option '--nope'", "reachwatch lab run --help"),
    (["lab", "nosuch"], "No such command 'nosuch'", "reachwatch lab --help"),
    (["classify"], "Missing argument", "reachwatch classify --help"),
    (["ingest"], "Missing argument", "reachwatch ingest --help"),
    (["ooni", "sync"], "Missing option '--cc'", "reachwatch ooni sync --help"),
    (["detect", "--nope"], "No such option '--nope'", "reachwatch detect --help"),
    (["simulate", "pk-x-2024", "--out", "o", "--seed", "abc"], "not a valid integer", "simulate"),
    (["case", "check"], "Missing argument 'CASE'", "reachwatch case check --help"),
    (["catalog", "--x"], "No such option '--x'", "reachwatch catalog --help"),
    (["demo", "--x"], "No such option '--x'", "reachwatch demo --help"),
]


@pytest.mark.parametrize(("args", "message", "hint"), MISTAKES)
def test_usage_mistake_is_one_line(args: list[str], message: str, hint: str) -> None:
    result = CliRunner().invoke(app, args, prog_name="reachwatch")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("reachwatch: error: ")
    assert message in lines[0] and hint in lines[0]
    assert "Traceback" not in result.output


@pytest.mark.parametrize("args", [[], ["case"], ["lab"], ["ooni"], ["control"]])
def test_a_group_alone_shows_its_help(args: list[str]) -> None:
    result = CliRunner().invoke(app, args, prog_name="reachwatch")
    assert "Usage: reachwatch" in result.output
    assert "error" not in result.output


def test_a_platform_alias_is_accepted_where_a_platform_is() -> None:
    result = CliRunner().invoke(app, ["catalog", "twitter", "--json"], prog_name="reachwatch")
    assert result.exit_code == 0, result.output
    assert '"name":"x"' in result.stdout
