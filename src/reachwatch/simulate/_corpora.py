"""Scenarios with known truth for the classes of change that detection finds hardest, drawn
at random per seed: partial blocking, short blocks, a lone failure next to a change, and sparse
data. Every one carries background blocking-like failures on 3% of measurements, as real
networks do. Tests and bench/detect.py score detection on them."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from reachwatch.cases import SimulatedSpell
from reachwatch.simulate._errors import SimulationError
from reachwatch.simulate._scenario import Block, Noise, Scenario

CORPUS_KINDS = ("partial", "short", "lone-failure", "sparse")
TECHNIQUES = ("tls.reset", "tls.timeout", "dns.nxdomain", "dns.bogon", "tcp.timeout", "tcp.reset")
BACKGROUND = Noise(spurious=0.03)  # 3% blocking-like failures with no block
_T0 = datetime(2024, 3, 1)


def _blocks(
    rng: random.Random,
    end: datetime,
    hours: tuple[float, float],
    spacing: tuple[float, float],
    share: tuple[float, float] = (1.0, 1.0),
) -> list[Block]:
    """Blocks of hours[0]..hours[1] separated by spacing[0]..spacing[1] hours of access,
    the first a day or two in (so every start is observed), the last ending before `end`."""
    out: list[Block] = []
    t = _T0 + timedelta(hours=rng.uniform(24, 48), minutes=rng.randrange(60))
    while True:
        length = timedelta(hours=rng.uniform(*hours))
        if t + length >= end - timedelta(hours=12):
            return out
        out.append(Block(t, t + length, rng.choice(TECHNIQUES), round(rng.uniform(*share), 2)))
        t += length + timedelta(hours=rng.uniform(*spacing))


def detection_corpus(kind: str, seed: int, *, networks: int = 6) -> Scenario:
    """A scenario of one class (CORPUS_KINDS) for one seed; the same seed, the same scenario.

    - partial: blocks of 12 h to 4 days hitting 50-70% of measurements (load-balanced
      middleboxes), at 5 measurements an hour.
    - short: blocks of exactly 3 h, at 2 to 5 measurements an hour (per network).
    - lone-failure: blocks of 6 h to 2 days, with one blocking-like failure 5 to 60 minutes
      after each end and another 5 to 60 minutes before each start.
    - sparse: blocks of 12 h to 5 days at 0.3 to 1 measurement an hour, one network's probes
      vanishing for a day.
    """
    rng = random.Random(f"{kind}/{seed}")
    nets = tuple(f"AS{64600 + i}" for i in range(networks))
    days = 30 if kind == "sparse" else 20
    end = _T0 + timedelta(days=days)
    blocks: dict[str, list[Block]] = {}
    rates: dict[str, float] = {}
    failures: list[tuple[str, datetime]] = []
    vanish: tuple[SimulatedSpell, ...] = ()
    for net in nets:
        if kind == "partial":
            blocks[net] = _blocks(rng, end, (12, 96), (48, 120), share=(0.5, 0.7))
            rates[net] = 5.0
        elif kind == "short":
            blocks[net] = _blocks(rng, end, (3, 3), (30, 72))
            rates[net] = rng.uniform(2, 5)
        elif kind == "lone-failure":
            blocks[net] = _blocks(rng, end, (6, 48), (48, 96))
            rates[net] = 5.0
            for b in blocks[net]:
                assert b.end is not None
                failures.append((net, b.start - timedelta(minutes=rng.uniform(5, 60))))
                failures.append((net, b.end + timedelta(minutes=rng.uniform(5, 60))))
        elif kind == "sparse":
            blocks[net] = _blocks(rng, end, (12, 120), (48, 120))
            rates[net] = rng.uniform(0.3, 1.0)
        else:
            raise SimulationError(
                f"unknown corpus kind {kind!r} (one of {', '.join(CORPUS_KINDS)})"
            )
    if kind == "sparse":
        at = _T0 + timedelta(days=rng.uniform(3, days - 5))
        vanish = (SimulatedSpell(at, at + timedelta(days=1), (nets[-1],)),)
    return Scenario(
        cc="PK",
        platform="x",
        networks=nets,
        start=_T0,
        end=end,
        rate=5.0,
        rates=rates,
        blocks=blocks,
        vanish=vanish,
        failures=tuple(sorted(failures, key=lambda f: (f[1], f[0]))),
        noise=BACKGROUND,
    )
