"""Play a scenario: measurements per network per hour with a daily rhythm and noise, written
as an OONI-style corpus (gzipped JSON lines, one file per upload day) with a ground-truth file."""

from __future__ import annotations

import gzip
import math
import random
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from reachwatch.simulate._errors import SimulationError
from reachwatch.simulate._ooni import BLOCKING_OUTCOMES, Probe, web_connectivity
from reachwatch.simulate._scenario import PLATFORM_HOSTS, Scenario

HOUR = timedelta(hours=1)
TRUTH_FILE = "ground-truth.json"
CORPUS_DIR = "raw"


@dataclass(frozen=True, slots=True)
class Simulated:
    measurement: dict[str, Any]
    measured: datetime
    uploaded: datetime
    platform: str
    outcome: str


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact, and cheap for the small means of one hour."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def rhythm(t: datetime, utc_offset_hours: float) -> float:
    """Relative activity at t: people run probes in the evening, least in the morning.
    Averages 1 over a day."""
    local = (t.hour + t.minute / 60 + utc_offset_hours) % 24
    return 1.0 + 0.6 * math.cos(2 * math.pi * (local - 20.0) / 24)


def _outcome(
    rng: random.Random, scenario: Scenario, network: str, platform: str, t: datetime
) -> str:
    noise = scenario.noise
    block = scenario.block_at(network, t) if platform == scenario.platform else None
    if platform == scenario.platform and scenario.down(network, t):
        return "down"
    r = rng.random()
    if r < noise.no_control:
        return "no_control"
    if r < noise.no_control + noise.down:
        return "down"
    # A whole block draws nothing for its share, so whole-block corpora keep their bytes.
    hit = block is not None and (block.share >= 1.0 or rng.random() < block.share)
    if block is not None and hit and rng.random() >= noise.leak:
        return block.technique
    if rng.random() < noise.spurious:
        return rng.choice(BLOCKING_OUTCOMES)
    return "accessible"


def _times(
    rng: random.Random, scenario: Scenario, network: str, platform: str, rate: float, t: datetime
) -> list[tuple[datetime, bool]]:
    """The times measured in the hour from t, in order, each True when it is one of the
    scenario's set failures."""
    if platform == scenario.platform:
        rate = scenario.rates.get(network, rate)
    count = _poisson(rng, rate * rhythm(t, scenario.utc_offset_hours))
    times = [(t + timedelta(seconds=rng.randrange(3600)), False) for _ in range(count)]
    if platform == scenario.platform:
        times += [(f, True) for n, f in scenario.failures if n == network and t <= f < t + HOUR]
    return sorted(times)


def generate(scenario: Scenario, seed: int) -> Iterator[Simulated]:
    """Every measurement of the scenario, in order of measurement time per hour. The same
    scenario and seed give the same measurements, byte for byte."""
    rng = random.Random(seed)
    platforms = {scenario.platform: scenario.rate, **scenario.other_platforms}
    # Each measurement comes from a probe drawn at random: with or without IPv6, behind a
    # resolver that gives CDN answers or not.
    t = scenario.start
    while t < scenario.end:
        for network in scenario.networks:
            if scenario.vanished(network, t):
                continue
            for platform, rate in platforms.items():
                hosts, weights = zip(*PLATFORM_HOSTS[platform], strict=True)
                for when, forced in _times(rng, scenario, network, platform, rate, t):
                    host = rng.choices(hosts, weights)[0]
                    probe = Probe(
                        cc=scenario.cc,
                        asn=network,
                        ipv6=rng.random() >= scenario.noise.no_ipv6,
                        cdn_answer=rng.random() < scenario.noise.cdn_answers,
                    )
                    outcome = (
                        rng.choice(BLOCKING_OUTCOMES)
                        if forced
                        else _outcome(rng, scenario, network, platform, when)
                    )
                    measurement = web_connectivity(rng, probe, host, when, outcome)
                    delay = timedelta(minutes=rng.uniform(1, 20))
                    if rng.random() < scenario.noise.late_upload:
                        delay = timedelta(hours=rng.uniform(*scenario.noise.late_hours))
                    yield Simulated(measurement, when, when + delay, platform, outcome)
        t += HOUR


@dataclass(frozen=True, slots=True)
class CorpusSummary:
    out: Path
    corpus: Path
    truth: Path
    files: int
    measurements: int
    late_uploads: int


def _truth(scenario: Scenario, seed: int, counts: dict[str, int]) -> dict[str, Any]:
    def spell(s: Any) -> dict[str, Any]:
        return {
            "start": s.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": s.end.strftime("%Y-%m-%dT%H:%M:%SZ") if s.end else None,
            "networks": list(s.networks) or "all",
        }

    return {
        "synthetic": True,
        "generator": "reachwatch-simulate",
        "case": scenario.case_id,
        "seed": seed,
        "cc": scenario.cc,
        "platform": scenario.platform,
        "window": {
            "start": scenario.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": scenario.end.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "measurements_per_network_hour": scenario.rate,
        "networks": {
            n: {"blocks": [b.to_json() for b in scenario.blocks.get(n, [])]}
            for n in scenario.networks
        },
        "outages": [spell(s) for s in scenario.outages],
        "vanished": [spell(s) for s in scenario.vanish],
        "failures": [
            {"network": n, "at": f.strftime("%Y-%m-%dT%H:%M:%SZ")} for n, f in scenario.failures
        ],
        "noise": {
            k: getattr(scenario.noise, k)
            for k in (
                "no_ipv6",
                "cdn_answers",
                "down",
                "no_control",
                "leak",
                "spurious",
                "late_upload",
            )
        },
        "counts": counts,
        "note": "end null: still blocked when the simulated window ends",
    }


MIN_SEED = -(2**63)
MAX_SEED = 2**63 - 1


def write_corpus(scenario: Scenario, out: Path, *, seed: int) -> CorpusSummary:
    """Write the scenario's measurements under out/raw/<upload day>/<cc>/webconnectivity/ and
    the ground truth to out/ground-truth.json."""
    if not MIN_SEED <= seed <= MAX_SEED:
        # The seed is written into the ground truth as a JSON integer (64 bits at most).
        raise SimulationError(f"seed {seed} is out of range ({MIN_SEED} to {MAX_SEED})")
    corpus = out / CORPUS_DIR
    if corpus.is_dir() and any(corpus.iterdir()):
        # Mixing two runs' files would make a corpus no seed reproduces.
        raise SimulationError(f"{corpus}: already holds a corpus; choose an empty --out folder")
    try:
        corpus.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimulationError(f"{out}: cannot create output folder ({exc.strerror})") from None
    try:
        return _write(scenario, out, corpus, seed)
    except BaseException:
        # Half a corpus would block the re-run; the folder was empty, so all of it is ours
        # (the ground truth is written last: a failed run never wrote one).
        shutil.rmtree(corpus, ignore_errors=True)
        raise


def _write(scenario: Scenario, out: Path, corpus: Path, seed: int) -> CorpusSummary:
    by_day: dict[str, list[bytes]] = {}
    counts: dict[str, int] = {}
    late = total = files = 0
    # Measurements come in time order and none is uploaded later than this after it was
    # measured: an upload day this far behind is complete and goes to disk, so memory holds
    # a few days, not the whole corpus (a simulation may span years).
    horizon = timedelta(hours=scenario.noise.late_hours[1]) + timedelta(days=1)
    try:
        for item in generate(scenario, seed):
            day = item.uploaded.strftime("%Y%m%d")
            by_day.setdefault(day, []).append(orjson.dumps(item.measurement))
            counts[item.outcome] = counts.get(item.outcome, 0) + 1
            total += 1
            late += item.uploaded - item.measured > HOUR
            complete = (item.measured - horizon).strftime("%Y%m%d")
            for done in [d for d in by_day if d < complete]:
                _write_day(corpus, scenario.cc, done, by_day.pop(done))
                files += 1
        for done in sorted(by_day):
            _write_day(corpus, scenario.cc, done, by_day.pop(done))
            files += 1
        truth = out / TRUTH_FILE
        counts["late_uploads"] = late
        truth.write_bytes(orjson.dumps(_truth(scenario, seed, counts), option=orjson.OPT_INDENT_2))
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise SimulationError(f"{out}: cannot write the corpus ({exc.strerror})") from None
    return CorpusSummary(out, corpus, truth, files, total, late)


def _write_day(corpus: Path, cc: str, day: str, lines: list[bytes]) -> None:
    folder = corpus / day / cc / "webconnectivity"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{day}_{cc}_webconnectivity.n0.0.jsonl.gz"
    # mtime=0: the same seed gives the same bytes.
    with (
        (folder / name).open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, compresslevel=5) as fh,
    ):
        fh.write(b"\n".join(lines) + b"\n")
