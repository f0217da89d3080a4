"""A large simulated store for bench/serve.py, built in minutes instead of the ~40 minutes that
`reachwatch simulate` + `reachwatch ingest` take for ten million observation rows here.

What is real: every measurement row and its observation rows are those of a simulated OONI
web_connectivity measurement (reachwatch.simulate's builder) judged by the real classifier and
turned into rows by ingest's own row builders (`reachwatch.simulate.memory_store`). What is
replicated: a few thousand such templates, one per (platform, outcome) variant, are copied for
every simulated measurement, with its own id, country, network and time. The rows are then
given to `StoreWriter.add_observed` in time order, as ingest gives them, so the batches,
files, partitions, manifest lines and checks are the writer's own. The `facts` and `evidence`
tables are left empty, as in a store written before they were kept: `show` prints rows and
verdicts, and says no bytes are stored.

The distribution: 8 countries with 3 to 5 networks each, 5 platforms, hourly over 2024 with
the simulator's daily rhythm (Poisson counts per network per hour), the simulator's noise
(1 % down, 1 % without control, 2 % leaks, 0.5 % spurious blocking-like failures), and
blocking periods loosely after known events, each with its own techniques per network.
All of it is labelled synthetic (software_name reachwatch-simulate).

Not a benchmark itself: `make bench` runs every bench/*.py, so this module does nothing when
run as a script.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from reachwatch.simulate import PLATFORM_HOSTS, Probe, memory_store, web_connectivity
from reachwatch.simulate._ooni import BLOCKING_OUTCOMES, OUTCOMES, SITES, Site, _test_keys
from reachwatch.store import MEASUREMENTS_COLUMNS, StoreWriter, open_store
from reachwatch.store._writer import OBSERVATION_OWN_COLUMNS, id_hash

YEAR_START = np.datetime64("2024-01-01T00", "h")
HOURS = 366 * 24
SOURCE_FILE = "<simulated by bench/_serve_store.py>"
PARAMS_FILE = "serve-store.json"  # beside the store: what it was built with

# Country: (UTC offset for the daily rhythm, share of measurements, networks by share).
COUNTRIES: dict[str, tuple[float, float, tuple[tuple[str, float], ...]]] = {
    "PK": (5, 0.22, (("AS17557", 0.4), ("AS45669", 0.25), ("AS59257", 0.15), ("AS24499", 0.12),
                     ("AS9541", 0.08))),
    "IR": (3.5, 0.18, (("AS58224", 0.5), ("AS197207", 0.3), ("AS44244", 0.2))),
    "RU": (3, 0.18, (("AS12389", 0.35), ("AS8359", 0.25), ("AS3216", 0.2), ("AS31213", 0.2))),
    "IN": (5.5, 0.12, (("AS55836", 0.5), ("AS24560", 0.3), ("AS45609", 0.2))),
    "BR": (-3, 0.10, (("AS28573", 0.4), ("AS18881", 0.35), ("AS26599", 0.25))),
    "TR": (3, 0.08, (("AS9121", 0.5), ("AS16135", 0.3), ("AS15897", 0.2))),
    "US": (-5, 0.07, (("AS7922", 0.4), ("AS701", 0.3), ("AS7018", 0.3))),
    "DE": (1, 0.05, (("AS3320", 0.5), ("AS3209", 0.3), ("AS6805", 0.2))),
}  # fmt: skip
PLATFORMS: dict[str, float] = {
    "x": 0.35, "youtube": 0.2, "wikipedia": 0.2, "facebook": 0.15, "telegram": 0.1,
}  # fmt: skip

# Hosts the simulator does not serve, built the way it builds its own (addresses are data).
EXTRA_SITES: dict[str, tuple[tuple[Site, float], ...]] = {
    "youtube": (
        (Site("www.youtube.com", "YouTube", ("142.250.181.238",), 15169,
              ipv6=("2a00:1450:4001:82b::200e",)), 0.7),
        (Site("i.ytimg.com", "", ("142.250.185.86",), 15169), 0.3),
    ),
    "facebook": (
        (Site("www.facebook.com", "Facebook", ("157.240.0.35",), 32934,
              ipv6=("2a03:2880:f10c:83:face:b00c:0:25de",)), 0.8),
        (Site("static.xx.fbcdn.net", "", ("157.240.0.19",), 32934), 0.2),
    ),
    "telegram": (
        (Site("web.telegram.org", "Telegram Web", ("149.154.167.99",), 62041), 0.7),
        (Site("t.me", "Telegram", ("149.154.167.99",), 62041), 0.3),
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Blocking:
    """A blocking period: the countries' networks (all when empty) block the platform with the
    technique given per network (cycled), hitting `share` of measurements."""

    cc: str
    platform: str
    start: str
    end: str  # exclusive; "2025-01-01": still blocked when the year ends
    techniques: tuple[str, ...]
    share: float = 1.0
    networks: tuple[str, ...] = ()


BLOCKINGS = (
    # X in Pakistan from 2024-02-17, still blocked at the year's end.
    Blocking("PK", "x", "2024-02-17T10", "2025-01-01T00", ("tls.reset", "dns.nxdomain",
             "tls.reset", "tcp.timeout", "tls.reset")),
    # Long-standing blocks in Iran and Russia.
    Blocking("IR", "x", "2024-01-01T00", "2025-01-01T00", ("dns.bogon", "tls.reset", "tls.reset")),
    Blocking("IR", "youtube", "2024-01-01T00", "2025-01-01T00", ("dns.bogon", "tls.reset",
             "tls.timeout")),
    Blocking("IR", "facebook", "2024-01-01T00", "2025-01-01T00", ("dns.bogon", "tls.reset",
             "tls.reset")),
    Blocking("IR", "telegram", "2024-01-01T00", "2025-01-01T00", ("tls.reset",)),
    Blocking("RU", "x", "2024-01-01T00", "2025-01-01T00", ("tls.reset", "tcp.reset",
             "tls.reset", "tls.timeout")),
    Blocking("RU", "facebook", "2024-01-01T00", "2025-01-01T00", ("tls.reset", "tcp.reset")),
    # Throttling that shows as partial timeouts.
    Blocking("RU", "youtube", "2024-08-01T00", "2025-01-01T00", ("tls.timeout",), share=0.6),
    # X suspended in Brazil by court order.
    Blocking("BR", "x", "2024-08-31T03", "2024-10-08T20", ("dns.nxdomain", "tcp.reset",
             "dns.nxdomain")),
    # A short block in Turkey, a partial one on one Indian network.
    Blocking("TR", "x", "2024-03-10T08", "2024-03-12T14", ("dns.nxdomain",)),
    Blocking("IN", "x", "2024-06-01T00", "2024-06-20T00", ("dns.nxdomain",), share=0.5,
             networks=("AS55836",)),
)  # fmt: skip

# The simulator's noise (reachwatch.simulate.Noise defaults).
NO_CONTROL, DOWN, LEAK, SPURIOUS = 0.01, 0.01, 0.02, 0.005
VARIANTS = 24  # templates per (platform, outcome): hosts and probes (IPv6 or not, CDN answers)


@dataclass(frozen=True, slots=True)
class Built:
    db: Path
    measurements: int
    observations: int
    batches: int
    seconds: float  # 0.0 when the cached store was reused
    reused: bool


def generator_digest() -> str:
    """Changes whenever this module does, so a cached store built by other code is rebuilt."""
    return hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]


def ensure_store(
    out: Path, observations: int, *, seed: int = 1, record_name: str = PARAMS_FILE
) -> Built:
    """The store under `out`, reused when it was built with the same parameters and this same
    generator, else (re)built. Only a folder this module built is ever removed. `record_name`:
    the file beside the store saying how it was built (one per store, so two benchmarks can
    keep stores of different sizes side by side)."""
    params = {"observations": observations, "seed": seed, "generator": generator_digest()}
    record = out.parent / record_name
    if out.exists():
        recorded = json.loads(record.read_text()) if record.exists() else None
        if recorded is None:
            raise SystemExit(f"{out}: exists and was not built by this generator; choose --out")
        if recorded.get("params") == params and recorded.get("complete"):
            open_store(out, read_only=True).close()
            return Built(out, recorded["measurements"], recorded["observations"],
                         recorded["batches"], 0.0, True)  # fmt: skip
        shutil.rmtree(out)  # ours (the record says so), built with other parameters
    out.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"params": params, "complete": False}))
    started = time.perf_counter()
    measurements, observation_rows, batches = build_store(out, observations, seed=seed)
    seconds = time.perf_counter() - started
    record.write_text(json.dumps({
        "params": params, "complete": True, "measurements": measurements,
        "observations": observation_rows, "batches": batches, "seconds": round(seconds, 1),
    }))  # fmt: skip
    return Built(out, measurements, observation_rows, batches, seconds, False)


# -- templates ------------------------------------------------------------------------------
def _hosts(platform: str) -> tuple[list[Site], list[float]]:
    if platform in EXTRA_SITES:
        sites, weights = zip(*EXTRA_SITES[platform], strict=True)
        return list(sites), list(weights)
    hosts, weights = zip(*PLATFORM_HOSTS[platform], strict=True)
    return [SITES[h] for h in hosts], list(weights)


def _template(rng: random.Random, site: Site, outcome: str) -> dict[str, Any]:
    """One simulated web_connectivity measurement of `site` showing `outcome`."""
    probe = Probe(cc="PK", asn="AS17557", ipv6=rng.random() >= 0.4, cdn_answer=rng.random() < 0.5)
    when = datetime(2024, 1, 1, 12)
    if site.host in SITES:
        return web_connectivity(rng, probe, site.host, when, outcome)
    # The simulator's envelope, with test keys built by its own builder for this host.
    measurement = web_connectivity(rng, probe, "x.com", when, outcome)
    url = f"https://{site.host}/"
    measurement["input"] = url
    measurement["test_keys"] = _test_keys(rng, probe, site, url, outcome)
    return measurement


@dataclass(frozen=True, slots=True)
class Templates:
    measurements: pa.Table  # one row per template, the store's measurement columns
    observations: pa.Table  # their observation rows, grouped by template in order
    first: np.ndarray[Any, np.dtype[np.int64]]  # each template's first observation row
    count: np.ndarray[Any, np.dtype[np.int64]]  # and how many it has


def make_templates(seed: int) -> Templates:
    """VARIANTS templates per (platform, outcome), in PLATFORMS x OUTCOMES order, judged by the
    real classifier into rows by ingest's own builders."""
    rng = random.Random(seed)
    records = []
    for platform in PLATFORMS:
        sites, weights = _hosts(platform)
        for outcome in OUTCOMES:
            for _ in range(VARIANTS):
                site = rng.choices(sites, weights)[0]
                records.append(_template(rng, site, outcome))
    con = memory_store(records)
    ids = [r["measurement_uid"] for r in records]
    m = con.sql(
        "SELECT m.* FROM measurements m JOIN (SELECT unnest($1) AS id, "
        "generate_subscripts($1, 1) AS k) o ON o.id = m.measurement_id ORDER BY o.k",
        params=[ids],
    ).to_arrow_table()
    if m.num_rows != len(records):
        raise RuntimeError(f"{len(records) - m.num_rows} templates were not stored")
    # In each measurement's own order (rowid: the order memory_store inserted them).
    o = con.sql(
        "SELECT ob.* FROM observations ob JOIN (SELECT unnest($1) AS id, "
        "generate_subscripts($1, 1) AS k) o ON o.id = ob.measurement_id ORDER BY o.k, ob.rowid",
        params=[ids],
    ).to_arrow_table()
    counts = dict(
        con.execute("SELECT measurement_id, count(*) FROM observations GROUP BY 1").fetchall()
    )
    count = np.array([counts.get(i, 0) for i in ids], dtype=np.int64)
    first = np.zeros(len(ids), dtype=np.int64)
    first[1:] = np.cumsum(count)[:-1]
    bad = set(m.column("platform").to_pylist()) - set(PLATFORMS)
    if bad:
        raise RuntimeError(f"templates of hosts outside the chosen platforms: {bad}")
    return Templates(m, o, first, count)


# -- the simulated year ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Year:
    """Every simulated measurement, in time order: when, where, and which template it copies."""

    micros: np.ndarray[Any, np.dtype[np.int64]]  # microseconds since the epoch
    cc: np.ndarray[Any, np.dtype[np.int64]]  # index into COUNTRIES
    asn: list[str]
    template: np.ndarray[Any, np.dtype[np.int64]]


def _series() -> list[tuple[int, str, str, float, float]]:
    """(country index, network, platform, rate share, UTC offset) per series."""
    out = []
    for i, (offset, share, nets) in enumerate(COUNTRIES.values()):
        for asn, net_share in nets:
            for platform, p_share in PLATFORMS.items():
                out.append((i, asn, platform, share * net_share * p_share, offset))
    return out


def simulate_year(templates: Templates, observations: int, seed: int) -> Year:
    """About `observations` observation rows: the measurements' count is estimated from the
    templates' mean, then corrected once by what the first draw gave."""
    per_outcome = templates.count.reshape(len(PLATFORMS), len(OUTCOMES), VARIANTS).mean(axis=2)
    total = observations / float(np.dot(list(PLATFORMS.values()), per_outcome[:, 0]))
    first = _draw(total, seed)
    rows = int(templates.count[first.template].sum())
    return _draw(total * observations / rows, seed)


def _draw(total: float, seed: int) -> Year:
    """About `total` measurements over the year."""
    rng = np.random.default_rng(seed)
    series = _series()
    hours = np.arange(HOURS)
    shares = np.array([s[3] for s in series])
    offsets = np.array([s[4] for s in series])
    # The simulator's daily rhythm (reachwatch.simulate._generate.rhythm): most in the evening.
    local = (hours[None, :] + offsets[:, None]) % 24
    rate = (total / HOURS) * shares[:, None] * (1 + 0.6 * np.cos(2 * np.pi * (local - 20) / 24))
    counts = rng.poisson(rate)
    s_idx, h_idx = np.nonzero(counts)
    n = counts[s_idx, h_idx]
    s_of = np.repeat(s_idx, n)
    hour_of = np.repeat(h_idx, n)
    base = YEAR_START.astype("datetime64[us]").astype(np.int64)
    micros = base + hour_of * 3_600_000_000 + rng.integers(0, 3_600_000_000, len(s_of))
    order = np.argsort(micros, kind="stable")
    micros, s_of = micros[order], s_of[order]
    cc = np.array([s[0] for s in series])[s_of]
    asn_names = [s[1] for s in series]
    platform_of = np.array([list(PLATFORMS).index(s[2]) for s in series])[s_of]
    outcome = _outcomes(rng, series, s_of, micros)
    variant = rng.integers(0, VARIANTS, len(s_of))
    template = (platform_of * len(OUTCOMES) + outcome) * VARIANTS + variant
    return Year(micros, cc, [asn_names[s] for s in s_of], template)


def _outcomes(
    rng: np.random.Generator,
    series: Sequence[tuple[int, str, str, float, float]],
    s_of: np.ndarray[Any, np.dtype[np.int64]],
    micros: np.ndarray[Any, np.dtype[np.int64]],
) -> np.ndarray[Any, np.dtype[np.int64]]:
    """Each measurement's outcome (index into OUTCOMES), drawn as the simulator draws it."""
    n = len(s_of)
    ccs = list(COUNTRIES)
    blocked = np.full(n, -1, dtype=np.int64)  # technique's outcome index while blocked
    share = np.ones(n)
    for b in BLOCKINGS:
        nets = [a for a, _ in COUNTRIES[b.cc][2]] if not b.networks else list(b.networks)
        start = np.datetime64(b.start, "us").astype(np.int64)
        end = np.datetime64(b.end, "us").astype(np.int64)
        during = (micros >= start) & (micros < end)
        for k, net in enumerate(nets):
            chosen = [
                j for j, s in enumerate(series)
                if ccs[s[0]] == b.cc and s[1] == net and s[2] == b.platform
            ]  # fmt: skip
            mask = during & np.isin(s_of, chosen)
            blocked[mask] = OUTCOMES.index(b.techniques[k % len(b.techniques)])
            share[mask] = b.share
    r = rng.random(n)
    hit = (blocked >= 0) & (rng.random(n) < share) & (rng.random(n) >= LEAK)
    spurious = rng.random(n) < SPURIOUS
    random_block = np.array([OUTCOMES.index(o) for o in BLOCKING_OUTCOMES])[
        rng.integers(0, len(BLOCKING_OUTCOMES), n)
    ]
    out = np.zeros(n, dtype=np.int64)  # accessible
    out = np.where(spurious, random_block, out)
    out = np.where(hit, blocked, out)
    out = np.where(r < NO_CONTROL + DOWN, OUTCOMES.index("down"), out)
    return np.where(r < NO_CONTROL, OUTCOMES.index("no_control"), out)


# -- writing --------------------------------------------------------------------------------
def _ids(rng: np.random.Generator, micros: np.ndarray[Any, Any], ccs: list[str]) -> list[str]:
    """measurement_uid-style ids, as the simulator spells them."""
    stamps = np.datetime_as_string(micros.astype("datetime64[us]"), unit="us")
    keys = rng.integers(0, 2**63, len(micros), dtype=np.int64)
    return [
        f"{s[0:4]}{s[5:7]}{s[8:10]}{s[11:13]}{s[14:16]}{s[17:19]}.{s[20:26]}_{c}"
        f"_webconnectivity_{k:016x}"
        for s, c, k in zip(stamps.tolist(), ccs, keys.tolist(), strict=True)
    ]


def build_store(db: Path, observations: int, *, seed: int) -> tuple[int, int, int]:
    """Build the store at `db` (a new folder); (measurements, observation rows, batches).

    Rows go through `StoreWriter.add_observed`, as ingest gives them, in time order: the
    writer batches (200,000 rows), partitions and commits them itself."""
    templates = make_templates(seed)
    year = simulate_year(templates, observations, seed)
    rng = np.random.default_rng(seed + 1)
    ccs = list(COUNTRIES)
    cc_names = [ccs[i] for i in year.cc.tolist()]
    ids = _ids(rng, year.micros, cc_names)
    # Per template: its measurement columns (the fresh ones set below) and its observation
    # rows' own columns, as ingest's row builders made them.
    rows = templates.measurements.to_pylist()
    own = templates.observations.select(list(OBSERVATION_OWN_COLUMNS)).to_pylist()
    observed = [
        [tuple(r.values()) for r in own[f : f + c]]
        for f, c in zip(templates.first.tolist(), templates.count.tolist(), strict=True)
    ]
    copied = [tuple(r[name] for name in MEASUREMENTS_COLUMNS) for r in rows]
    fresh = {name: i for i, name in enumerate(MEASUREMENTS_COLUMNS)}
    starts = year.micros.astype("datetime64[us]").astype(datetime).tolist()
    count = 0
    with StoreWriter(db) as writer:
        for k, (mid, cc, asn, start, t) in enumerate(
            zip(ids, cc_names, year.asn, starts, year.template.tolist(), strict=True)
        ):
            row = list(copied[t])
            row[fresh["measurement_id"]] = mid
            row[fresh["probe_cc"]] = cc
            row[fresh["probe_asn"]] = asn
            row[fresh["measurement_start_time"]] = start
            row[fresh["date"]] = start.date()
            row[fresh["source_file"]] = SOURCE_FILE
            row[fresh["source_line"]] = k + 1
            writer.add_observed(id_hash(mid), start.date().isoformat(), cc, tuple(row), observed[t])
            count += len(observed[t])
        writer.commit()
        batches = writer.committed_batches
    return len(ids), count, batches


if __name__ == "__main__":
    print(__doc__.splitlines()[0] if __doc__ else "")
