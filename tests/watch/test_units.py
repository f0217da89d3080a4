"""One function at a time: intervals, which incidents are news, webhook attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.watch.conftest import Receiver

from reachwatch.watch import ENDED, NEW, KnownIncident, WatchError, changes, parse_every, post_json
from reachwatch.watch._webhook import check_webhook


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("1h", 3600), ("30m", 1800), ("90s", 90), ("1d", 86400), ("1h30m", 5400), (" 2H ", 7200)],
)
def test_intervals(text: str, seconds: int) -> None:
    assert parse_every(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "h", "1", "1x", "soon", "-1h", "1.5h", "0s", "0h0m", "400d"])
def test_what_is_not_an_interval_is_refused(text: str) -> None:
    with pytest.raises(WatchError, match="--every"):
        parse_every(text)


@pytest.mark.parametrize("url", ["ftp://h/x", "not a url", "http://", "file:///etc/passwd", ""])
def test_a_webhook_must_be_an_http_url(url: str) -> None:
    with pytest.raises(WatchError, match="--webhook"):
        check_webhook(url)


def _inc(start: str, end: str | None) -> dict[str, Any]:
    return {"cc": "PK", "platform": "x", "start": start, "end": end}


def test_an_incident_seen_first_is_new_and_keeps_its_id() -> None:
    events, known = changes([], [_inc("2024-02-17T06:26:30Z", None)])
    assert [(e.kind, e.id) for e in events] == [(NEW, "PK-x-20240217T0626Z")]
    assert known == [KnownIncident("PK-x-20240217T0626Z", "2024-02-17T06:26:30Z", None)]


def test_a_start_moved_by_more_data_is_the_same_incident_and_its_end_is_news() -> None:
    known = [KnownIncident("PK-x-20240217T0626Z", "2024-02-17T06:26:30Z", None)]
    events, after = changes(known, [_inc("2024-02-17T05:10:00Z", "2024-02-20T12:21:53Z")])
    assert [(e.kind, e.id) for e in events] == [(ENDED, "PK-x-20240217T0626Z")]
    assert after[0].id == "PK-x-20240217T0626Z" and after[0].end == "2024-02-20T12:21:53Z"
    again, _ = changes(after, [_inc("2024-02-17T05:10:00Z", "2024-02-20T12:21:53Z")])
    assert again == []


def test_one_first_seen_over_is_new_then_ended_and_one_ongoing_again_is_new() -> None:
    events, known = changes([], [_inc("2024-02-17T06:00:00Z", "2024-02-18T00:00:00Z")])
    assert [e.kind for e in events] == [NEW, ENDED]
    reopened, _ = changes(known, [_inc("2024-02-17T06:00:00Z", None)])
    assert [(e.kind, e.id) for e in reopened] == [(NEW, known[0].id)]


def test_a_second_incident_after_an_ended_one_is_its_own() -> None:
    known = [KnownIncident("a", "2024-02-17T06:00:00Z", "2024-02-18T00:00:00Z")]
    current = [
        _inc("2024-02-17T06:00:00Z", "2024-02-18T00:00:00Z"),
        _inc("2024-03-01T00:00:00Z", None),
    ]
    events, after = changes(known, current)
    assert [(e.kind, e.id) for e in events] == [(NEW, "PK-x-20240301T0000Z")]
    assert [k.id for k in after] == ["a", "PK-x-20240301T0000Z"]


def test_a_retracted_incident_is_forgotten_without_an_event() -> None:
    known = [KnownIncident("a", "2024-02-17T06:00:00Z", None)]
    assert changes(known, []) == ([], [])


def test_webhook_attempts_back_off_and_a_server_error_is_not_permanent(webhook: Receiver) -> None:
    webhook.status = 503
    pauses: list[float] = []

    def pause(seconds: float) -> bool:  # the watch's pause, without the wait
        pauses.append(seconds)
        return False

    result = post_json(webhook.url, b"{}", attempts=3, backoff=0.5, pause=pause)
    assert (result.delivered, result.attempts, result.permanent) == (False, 3, False)
    assert result.reason == "HTTP 503" and pauses == [0.5, 1.0]
    webhook.status = 200
    assert post_json(webhook.url, b'{"a": 1}').delivered and webhook.received == [{"a": 1}]


def test_a_stop_during_the_backoff_ends_the_attempts(webhook: Receiver) -> None:
    webhook.status = 500
    result = post_json(webhook.url, b"{}", attempts=5, pause=lambda _s: True)
    assert result.attempts == 1 and "stopped" in result.reason and not result.permanent


def test_a_webhook_that_does_not_answer_in_time_is_a_failure_not_a_hang() -> None:
    import socket
    import time

    with socket.socket() as sock:  # accepts connections (the backlog) and never answers
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/"
        started = time.monotonic()
        result = post_json(url, b"{}", timeout=0.5, attempts=2)
    assert not result.delivered and result.attempts == 2
    assert time.monotonic() - started < 5
