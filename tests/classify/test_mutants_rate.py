"""The throughput thresholds at their exact bounds (ten times below the control, 1 Mbit/s, a pause
of half the timeline), the control's reference rate, and QUIC cases no other test reaches. The
rates are chosen so that the arithmetic is exact. Each test pins a behaviour mutation testing
found no test of tests/classify checking."""

from __future__ import annotations

from typing import Any

import pytest

from reachwatch.classify import classify
from reachwatch.classify._quic_rate import MAX_PAUSE_SHARE, THROTTLE_RATIO, THROTTLED_BELOW

IP = "10.0.2.10"


def _sample(points: list[list[float]], **keys: Any) -> dict[str, Any]:
    t, size = points[-1]
    sample = {"address": f"{IP}:443", "bytes": size, "seconds": t, "samples": points}
    sample.update(keys)
    return sample


def _even(step_bytes: float, steps: int = 4) -> list[list[float]]:
    return [[float(i), step_bytes * i] for i in range(steps + 1)]


def _rule(healthy: Any, probe: list[list[float]], control: dict[str, Any] | None) -> str:
    m = healthy()
    m.tk["x_throughput"] = _sample(probe)
    m.tk["control"]["x_throughput"] = control
    return str(classify(m.build()).layers["throughput"].rule)


def _control_rate(rate: float) -> dict[str, Any]:
    """A control that fetched the resource in one piece, at `rate` bytes per second."""
    return _sample([[1.0, rate]])


def test_the_thresholds_are_the_documented_ones() -> None:
    assert (THROTTLE_RATIO, THROTTLED_BELOW, MAX_PAUSE_SHARE) == (10.0, 125_000.0, 0.5)


def test_exactly_ten_times_below_the_control_is_not_comparable(healthy: Any) -> None:
    # 90 kB/s against 900 kB/s: not comparable; steady but not slow enough without a pause.
    assert _rule(healthy, _even(90_000), _control_rate(900_000)) == "throughput.slow_unsteady"
    assert _rule(healthy, _even(90_001), _control_rate(900_000)) == "throughput.comparable"


def test_exactly_one_megabit_is_not_comparable(healthy: Any) -> None:
    assert _rule(healthy, _even(125_000), _control_rate(1e7)) == "throughput.slow_unsteady"
    assert _rule(healthy, _even(125_001), _control_rate(1e7)) == "throughput.comparable"


def test_a_pause_of_exactly_half_the_timeline_still_counts_as_steady(healthy: Any) -> None:
    # Arrivals at 0, 1, 2 and 4 s: the last gap (2 s) is half of the 4 s timeline.
    probe = [[0.0, 0.0], [1.0, 20_000.0], [2.0, 40_000.0], [4.0, 60_000.0]]
    assert _rule(healthy, probe, _control_rate(1e6)) == "throughput.throttled_plateau"
    # Arrivals at 0, 1, 1.5 and 4 s: the last gap (2.5 s) is more than half: not steady.
    probe_long = [[0.0, 0.0], [1.0, 20_000.0], [1.5, 40_000.0], [4.0, 60_000.0]]
    assert _rule(healthy, probe_long, _control_rate(1e6)) == "throughput.slow_unsteady"


def test_ten_times_below_the_control_without_the_pause_is_throttled(healthy: Any) -> None:
    # 30 kB per second, 4 s: 40 kB/s with the longest (1 s) gap left out.
    assert _rule(healthy, _even(30_000), _control_rate(400_000)) == "throughput.throttled_plateau"
    assert _rule(healthy, _even(30_000), _control_rate(399_999)) == "throughput.slow_unsteady"


def test_one_megabit_without_the_pause_is_still_throttled(healthy: Any) -> None:
    # 93.75 kB per second: 125 kB/s with the longest gap left out, exactly the bound.
    assert _rule(healthy, _even(93_750), _control_rate(2e6)) == "throughput.throttled_plateau"
    assert _rule(healthy, _even(93_751), _control_rate(2e6)) == "throughput.slow_unsteady"


def test_the_reference_is_the_faster_of_the_controls_timeline_and_whole_exchange(
    healthy: Any,
) -> None:
    # The control's timeline says 100 kB/s; its whole exchange (6 s with set-up) says less.
    timeline = _sample(_even(100_000), seconds=6.0)
    assert _rule(healthy, _even(7_500), timeline) == "throughput.throttled_plateau"
    assert _rule(healthy, _even(10_001), timeline) == "throughput.comparable"
    # A control whose whole exchange was faster than its timeline (500 kB/s): that counts.
    fast_whole = _sample(_even(100_000), bytes=2_000_000, seconds=4.0)
    assert _rule(healthy, _even(10_001), fast_whole) == "throughput.throttled_plateau"


def test_a_control_timeline_with_too_little_evidence_gives_its_whole_rate(healthy: Any) -> None:
    # Three readings (1 MB/s between them) are too few for a timeline: the whole exchange,
    # 600 kB in 1 s, is the reference.
    control = _sample([[0.0, 0.0], [0.5, 1000.0], [0.6, 600_000.0]], bytes=600_000, seconds=1.0)
    assert _rule(healthy, _even(29_000), control) == "throughput.throttled_plateau"
    assert _rule(healthy, _even(60_001), control) == "throughput.comparable"


@pytest.mark.parametrize(
    "control",
    [
        {"bytes": 0, "seconds": 1.0, "samples": []},
        {"bytes": 1000, "seconds": 0.0, "samples": []},
        {"bytes": "1000", "seconds": 1.0, "samples": []},
        {"bytes": 1000, "seconds": None, "samples": []},
        {"bytes": -5, "seconds": -1.0, "samples": []},
    ],
)
def test_a_control_sample_with_no_usable_rate_is_no_reference(
    healthy: Any, control: dict[str, Any]
) -> None:
    assert _rule(healthy, _even(10_000), control) == "throughput.no_control"


def test_a_control_sample_of_one_byte_is_a_reference(healthy: Any) -> None:
    control = {"bytes": 1, "seconds": 1.0, "samples": []}
    assert _rule(healthy, _even(10_000), control) == "throughput.comparable"


def test_a_probe_sample_of_one_piece_is_judged_by_its_whole_rate(healthy: Any) -> None:
    assert _rule(healthy, [[2.0, 4_000_000.0]], _control_rate(3e6)) == "throughput.comparable"
    assert _rule(healthy, [[2.0, 20_000.0]], _control_rate(3e6)) == "throughput.too_short"


def test_a_probe_sample_with_no_bytes_is_no_sample(healthy: Any) -> None:
    assert _rule(healthy, [[2.0, 0.0]], _control_rate(3e6)) == "throughput.no_sample"


def test_the_failure_of_the_sample_is_kept_only_when_it_is_text(healthy: Any) -> None:
    for failure, kept in (("generic_timeout_error", "generic_timeout_error"), (7, None)):
        m = healthy()
        m.tk["x_throughput"] = _sample(_even(30_000), failure=failure)
        m.tk["control"]["x_throughput"] = _control_rate(400_000)
        (o,) = [o for o in classify(m.build()).observations if o.layer == "throughput"]
        assert o.failure == kept


# --- QUIC ---------------------------------------------------------------------------------


def _quic(healthy: Any, ip: str, failure: str | None, **tk: Any) -> Any:
    m = healthy().quic(ip, failure)
    m.tk.update(tk)
    return classify(m.build())


def test_a_quic_handshake_without_a_name_belongs_to_the_input_host(healthy: Any) -> None:
    m = healthy().quic(IP, None)
    m.tk["x_quic_handshakes"][0]["server_name"] = ""
    (o,) = [o for o in classify(m.build()).observations if o.layer == "quic"]
    assert (o.host, o.rule) == ("x.com", "quic.handshake_ok")


def test_quic_over_ipv6_is_unavailable_only_where_the_probe_has_no_ipv6(healthy: Any) -> None:
    v6 = "2001:db8::10"
    lost = _quic(healthy, v6, "generic_timeout_error", x_ipv6_capable=False)
    assert lost.layers["quic"].rule == "quic.ipv6_unavailable"
    capable = _quic(healthy, v6, "generic_timeout_error", x_ipv6_capable=True)
    assert capable.layers["quic"].rule == "quic.no_control"
    v4 = _quic(healthy, IP, "generic_timeout_error", x_ipv6_capable=False)
    assert v4.layers["quic"].rule == "quic.no_control"


def test_a_failed_quic_handshake_keeps_its_address_and_failure(healthy: Any) -> None:
    m = healthy().quic(IP, "generic_timeout_error").control_quic(IP)
    c = classify(m.build())
    (o,) = [o for o in c.observations if o.layer == "quic"]
    assert (o.rule, o.host, o.address, o.failure, o.technique) == (
        "quic.fails_probe_only",
        "x.com",
        f"{IP}:443",
        "generic_timeout_error",
        "quic.blocked",
    )
    ok = classify(healthy().quic(IP, None).build())
    (o,) = [o for o in ok.observations if o.layer == "quic"]
    assert (o.host, o.address, o.failure, o.technique) == ("x.com", f"{IP}:443", None, None)


# --- the page fetch's own timeline --------------------------------------------------------


def _page_events(healthy: Any, events: list[dict[str, Any]], t0: float = 1.0) -> str:
    m = healthy()
    request = m.tk["requests"][0]
    request.update({"transaction_id": 7, "t0": t0, "t": 4.0})
    m.tk["network_events"] = events
    m.tk["x_throughput"] = _sample([[1.0, 1000.0]])
    m.tk["control"]["x_throughput"] = _control_rate(1e6)
    return str(classify(m.build()).layers["throughput"].rule)


def _cumulative(t: float, size: float, transaction: int = 7) -> dict[str, Any]:
    return {
        "operation": "bytes_received_cumulative",
        "num_bytes": size,
        "t": t,
        "transaction_id": transaction,
    }


def test_an_arrival_at_the_fetchs_very_start_counts(healthy: Any) -> None:
    # Four arrivals from t0 on: the minimum of evidence, slow and steady.
    events = [_cumulative(1.0 + i, 20_000.0 * i) for i in range(4)]
    assert _page_events(healthy, events) == "throughput.throttled_plateau"
    # Before t0 is another exchange: three arrivals left are too few.
    assert _page_events(healthy, events, t0=1.5) == "throughput.too_short"


def test_events_without_a_time_or_a_size_or_of_another_transaction_are_skipped(
    healthy: Any,
) -> None:
    events = [_cumulative(1.0 + i, 20_000.0 * i) for i in range(4)]
    events += [
        {"operation": "read", "t": 2.5, "transaction_id": 7},
        {"operation": "read", "num_bytes": 500, "transaction_id": 7},
        _cumulative(2.6, 10_000_000.0, transaction=8),
    ]
    assert _page_events(healthy, events) == "throughput.throttled_plateau"


def test_a_request_with_a_transaction_but_no_events_has_no_page_timeline(healthy: Any) -> None:
    m = healthy()
    m.tk["requests"][0]["transaction_id"] = 7
    m.tk["x_throughput"] = _sample(_even(30_000))
    m.tk["control"]["x_throughput"] = _control_rate(400_000)
    # The sample speaks instead.
    assert classify(m.build()).layers["throughput"].rule == "throughput.throttled_plateau"


def test_two_arrivals_at_the_same_time_are_two_points(healthy: Any) -> None:
    # Four points, two of them at 1 s: the minimum of evidence is there.
    probe = [[0.0, 0.0], [1.0, 20_000.0], [1.0, 40_000.0], [2.0, 60_000.0]]
    assert _rule(healthy, probe, _control_rate(1e6)) == "throughput.throttled_plateau"
