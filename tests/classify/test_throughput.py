"""Throttling, judged from the transfer itself: the page fetch's byte-arrival timeline (or OONI's
network_events), a minimum of evidence rather than a fixed window, and the control's rate for the
same resource as the reference."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify
from reachwatch.classify._quic_rate import THROTTLED_BELOW
from reachwatch.classify._transfer import MIN_BYTES, MIN_POINTS, MIN_SECONDS

IP = "10.0.2.10"
RECORD = 16 * 1024  # what a slow TLS link delivers at a time: one whole record


def _judged(m: Any) -> tuple[str, str | None, dict[str, str]]:
    c = classify(m.build())
    return c.verdict, c.technique, {name: lv.rule for name, lv in c.layers.items()}


def _sample(points: list[list[float]], *, failure: str | None = None) -> dict[str, Any]:
    t, size = points[-1] if points else (0.0, 0)
    return {
        "url": "https://x.com/",
        "address": f"{IP}:443",
        "bytes": int(size),
        "seconds": t,
        "samples": points,
        "failure": failure,
    }


def _fetch(
    m: Any,
    arrivals: list[list[float]],
    *,
    end: float,
    failure: str | None = None,
    control_seconds: float = 0.02,
    control_bytes: int = 96 * 1024,
    sample: list[list[float]] | None = None,
) -> Any:
    """The page fetch's timeline (x_arrivals, ending at `end`), the probe's own throughput
    sample (by default two readings: too few to judge), and the control's sample of the same
    resource, which took `control_seconds`."""
    m.tk["requests"] = []
    m.http(failure=failure, address=f"{IP}:443")
    request = m.tk["requests"][0]
    if failure is not None:
        request["response"]["code"] = 200  # a response that started, then ran out of time
    request.update({"t0": 0.0, "t": end, "x_arrivals": arrivals})
    m.tk["x_throughput"] = _sample(
        sample if sample is not None else [[1.0, RECORD], [2.0, 2 * RECORD]]
    )
    m.tk["control"]["x_throughput"] = _sample([[control_seconds, control_bytes]])
    return m


def _steady(records: int, every: float, start: float = 0.3) -> list[list[float]]:
    return [[round(start + i * every, 3), (i + 1) * RECORD] for i in range(records)]


def test_a_small_object_fetched_whole_but_slowly_is_throttled(healthy: Any) -> None:
    # 96 KiB in six records a second apart (128 kbit/s); the control took 0.02 s.
    m = _fetch(healthy(), _steady(6, 1.0), end=5.4)
    verdict, technique, rules = _judged(m)
    assert (verdict, technique) == ("blocked", "throttled")
    assert rules["throughput"] == "throughput.throttled_plateau"
    assert rules["http"] == "http.tls_authenticated"  # the page itself was the site's


def test_a_large_object_timing_out_while_bytes_trickle_in_is_throttled(healthy: Any) -> None:
    # 147 KB of a 3 MiB object in 10 s, still arriving when the fetch ran out of time.
    m = _fetch(
        healthy(),
        _steady(9, 1.07),
        end=10.0,
        failure="generic_timeout_error",
        control_seconds=0.3,
        control_bytes=3 * 1024 * 1024,
    )
    verdict, technique, rules = _judged(m)
    assert (verdict, technique) == ("blocked", "throttled")
    assert rules["http"] == "http.timeout_while_throttled"
    assert rules["throughput"] == "throughput.throttled_plateau"


def test_bytes_that_stop_coming_are_a_cut_not_throttling(healthy: Any) -> None:
    # Three records, then nothing for 7 s until the timeout: the path was cut, not slowed.
    m = _fetch(
        healthy(),
        [[0.3, RECORD], [0.5, 2 * RECORD], [0.7, 3 * RECORD], [2.9, 4 * RECORD]],
        end=10.0,
        failure="generic_timeout_error",
        control_bytes=3 * 1024 * 1024,
    )
    verdict, technique, rules = _judged(m)
    assert (verdict, technique) == ("blocked", "http.timeout")
    assert rules["http"] == "http.timeout_probe_only"
    assert rules["throughput"] == "throughput.stalled"


def test_a_server_slow_for_everyone_is_not_throttled(healthy: Any) -> None:
    # The control needed 6 s for the same 96 KiB: the server is slow, not the probe's path.
    m = _fetch(healthy(), _steady(6, 1.0), end=5.4, control_seconds=6.0)
    verdict, _, rules = _judged(m)
    assert verdict == "accessible"
    assert rules["throughput"] == "throughput.comparable"


def test_a_slow_timeout_for_everyone_stays_what_the_control_says(healthy: Any) -> None:
    m = _fetch(healthy(), _steady(9, 1.07), end=10.0, failure="generic_timeout_error")
    m.control_http(failure="generic_timeout_error")
    m.tk["control"]["x_throughput"] = _sample(_steady(9, 1.07))
    verdict, _, rules = _judged(m)
    assert verdict == "down"
    assert rules["throughput"] == "throughput.comparable"


def test_a_rate_above_one_megabit_is_never_throttling(healthy: Any) -> None:
    # 200 kB/s against a control 100 times faster: a slow access link, not a censor.
    fast = [[0.1 + i * 0.5, (i + 1) * 100_000.0] for i in range(10)]
    m = _fetch(healthy(), fast, end=4.7, control_seconds=0.05, control_bytes=1_000_000)
    assert THROTTLED_BELOW < 200_000
    assert _judged(m)[2]["throughput"] == "throughput.comparable"


@pytest.mark.parametrize(
    ("arrivals", "why"),
    [
        (_steady(MIN_POINTS - 1, 1.0), "too few arrivals"),
        ([[0.3 + i * 0.2, (i + 1) * RECORD] for i in range(4)], "spread over too short a time"),
        ([[0.3 + i * 0.5, (i + 1) * 1000.0] for i in range(6)], "too few bytes"),
    ],
)
def test_less_than_the_minimum_of_evidence_decides_nothing(
    healthy: Any, arrivals: list[list[float]], why: str
) -> None:
    m = _fetch(healthy(), arrivals, end=arrivals[-1][0])
    verdict, _, rules = _judged(m)
    assert verdict == "accessible", why
    assert rules["throughput"] == "throughput.too_short", why


def test_the_minimum_of_evidence_is_documented_as_configured() -> None:
    assert (MIN_POINTS, MIN_SECONDS, MIN_BYTES) == (4, 1.0, 16 * 1024)


def test_the_sample_speaks_when_the_page_came_in_one_piece(healthy: Any) -> None:
    m = _fetch(
        healthy(),
        [[0.3, 96 * 1024]],
        end=0.3,
        sample=[[0.2 + i * 0.5, 8_000.0 * (i + 1)] for i in range(7)],
    )
    assert _judged(m)[:2] == ("blocked", "throttled")


def test_a_fetch_without_a_timeline_or_sample_is_not_judged_on_throughput(healthy: Any) -> None:
    m = healthy()
    assert "throughput" not in _judged(m)[2]


def _ooni_events(transaction: int, points: list[list[float]]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = [
        # Another connection's bytes, and this one's before the request started: not the page.
        {
            "operation": "bytes_received_cumulative",
            "num_bytes": 999_999,
            "t": 1.0,
            "transaction_id": transaction + 1,
        },
        {
            "operation": "bytes_received_cumulative",
            "num_bytes": 6_000,
            "t": 0.1,
            "transaction_id": transaction,
        },
    ]
    events += [
        {
            "operation": "bytes_received_cumulative",
            "num_bytes": size,
            "t": t,
            "t0": t,
            "transaction_id": transaction,
            "address": f"{IP}:443",
            "proto": "tcp",
            "failure": None,
        }
        for t, size in points
    ]
    return events


def test_ooni_network_events_give_the_page_timeline(healthy: Any) -> None:
    m = _fetch(healthy(), [], end=5.4)
    request = m.tk["requests"][0]
    del request["x_arrivals"]
    request.update({"transaction_id": 7, "t0": 0.2})
    m.tk["network_events"] = _ooni_events(7, _steady(6, 1.0))
    assert _judged(m)[:2] == ("blocked", "throttled")


def test_ooni_read_events_are_summed(healthy: Any) -> None:
    m = _fetch(healthy(), [], end=5.4)
    request = m.tk["requests"][0]
    del request["x_arrivals"]
    request.update({"transaction_id": 3, "t0": 0.2})
    m.tk["network_events"] = [
        {"operation": "read", "num_bytes": RECORD, "t": 0.3 + i, "transaction_id": 3}
        for i in range(6)
    ]
    assert _judged(m)[2]["throughput"] == "throughput.throttled_plateau"


def test_an_ooni_measurement_without_a_control_rate_is_not_judged_on_throughput(
    healthy: Any,
) -> None:
    m = healthy()
    m.tk["requests"][0].update({"transaction_id": 7, "t0": 0.2, "t": 5.4})
    m.tk["network_events"] = _ooni_events(7, _steady(6, 1.0))
    assert "throughput" not in _judged(m)[2]


@pytest.mark.parametrize(
    "arrivals",
    [
        "not a list",
        [["0.3", 100], [0.5], None, [True, 5]],
        [[1.0, 5000], [0.5, 6000], [2.0, 100]],  # time or bytes going backwards: skipped
    ],
)
def test_malformed_timelines_are_skipped_not_fatal(healthy: Any, arrivals: Any) -> None:
    m = _fetch(healthy(), arrivals, end=3.0)
    assert _judged(m)[0] == "accessible"


def test_retransmission_pauses_of_a_shaped_link_are_still_throttling(healthy: Any) -> None:
    # As the lab's 128 kbit/s shaper delivered 96 KiB: a record a second, and one 2.6 s pause
    # where the shaper's drops cost a retransmission timeout.
    arrivals = [
        [0.2703, 125],
        [1.3223, 16509],
        [2.3631, 32893],
        [5.0146, 49277],
        [5.5807, 65661],
        [6.1494, 82045],
        [6.6215, 98429],
        [6.7225, 98541],
    ]
    m = _fetch(healthy(), arrivals, end=6.73, control_seconds=0.0531, control_bytes=98416)
    assert _judged(m)[2]["throughput"] == "throughput.throttled_plateau"


def test_a_fast_transfer_with_one_long_pause_is_not_throttling(healthy: Any) -> None:
    arrivals = [[0.0, 0.0], [0.1, 200_000.0], [5.1, 200_000.0], [5.2, 400_000.0]]
    m = _fetch(healthy(), arrivals, end=5.2, control_bytes=4_000_000, control_seconds=1.0)
    assert _judged(m)[2]["throughput"] == "throughput.slow_unsteady"


def test_a_transfer_fast_but_for_one_pause_under_half_is_not_throttling(healthy: Any) -> None:
    # 400 kB in 4 s (100 kB/s, slow on average), but 190 kB/s without its 1.9 s pause: over the
    # 1 Mbit/s ceiling, so the pause, not the path, made it slow.
    arrivals = [[0.0, 0], [0.7, 133_000], [1.4, 266_000], [2.1, 300_000], [4.0, 400_000]]
    m = _fetch(healthy(), arrivals, end=4.0, control_seconds=0.1, control_bytes=1_000_000)
    assert _judged(m)[2]["throughput"] == "throughput.slow_unsteady"


def test_the_throughput_observation_names_the_sampled_address_and_failure(healthy: Any) -> None:
    m = _fetch(healthy(), _steady(6, 1.0), end=5.4)
    m.tk["x_throughput"]["failure"] = "generic_timeout_error"
    (obs,) = [o for o in classify(m.build()).observations if o.layer == "throughput"]
    assert (obs.host, obs.address, obs.failure) == ("x.com", f"{IP}:443", "generic_timeout_error")
