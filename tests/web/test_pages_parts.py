"""Parts of the dashboard on their own: the explorer's reading of a query string, and the page
a reader gets while an answer is still being computed."""

from __future__ import annotations

from datetime import datetime

import pytest
from fastapi import Request
from fastapi.responses import Response

from reachwatch.web._errors import Warming
from reachwatch.web._explorer import DEFAULT_LIMIT, BadFilter, read_filters
from reachwatch.web._pages import _patient


def test_an_empty_form_selects_everything_one_page_at_a_time() -> None:
    filters, limit = read_filters({})
    assert limit == DEFAULT_LIMIT
    assert all(getattr(filters, name) is None for name in filters.__slots__)


def test_the_form_values_become_the_query_layers_filters() -> None:
    filters, limit = read_filters(
        {"cc": "pk", "platform": "X", "network": "as17557", "verdict": "blocked",
         "technique": "tls.reset", "rule": "tls.reset_probe_only", "ongoing": "false",
         "since": "2024-02-17", "until": "2024-02-18T06:30Z", "limit": "20"}
    )  # fmt: skip
    assert (filters.cc, filters.platform, filters.network) == ("PK", "x", "AS17557")
    assert (filters.verdict, filters.technique, filters.rule) == (
        "blocked",
        "tls.reset",
        "tls.reset_probe_only",
    )
    assert filters.ongoing is False
    assert filters.since == datetime(2024, 2, 17)
    assert filters.until == datetime(2024, 2, 18, 6, 30)
    assert limit == 20


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"since": "last week"}, "since: 'last week' is not a date or time"),
        ({"verdict": "maybe"}, "verdict: expected one of accessible, blocked"),
        ({"limit": "many"}, "limit: 'many' is not a number"),
        ({"limit": "0"}, "limit: expected 1 to 1000"),
        ({"ongoing": "yes"}, "ongoing: expected true or false"),
    ],
)
def test_a_value_that_is_not_one_is_named(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadFilter, match="^" + message.replace("(", r"\(")):
        read_filters(params)


def test_a_page_still_being_computed_says_so_with_retry_after() -> None:
    def slow(request: Request) -> Response:
        raise Warming("the service is still computing this answer from the store")

    request = Request({"type": "http", "method": "GET", "path": "/", "headers": [],
                       "query_string": b"", "root_path": ""})  # fmt: skip
    answer = _patient(slow)(request=request)
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "10"
    assert answer.headers["content-type"].startswith("text/html")
    assert b"still computing this answer" in answer.body
