"""The compliance check against a small real store (DuckDB with the store's columns)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

from reachwatch.cases import check_case, parse_case
from reachwatch.store.schema import MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

CASE = """
id: small
title: A small case
scope: {cc: PK, platform: x, networks: [AS17557, AS9541, AS135407]}
events:
  - {id: letter, date: 2024-02-17, kind: letter, summary: Block X., requires: blocked,
     sources: [A letter]}
  - {id: order, date: 2024-02-22, kind: court_directive, actor: Court, summary: Restore X.,
     requires: accessible, within_days: 7, sources: [A report]}
  - {date: 2024-03-01, kind: platform_statement, summary: Talking., sources: [X]}
  - {date: 2024-03-05, kind: restoration, summary: Back on one network., sources: [A report]}
"""
T0 = datetime(2024, 2, 12)


def _store(verdicts: dict[str, Callable[[datetime], str | None]], days: int = 30) -> Any:
    rows = []
    for network, verdict_at in verdicts.items():
        for h in range(days * 24):
            for k in range(4):
                t = T0 + timedelta(hours=h, minutes=15 * k)
                verdict = verdict_at(t)
                if verdict is None:
                    continue
                rows.append(
                    {
                        "measurement_id": f"{network}-{t:%Y%m%d%H%M}",
                        "source": "reachwatch",
                        "test_name": "web_connectivity",
                        "input": "https://x.com/",
                        "host": "x.com",
                        "platform": "x",
                        "probe_cc": "PK",
                        "probe_asn": network,
                        "measurement_start_time": t,
                        "date": t.date(),
                        "verdict": verdict,
                        "technique": "tls.reset" if verdict == "blocked" else None,
                        "classified": True,
                        "synthetic": True,
                        "source_file": "test",
                        "source_line": 0,
                    }
                )
    con = duckdb.connect(":memory:")
    incoming = pa.table({n: [r.get(n) for r in rows] for n in MEASUREMENTS_COLUMNS})
    con.register("incoming", incoming)
    cols = ", ".join(f"CAST({n} AS {t}) AS {n}" for n, t in MEASUREMENTS_COLUMNS.items())
    con.execute(f"CREATE TABLE measurements AS SELECT {cols} FROM incoming")
    obs = ", ".join(f"{n} {t}" for n, t in OBSERVATIONS_COLUMNS.items())
    con.execute(f"CREATE TABLE observations ({obs})")
    return con


def _between(start: datetime, end: datetime | None) -> Callable[[datetime], str]:
    return lambda t: "blocked" if start <= t and (end is None or t < end) else "accessible"


def test_directives_followed_late_not_followed_and_no_data() -> None:
    start = datetime(2024, 2, 17, 14)
    con = _store(
        {
            # Blocked throughout: the court's order (due 2024-02-29 end of day) ignored.
            "AS17557": _between(start, None),
            # Restored on 2024-03-05 10:00: five days late.
            "AS9541": _between(start, datetime(2024, 3, 5, 10)),
            # Stops reporting on 2024-02-25: nothing known after the deadline.
            "AS135407": lambda t: _between(start, None)(t) if t < datetime(2024, 2, 25) else None,
        }
    )
    check = check_case(parse_case(CASE), con)
    letter, order = check.directives
    by_net = {n.network: n for n in order.networks}
    assert order.due == datetime(2024, 3, 1)
    assert order.status == "not followed"
    stuck = by_net["AS17557"]
    assert stuck.status == "not followed" and stuck.ongoing
    assert stuck.days_past is not None and 11.5 < stuck.days_past <= 12  # data ends 2024-03-13
    assert stuck.evidence and all(e.startswith("AS17557-2024") for e in stuck.evidence)
    assert min(stuck.evidence) >= "AS17557-202403010000"
    late = by_net["AS9541"]
    assert late.status == "followed late" and late.since is not None
    assert abs(late.since - datetime(2024, 3, 5, 10)) <= timedelta(hours=1)
    assert late.days_past is not None and 4 < late.days_past < 5
    assert by_net["AS135407"].status == "no data"
    assert "deadline 2024-02-29" in order.statement
    assert "persisted at least 12 days past it on AS17557" in order.statement

    assert letter.status == "followed"
    for n in letter.networks:
        assert n.status == "followed" and n.since is not None
        assert abs(n.since - start) <= timedelta(hours=1)
    (restoration,) = check.restorations
    assert list(restoration.seen) == ["AS9541"]
    back, _ = restoration.seen["AS9541"]
    assert abs(back - datetime(2024, 3, 5, 10)) <= timedelta(hours=1)
    assert restoration.not_seen == ["AS17557"] and restoration.no_data == ["AS135407"]
    assert "still blocked on AS17557" in restoration.statement
    doc = check.to_json()
    assert doc["restorations"][0]["still_blocked_on"] == ["AS17557"]
    assert [d["id"] for d in doc["directives"]] == ["letter", "order"]
    assert doc["directives"][1]["networks"][0]["days_past_deadline"] is not None


def test_order_followed_in_time() -> None:
    con = _store({"AS17557": _between(datetime(2024, 2, 17, 14), datetime(2024, 2, 26, 9))})
    check = check_case(parse_case(CASE), con)
    order = check.directives[1]
    (net, *others) = order.networks
    assert net.status == "followed" and net.since is not None
    assert abs(net.since - datetime(2024, 2, 26, 9)) <= timedelta(hours=1)
    assert net.evidence  # accessible measurements after the deadline
    assert [o.status for o in others] == ["no data", "no data"]
    assert order.status == "followed"


def test_an_empty_store_is_no_data_everywhere() -> None:
    check = check_case(parse_case(CASE), _store({}))
    assert {d.status for d in check.directives} == {"no data"}
    assert all("no data" in d.statement for d in check.directives)
    # The one-paragraph answer must not read an empty store as "not blocked".
    assert "No blocking" not in check.headline()
    assert "nothing is known" in check.headline()


def test_a_reported_restoration_inside_a_data_gap_is_no_data_not_still_blocked() -> None:
    """Blocked throughout, but no measurement at all from 2024-03-03 to 03-08: the restoration
    reported on 2024-03-05 can be neither confirmed nor denied on that network."""
    gap = (datetime(2024, 3, 3), datetime(2024, 3, 8))
    blocked = _between(datetime(2024, 2, 17, 14), None)
    con = _store({"AS17557": lambda t: None if gap[0] <= t < gap[1] else blocked(t)})
    (restoration,) = check_case(parse_case(CASE), con).restorations
    assert "AS17557" in restoration.no_data and "AS17557" not in restoration.not_seen


def test_access_back_after_a_data_gap_says_the_moment_is_unknown() -> None:
    """Blocked, then silent from 2024-02-27 to 03-04, then accessible: access came back at
    some time in the gap; the check must not state 03-04 as if it had been measured."""
    gap = (datetime(2024, 2, 27), datetime(2024, 3, 4))
    blocked = _between(datetime(2024, 2, 17, 14), gap[0])
    con = _store({"AS17557": lambda t: None if gap[0] <= t < gap[1] else blocked(t)})
    order = check_case(parse_case(CASE), con).directives[1]
    (net, *_) = order.networks
    assert net.status == "followed late" and net.restored_between is not None
    earliest, latest = net.restored_between
    assert earliest < datetime(2024, 2, 27) and latest >= datetime(2024, 3, 4)
    assert "no data from 2024-02-26 23:45" in order.statement
    doc = check_case(parse_case(CASE), con).to_json()
    assert doc["directives"][1]["networks"][0]["restored_between"][1] == "2024-03-04T00:00:00Z"


def test_headline_names_a_network_that_went_quiet_while_blocked() -> None:
    blocked = _between(datetime(2024, 2, 17, 14), None)
    con = _store(
        {
            "AS17557": blocked,
            "AS9541": lambda t: blocked(t) if t < datetime(2024, 3, 1) else None,
        }
    )
    headline = check_case(parse_case(CASE), con).headline()
    assert "still blocked at the end of the data" in headline
    assert "no data from AS9541 since 2024-03-01 00:00" in headline
