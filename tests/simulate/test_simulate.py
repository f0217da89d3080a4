"""The simulator: labelled, deterministic, noisy like real data, and judged as intended by the
real classifier."""

from __future__ import annotations

import gzip
import itertools
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from reachwatch.cases import SimulatedSpell, load_case
from reachwatch.classify import classify
from reachwatch.simulate import (
    OUTCOMES,
    Block,
    Probe,
    Scenario,
    SimulationError,
    generate,
    scenario_from_case,
    web_connectivity,
    write_corpus,
)

EXPECTED = {
    "accessible": ("accessible", None),
    "down": ("down", None),
    "no_control": ("inconclusive", None),
    "dns.nxdomain": ("blocked", "dns.nxdomain"),
    "dns.bogon": ("blocked", "dns.bogon"),
    "tcp.timeout": ("blocked", "tcp.timeout"),
    "tcp.reset": ("blocked", "tcp.reset"),
    "tls.reset": ("blocked", "tls.reset"),
    "tls.timeout": ("blocked", "tls.timeout"),
}
HOSTS = ("x.com", "twitter.com", "abs.twimg.com", "pbs.twimg.com", "www.wikipedia.org")


def _small(**kw: Any) -> Scenario:
    return Scenario(
        cc="PK",
        platform="x",
        networks=("AS17557", "AS9541"),
        start=datetime(2024, 2, 17),
        end=datetime(2024, 2, 19),
        rate=5.0,
        blocks={"AS17557": [Block(datetime(2024, 2, 17, 15), None, "tls.reset")]},
        **kw,
    )


@pytest.mark.parametrize("outcome", OUTCOMES)
def test_every_outcome_is_judged_as_intended_by_the_classifier(outcome: str) -> None:
    rng = random.Random(5)
    t = datetime(2024, 2, 17, 15, 30)
    for host, ipv6, cdn in itertools.product(HOSTS, (True, False), (True, False)):
        m = web_connectivity(rng, Probe("PK", "AS17557", ipv6, cdn), host, t, outcome)
        judged = classify(m)
        got = (judged.verdict, judged.technique)
        assert got == EXPECTED[outcome], (host, ipv6, cdn, judged.to_json())


def test_measurements_are_labelled_synthetic() -> None:
    for item in itertools.islice(generate(_small(), seed=1), 200):
        m = item.measurement
        assert m["software_name"] == "reachwatch-simulate"
        assert m["annotations"]["x_synthetic"] == "true"
        assert m["probe_ip"] == "127.0.0.1"


def test_same_seed_same_bytes_other_seed_other_corpus(tmp_path: Path) -> None:
    a = write_corpus(_small(), tmp_path / "a", seed=3)
    b = write_corpus(_small(), tmp_path / "b", seed=3)
    c = write_corpus(_small(), tmp_path / "c", seed=4)

    def files(root: Path) -> dict[str, bytes]:
        return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.gz"))}

    assert files(a.corpus) == files(b.corpus)
    assert files(a.corpus) != files(c.corpus)
    assert a.measurements > 0 and a.truth.read_bytes() == b.truth.read_bytes()


def test_corpus_layout_truth_and_late_uploads(tmp_path: Path) -> None:
    summary = write_corpus(_small(), tmp_path, seed=2)
    truth = orjson.loads(summary.truth.read_bytes())
    assert truth["synthetic"] is True
    assert truth["networks"]["AS17557"]["blocks"] == [
        {"start": "2024-02-17T15:00:00Z", "end": None, "technique": "tls.reset"}
    ]
    assert truth["networks"]["AS9541"]["blocks"] == []
    late = 0
    for path in summary.corpus.rglob("*.jsonl.gz"):
        upload_day = path.parts[-4]
        for line in gzip.decompress(path.read_bytes()).splitlines():
            m = orjson.loads(line)
            measured_day = m["measurement_start_time"][:10].replace("-", "")
            assert measured_day <= upload_day
            late += measured_day < upload_day
    assert late > 0  # some measurements land in a later upload day's file
    assert summary.late_uploads > 0


def test_noise_of_real_data_is_present() -> None:
    scenario = _small(
        outages=(SimulatedSpell(datetime(2024, 2, 18, 3), datetime(2024, 2, 18, 6)),),
        vanish=(SimulatedSpell(datetime(2024, 2, 18, 12), datetime(2024, 2, 18, 20), ("AS9541",)),),
    )
    items = list(generate(scenario, seed=9))
    outcomes = {i.outcome for i in items}
    assert {"accessible", "tls.reset", "down"} <= outcomes
    blocked_net = [
        i.outcome
        for i in items
        if i.platform == "x" and i.measurement["probe_asn"] == "AS17557"
        and i.measured >= datetime(2024, 2, 17, 15) and i.outcome in ("accessible", "tls.reset")
    ]  # fmt: skip
    # A few measurements leak through a block, as in real data; most show it.
    assert 0.9 < blocked_net.count("tls.reset") / len(blocked_net) < 1.0
    assert any(
        c["status"]["failure"] == "network_unreachable"
        for i in items
        for c in i.measurement["test_keys"]["tcp_connect"]
    )
    cdn = [
        i
        for i in items
        if i.measurement["input"].startswith("https://abs.twimg.com")
        and i.measurement["test_keys"]["queries"][0]["answers"]
        and i.measurement["test_keys"]["queries"][0]["answers"][0]["ipv4"].startswith("146.75.")
    ]
    assert cdn  # resolver answers that differ from the control's, genuine CDN addresses
    assert not any(
        i.measurement["probe_asn"] == "AS9541"
        and datetime(2024, 2, 18, 12) <= i.measured < datetime(2024, 2, 18, 20)
        for i in items
    )
    outage = [i for i in items if i.platform == "x" and datetime(2024, 2, 18, 3) <= i.measured
              < datetime(2024, 2, 18, 6)]  # fmt: skip
    assert outage and {i.outcome for i in outage} == {"down"}
    # A daily rhythm: evening hours (local UTC+5) busier than mornings.
    evening = sum(1 for i in items if i.measured.hour in (14, 15, 16))
    morning = sum(1 for i in items if i.measured.hour in (2, 3, 4))
    assert evening > morning


def test_case_scenario_has_the_short_restoration_and_ongoing_end() -> None:
    scenario = scenario_from_case(load_case("pk-x-2024"))
    blocks = scenario.blocks["AS17557"]
    assert blocks[0].start == datetime(2024, 2, 17, 15)
    assert blocks[0].end == datetime(2024, 2, 18, 8)  # access briefly back on 2024-02-18
    assert blocks[1].start == datetime(2024, 2, 18, 15) and blocks[1].end is None
    assert scenario.blocks["AS140499"][0].technique == "dns.nxdomain"
    assert scenario.end == datetime(2024, 5, 16)


def test_refuses_to_mix_two_corpora(tmp_path: Path) -> None:
    write_corpus(_small(), tmp_path, seed=1)
    with pytest.raises(SimulationError, match="already holds a corpus"):
        write_corpus(_small(), tmp_path, seed=2)


def test_memory_store_holds_exactly_what_ingest_stores(tmp_path: Path) -> None:
    """The benchmark's in-memory store and `reachwatch ingest` of the same corpus agree row
    for row (file names and line numbers aside), duplicates and a bad record included."""
    from reachwatch.ingest import ingest
    from reachwatch.simulate import memory_store
    from reachwatch.store import open_store

    scenario = _small()
    measurements = [s.measurement for s in generate(scenario, 7)]
    bad = {"test_name": "web_connectivity", "measurement_start_time": "2024-02-17 10:00:00"}
    records = [*measurements, measurements[0], bad]  # a repeat, and one with no test_keys
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n")
    ingest([corpus], tmp_path / "db")
    stored = open_store(tmp_path / "db", read_only=True)
    memory = memory_store(records)
    for table, order in (
        ("measurements", "measurement_id"),
        ("observations", "measurement_id, host, layer, address, rule"),
    ):
        sql = f"SELECT * EXCLUDE (source_file, source_line) FROM {table} ORDER BY {order}"
        if table == "observations":
            sql = sql.replace(" EXCLUDE (source_file, source_line)", "")
        from_ingest = stored.execute(sql).fetchall()
        assert from_ingest, table
        assert memory.execute(sql).fetchall() == from_ingest, table
    assert memory.execute("SELECT count(*) FROM measurements").fetchone() == (len(measurements),)


def test_memory_store_of_nothing_has_empty_tables() -> None:
    from reachwatch.simulate import memory_store

    con = memory_store([])
    for table in ("measurements", "observations"):
        assert con.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,)
