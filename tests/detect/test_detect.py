"""Series and incidents from a real DuckDB holding rows of the store's columns."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from reachwatch.detect import DetectParams, detect, load_series

from .conftest import hourly, make_store, measurement

T0 = datetime(2024, 2, 10)


def _noisy(rng: random.Random, blocked: Callable[[datetime], bool]) -> Callable[[datetime], str]:
    def verdict(t: datetime) -> str:
        if rng.random() < 0.02:
            return "down"
        truth = blocked(t)
        flip = rng.random() < 0.02
        return "blocked" if truth != flip else "accessible"

    return verdict


def test_series_roll_hosts_up_to_platform_and_count_every_verdict() -> None:
    t = datetime(2024, 2, 17, 15, 10)
    rows = [
        measurement(t, "blocked", ident="a"),
        {**measurement(t, "accessible", ident="b"), "host": "abs.twimg.com"},
        measurement(t + timedelta(minutes=5), "down", ident="c"),
        measurement(t + timedelta(minutes=7), "inconclusive", ident="d"),
        measurement(t + timedelta(hours=1), "blocked", ident="e"),
    ]
    observations = [
        {
            "measurement_id": mid,
            "probe_cc": "PK",
            "probe_asn": "AS17557",
            "measurement_start_time": t,
            "date": t.date(),
            "platform": "x",
            "host": "x.com",
            "address": address,
            "layer": "tls",
            "verdict": verdict,
        }
        for mid, address, verdict in (
            ("a", "104.244.42.1", "blocked"),
            ("a", "2a04:4e42::159", "inconclusive"),
            ("b", "104.244.42.1", "ok"),
            ("b", "2a04:4e42::159", "inconclusive"),  # no IPv6 here: still ok
        )
    ]
    con = make_store(rows, observations)
    series = {s.key.layer: s for s in load_series(con, layers=("all", "tls"))}
    overall = series["all"]
    assert overall.key.platform == "x" and overall.key.network == "AS17557"
    assert overall.hours.tolist()[0].hour == 15
    assert overall.blocked.tolist() == [1, 1]
    assert overall.accessible.tolist() == [1, 0]
    assert overall.down.tolist() == [1, 0]
    assert overall.inconclusive.tolist() == [1, 0]
    assert overall.volume.tolist() == [4, 1]
    tls = series["tls"]
    assert (tls.blocked.tolist(), tls.accessible.tolist(), tls.inconclusive.tolist()) == (
        [1],
        [1],
        [0],
    )


def _by_network(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["network"]: n for inc in doc["incidents"] for n in inc["networks"]}


def test_one_incident_per_platform_with_network_starts_and_a_restoration() -> None:
    rng = random.Random(7)
    start_a, restored, again = (
        datetime(2024, 2, 17, 15, 20),
        datetime(2024, 2, 18, 8, 0),
        datetime(2024, 2, 18, 15, 0),
    )
    start_b = datetime(2024, 2, 17, 18, 40)
    rows = hourly(
        T0, 24 * 20, _noisy(rng, lambda t: start_a <= t < restored or t >= again)
    ) + hourly(T0, 24 * 20, _noisy(rng, lambda t: t >= start_b), network="AS9541")
    doc = detect(make_store(rows)).to_json()
    assert len(doc["incidents"]) == 1
    incident = doc["incidents"][0]
    assert (incident["cc"], incident["platform"], incident["end"]) == ("PK", "x", None)
    assert incident["status"] == "ongoing at end of data"
    nets = _by_network(doc)
    a, b = nets["AS17557"], nets["AS9541"]
    assert abs(datetime.fromisoformat(a["start"][:-1]) - start_a) <= timedelta(hours=1)
    assert abs(datetime.fromisoformat(b["start"][:-1]) - start_b) <= timedelta(hours=1)
    lo, hi = (datetime.fromisoformat(x[:-1]) for x in a["start_bounds"])
    assert lo <= hi and hi - lo <= timedelta(hours=1)
    assert a["intermittent"] and not b["intermittent"]
    clear = [p for p in a["periods"] if p["state"] == "clear"]
    assert len(clear) == 1
    assert abs(datetime.fromisoformat(clear[0]["start"][:-1]) - restored) <= timedelta(hours=1)
    assert abs(datetime.fromisoformat(clear[0]["end"][:-1]) - again) <= timedelta(hours=1)
    assert a["techniques"] == ["tls.reset"]
    alerts = [(x["network"], x["kind"]) for x in doc["alerts"]]
    assert alerts.count(("AS17557", "start")) == 2 and alerts.count(("AS17557", "end")) == 1
    assert alerts.count(("AS9541", "start")) == 1
    assert 0 < len(incident["evidence"]) <= 50
    assert incident["start"] == a["start"]


def test_an_ended_block_has_an_end_with_bounds() -> None:
    rng = random.Random(3)
    start, end = datetime(2024, 2, 12, 6, 30), datetime(2024, 2, 13, 2, 10)
    rows = hourly(T0, 24 * 8, _noisy(rng, lambda t: start <= t < end))
    doc = detect(make_store(rows)).to_json()
    (incident,) = doc["incidents"]
    assert incident["status"] == "ended"
    found = datetime.fromisoformat(incident["end"][:-1])
    assert abs(found - end) <= timedelta(hours=1)
    assert incident["end_bounds"][0] <= incident["end"] <= incident["end_bounds"][1]


def test_a_gap_is_a_gap_not_an_end_of_blocking() -> None:
    """Blocked, then no data for three days, then blocked again: one spell, with the gap shown,
    and the volume collapse reported."""
    start = datetime(2024, 2, 17, 12)
    silent = (datetime(2024, 2, 20), datetime(2024, 2, 23))

    def verdict(t: datetime) -> str | None:
        if silent[0] <= t < silent[1]:
            return None
        return "blocked" if t >= start else "accessible"

    doc = detect(make_store(hourly(T0, 24 * 20, verdict))).to_json()
    (incident,) = doc["incidents"]
    (net,) = incident["networks"]
    assert net["end"] is None and [p["state"] for p in net["periods"]] == ["blocked"]
    assert net["gaps"] == [{"start": "2024-02-20T00:00:00Z", "end": "2024-02-23T00:00:00Z"}]
    (collapse,) = doc["volume_collapses"]
    assert (collapse["network"], collapse["start"], collapse["end"]) == (
        "AS17557",
        "2024-02-20T00:00:00Z",
        "2024-02-23T00:00:00Z",
    )
    assert collapse["observed_per_day"] == 0


def test_data_that_stops_while_blocked_is_ongoing_not_ended() -> None:
    start = datetime(2024, 2, 15, 9)
    rows = hourly(T0, 24 * 10, lambda t: "blocked" if t >= start else "accessible")
    # Another network keeps reporting: the store's data runs on past the silent one.
    rows += hourly(T0, 24 * 20, lambda t: "accessible", network="AS9541")
    doc = detect(make_store(rows)).to_json()
    (incident,) = doc["incidents"]
    (net,) = incident["networks"]
    assert net["end"] is None and net["status"] == "ongoing at end of data"
    assert net["last_data"] == "2024-02-20T00:00:00Z"
    assert net["gaps"][-1]["end"] is None  # no data since, shown as an open gap
    assert any(c["network"] == "AS17557" and c["end"] is None for c in doc["volume_collapses"])


def test_quiet_series_give_no_incident() -> None:
    rng = random.Random(11)
    rows = hourly(T0, 24 * 30, _noisy(rng, lambda t: False))
    doc = detect(make_store(rows)).to_json()
    assert doc["incidents"] == [] and doc["volume_collapses"] == []
    # Simulated rows without any incident are still labelled synthetic.
    assert doc["data"]["synthetic"] is True


def test_filters_by_country_and_platform() -> None:
    start = datetime(2024, 2, 12)
    rows = hourly(T0, 24 * 6, lambda t: "blocked" if t >= start else "accessible")
    rows += hourly(
        T0, 24 * 6, lambda t: "blocked" if t >= start else "accessible", platform="youtube"
    )
    con = make_store(rows)
    assert {i["platform"] for i in detect(con).to_json()["incidents"]} == {"x", "youtube"}
    assert [i["platform"] for i in detect(con, platform="x").to_json()["incidents"]] == ["x"]
    assert detect(con, cc="IR").to_json()["incidents"] == []


def test_blocked_from_the_first_measurement_has_an_open_start_bound() -> None:
    rows = hourly(T0, 24 * 5, lambda t: "blocked")
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    (net,) = incident["networks"]
    assert net["start_bounds"] is None  # the start was never observed
    assert incident["start_bounds"][0] is None
    assert incident["start"] == "2024-02-10T00:00:00Z"


def test_partial_blocking_is_reported_as_partial() -> None:
    rng = random.Random(5)
    start = datetime(2024, 2, 14)

    def verdict(t: datetime) -> str:
        if t < start:
            return "accessible"
        return "blocked" if rng.random() < 0.45 else "accessible"

    (incident,) = detect(make_store(hourly(T0, 24 * 10, verdict))).to_json()["incidents"]
    (net,) = incident["networks"]
    assert [p["state"] for p in net["periods"]] == ["partial"]
    assert 0.35 < net["periods"][0]["blocked_share"] < 0.55
    assert net["intermittent"]


def test_a_noisy_network_neither_makes_incidents_nor_keeps_paging() -> None:
    """12% of measurements blocked at random, all month: the offline detector sees one clear
    period, and the online one, calibrated on it, stays nearly silent."""
    rng = random.Random(2)
    rows = hourly(T0, 24 * 30, lambda t: "blocked" if rng.random() < 0.12 else "accessible")
    doc = detect(make_store(rows)).to_json()
    assert doc["incidents"] == []
    assert sum(a["kind"] == "start" for a in doc["alerts"]) <= 1


def test_a_series_without_decisive_data_is_one_open_gap() -> None:
    """Only inconclusive measurements (no control, no network): nothing is known, which must
    show as a gap, never as a series without blocking."""
    rows = hourly(T0, 72, lambda t: "inconclusive")
    doc = detect(make_store(rows)).to_json()
    assert doc["incidents"] == []
    (gap,) = doc["gaps"]
    assert gap["start"] == "2024-02-10T00:00:00Z" and gap["end"] is None
    assert gap["hours"] == 72.0


def test_inconclusive_before_the_first_decisive_measurement_is_a_gap() -> None:
    clear_from = T0 + timedelta(days=2)
    rows = hourly(T0, 24 * 5, lambda t: "accessible" if t >= clear_from else "inconclusive")
    (gap,) = detect(make_store(rows)).to_json()["gaps"]
    assert (gap["start"], gap["end"]) == ("2024-02-10T00:00:00Z", "2024-02-12T00:00:00Z")


def test_a_short_last_day_is_not_a_volume_collapse() -> None:
    rows = hourly(T0, 24 * 10 + 3, lambda t: "accessible")  # data ends at 03:00
    assert detect(make_store(rows)).to_json()["volume_collapses"] == []
    # ...while a network that really goes quiet on the last day still is one.
    rows += hourly(T0, 24 * 9 + 1, lambda t: "accessible", network="AS9541")  # quiet 02-19 01:00
    collapses = detect(make_store(rows)).to_json()["volume_collapses"]
    assert [(c["network"], c["start"], c["end"]) for c in collapses] == [
        ("AS9541", "2024-02-19T00:00:00Z", None)
    ]


def test_a_single_blocked_measurement_is_no_incident_and_no_alert() -> None:
    spike = T0 + timedelta(hours=30)
    rows = hourly(T0, 72, lambda t: "blocked" if t == spike else "accessible")
    doc = detect(make_store(rows)).to_json()
    assert doc["incidents"] == [] and doc["alerts"] == []


def test_a_block_in_the_last_hours_is_ongoing_with_an_alert() -> None:
    start = T0 + timedelta(hours=69)
    rows = hourly(T0, 72, lambda t: "blocked" if t >= start else "accessible")
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    (net,) = incident["networks"]
    assert net["start"] == "2024-02-12T21:00:00Z" and net["end"] is None
    assert net["alert"] == "2024-02-12T22:00:00Z"


def test_a_block_on_one_network_names_only_that_network() -> None:
    start = T0 + timedelta(hours=30)
    rows = hourly(T0, 72, lambda t: "blocked" if t >= start else "accessible")
    rows += hourly(T0, 72, lambda t: "accessible", network="AS9541")
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    assert [n["network"] for n in incident["networks"]] == ["AS17557"]


def test_row_order_in_the_store_does_not_matter() -> None:
    start, end = T0 + timedelta(hours=30), T0 + timedelta(hours=40)
    rows = hourly(T0, 72, lambda t: "blocked" if start <= t < end else "accessible")
    shuffled = rows[:]
    random.Random(3).shuffle(shuffled)
    assert detect(make_store(shuffled)).to_json() == detect(make_store(rows)).to_json()


def _block_with_hole(hole: tuple[datetime, datetime], per_hour_in_hole: int) -> list[Any]:
    """Blocked from day 2 to the end (5 measurements an hour, one in 25 leaking through),
    with access back in `hole`, measured there `per_hour_in_hole` times an hour (a night:
    few probes)."""
    start = T0 + timedelta(days=2)
    rows = []
    leaks = itertools.count()
    for h in range(24 * 8):
        t0 = T0 + timedelta(hours=h)
        inside = hole[0] <= t0 < hole[1]
        per_hour = per_hour_in_hole if inside else 5
        for k in range(per_hour):
            t = t0 + timedelta(minutes=k * 60 // per_hour)
            leak = t >= start and not inside and next(leaks) % 25 == 0
            verdict = "accessible" if t < start or inside or leak else "blocked"
            rows.append(measurement(t, verdict))
    return rows


def test_a_short_night_restoration_inside_a_block_is_reported() -> None:
    """Four hours of access at two measurements an hour: too few for hourly change points,
    unmistakable measurement by measurement."""
    hole = (T0 + timedelta(days=5, hours=2), T0 + timedelta(days=5, hours=6))
    con = make_store(_block_with_hole(hole, per_hour_in_hole=2))
    (incident,) = detect(con).to_json()["incidents"]
    (net,) = incident["networks"]
    clear = [p for p in net["periods"] if p["state"] == "clear"]
    assert [(p["start"], p["end"]) for p in clear] == [
        ("2024-02-15T02:00:00Z", "2024-02-15T06:00:00Z")
    ]
    # Without the measurement-level look (hourly change points alone) it goes unseen.
    blind = DetectParams(restoration_run=10**6)
    (incident,) = detect(con, params=blind).to_json()["incidents"]
    assert [p["state"] for p in incident["networks"][0]["periods"]] == ["blocked"]


def test_one_probe_burst_of_access_inside_a_block_is_no_restoration() -> None:
    """Eight accessible measurements within ten minutes (one probe on a VPN testing its
    list) are not access coming back."""
    rows = hourly(T0, 24 * 8, lambda t: "blocked" if t >= T0 + timedelta(days=2) else "accessible")
    burst = T0 + timedelta(days=5, hours=3, minutes=20)
    rows += [measurement(burst + timedelta(minutes=k), "accessible") for k in range(8)]
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    assert "clear" not in [p["state"] for p in incident["networks"][0]["periods"]]


def test_a_leaky_block_does_not_break_into_false_restorations() -> None:
    """A block that lets one measurement in four through for a week has runs of accessible
    measurements by chance; they are not restorations."""
    rng = random.Random(8)
    start = T0 + timedelta(days=2)
    rows = hourly(
        T0,
        24 * 9,
        lambda t: "accessible" if t < start or rng.random() < 0.25 else "blocked",
    )
    (incident,) = detect(make_store(rows)).to_json()["incidents"]
    states = [p["state"] for p in incident["networks"][0]["periods"]]
    assert "clear" not in states
