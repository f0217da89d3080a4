"""Behaviours pinned on purpose: the order in which a layer's observations combine, and the
thresholds of the plain-HTTP page comparison."""

from __future__ import annotations

from itertools import permutations
from typing import Any

import pytest

from reachwatch.classify import classify
from reachwatch.classify._rules import layer_verdict, observe

IP = "10.0.2.10"

# One observation of each verdict, all on the tcp layer.
BLOCKED = observe("tcp.timeout_probe_only", "x.com", "1.1.1.1:443", technique="tcp.timeout")
OK = observe("tcp.connected", "x.com", "1.1.1.2:443")
DOWN = observe("tcp.fails_for_control_too", "x.com", "1.1.1.3:443")
UNKNOWN = observe("tcp.no_control", "x.com", "1.1.1.4:443")


@pytest.mark.parametrize(
    ("group", "speaks"),
    [
        ([BLOCKED, OK, DOWN, UNKNOWN], BLOCKED),  # blocking anywhere is the layer's verdict
        ([OK, DOWN, UNKNOWN], OK),  # else the service answered somewhere
        ([DOWN, UNKNOWN], DOWN),  # else it failed everywhere the control tried
        ([UNKNOWN], UNKNOWN),
    ],
)
def test_a_layer_speaks_blocked_then_ok_then_down_then_inconclusive(
    group: list[Any], speaks: Any
) -> None:
    for order in permutations(group):
        found = layer_verdict(list(order))
        assert (found.verdict, found.rule) == (speaks.verdict, speaks.rule), order


def test_among_equals_the_first_speaks() -> None:
    other = observe("tcp.reset_probe_only", "x.com", "1.1.1.5:443", technique="tcp.reset")
    assert layer_verdict([BLOCKED, other]).rule == "tcp.timeout_probe_only"
    assert layer_verdict([other, BLOCKED]).rule == "tcp.reset_probe_only"


def _page(healthy: Any, *, title: str, length: int, control_title: str) -> str:
    """The http rule for a plain-HTTP page of `length` bytes titled `title`, against a control
    page of 10000 bytes titled `control_title` (same status)."""
    m = healthy("http://x.com/")
    m.tk["requests"] = []
    m.http(body=f"<html><head><title>{title}</title></head></html>", address=f"{IP}:80")
    m.tk["requests"][0]["response"]["x_body_length"] = length
    m.tk["control"]["http_request"].update({"body_length": 10_000, "title": control_title})
    return classify(m.build()).layers["http"].rule


@pytest.mark.parametrize(
    ("length", "rule"),
    [
        (7_000, "http.matches_control"),  # 0.7 of the control's body: the same page
        (6_999, "http.differs_from_control"),  # just under: another page
        (14_285, "http.matches_control"),  # the control's is 0.7 of this one
        (14_286, "http.differs_from_control"),
    ],
)
def test_page_size_proportion_threshold_is_0_7(healthy: Any, length: int, rule: str) -> None:
    assert _page(healthy, title="Alpha", length=length, control_title="Omega") == rule


@pytest.mark.parametrize(
    ("title", "control_title", "rule"),
    [
        ("Twitter login", "Welcome to twitter", "http.matches_control"),  # a 7-letter word
        ("Start page", "Start here", "http.matches_control"),  # a 5-letter word is enough
        ("Home page", "Home here", "http.differs_from_control"),  # 4 letters are not
        ("X", "x", "http.matches_control"),  # equal titles, whatever their case
    ],
)
def test_titles_match_on_a_word_of_five_letters_or_more(
    healthy: Any, title: str, control_title: str, rule: str
) -> None:
    assert _page(healthy, title=title, length=100, control_title=control_title) == rule
