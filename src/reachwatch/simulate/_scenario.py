"""What the simulator plays: per network, when the platform is truly blocked and how, plus
the noise of real corpora. A scenario comes from a case's `simulation` section or is built
directly (the benchmark draws random ones)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from reachwatch.cases import Case, SimulatedSpell
from reachwatch.simulate._errors import SimulationError
from reachwatch.simulate._ooni import BLOCKING_OUTCOMES, SITES

# Hosts measured per platform, with how often probes test each (OONI's lists favour the
# main web hosts).
PLATFORM_HOSTS: dict[str, tuple[tuple[str, float], ...]] = {
    "x": (
        ("x.com", 0.35),
        ("twitter.com", 0.3),
        ("api.x.com", 0.1),
        ("t.co", 0.05),
        ("abs.twimg.com", 0.1),
        ("pbs.twimg.com", 0.1),
    ),
    "wikipedia": (("www.wikipedia.org", 1.0),),
}


@dataclass(frozen=True, slots=True)
class Block:
    """A spell of true blocking on one network; end None: still blocked when the window ends."""

    start: datetime
    end: datetime | None
    technique: str
    # Share of measurements the block hits: below 1 for load-balanced middleboxes, where some
    # paths are interfered with and others not (partial blocking).
    share: float = 1.0

    def covers(self, t: datetime) -> bool:
        return self.start <= t and (self.end is None or t < self.end)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "end": self.end.strftime("%Y-%m-%dT%H:%M:%SZ") if self.end else None,
            "technique": self.technique,
        }
        if self.share < 1.0:
            out["share"] = self.share
        return out


@dataclass(frozen=True, slots=True)
class Noise:
    """The untidiness of real measurements, as shares of measurements (or of probes)."""

    no_ipv6: float = 0.4  # probes on networks without IPv6: IPv6 connects fail locally
    cdn_answers: float = 0.5  # resolvers answering CDN hosts with other, genuine addresses
    down: float = 0.01  # the site fails for the control too
    no_control: float = 0.01  # the test helper was unreachable: cannot tell
    leak: float = 0.02  # measurements that get through during a block
    spurious: float = 0.005  # flaky probes or middleboxes: a blocking-like failure, no block
    late_upload: float = 0.1  # uploaded hours after being measured
    late_hours: tuple[float, float] = (2.0, 36.0)


@dataclass(slots=True)
class Scenario:
    cc: str
    platform: str
    networks: tuple[str, ...]
    start: datetime  # window [start, end)
    end: datetime
    rate: float  # mean measurements per network per hour, before the daily rhythm
    rates: dict[str, float] = field(default_factory=dict)  # per network, instead of `rate`
    blocks: dict[str, list[Block]] = field(default_factory=dict)
    outages: tuple[SimulatedSpell, ...] = ()  # the platform down for everyone
    vanish: tuple[SimulatedSpell, ...] = ()  # networks whose probes stop reporting
    # Single blocking-like failures at set times with no block (network, time): a flaky probe
    # placed where it hurts most, e.g. just after a block ends.
    failures: tuple[tuple[str, datetime], ...] = ()
    other_platforms: dict[str, float] = field(default_factory=lambda: {"wikipedia": 0.25})
    noise: Noise = field(default_factory=Noise)
    utc_offset_hours: float = 5.0  # local time drives the daily rhythm
    case_id: str | None = None

    def block_at(self, network: str, t: datetime) -> Block | None:
        for block in self.blocks.get(network, ()):
            if block.covers(t):
                return block
        return None

    def vanished(self, network: str, t: datetime) -> bool:
        return any(_inside(s, t) and s.covers(network) for s in self.vanish)

    def down(self, network: str, t: datetime) -> bool:
        return any(_inside(s, t) and s.covers(network) for s in self.outages)


def _inside(spell: SimulatedSpell, t: datetime) -> bool:
    return spell.start <= t and (spell.end is None or t < spell.end)


def subtract(block: Block, holes: list[SimulatedSpell]) -> list[Block]:
    """The block with the restorations cut out of it."""
    pieces = [block]
    for hole in sorted(holes, key=lambda h: h.start):
        assert hole.end is not None
        out: list[Block] = []
        for p in pieces:
            p_end = p.end or datetime.max
            if hole.end <= p.start or hole.start >= p_end:
                out.append(p)
                continue
            if hole.start > p.start:
                out.append(Block(p.start, hole.start, p.technique, p.share))
            if hole.end < p_end:
                out.append(Block(hole.end, p.end, p.technique, p.share))
        pieces = out
    return pieces


def scenario_from_case(case: Case, *, rate: float | None = None) -> Scenario:
    """The case's simulation section as a scenario: for each network the last block entry
    naming it (or the last naming no network), minus the restorations that cover it."""
    sim = case.simulation
    if sim is None:
        raise SimulationError(f"{case.path or case.id}: the case has no 'simulation' section")
    if case.scope.platform not in PLATFORM_HOSTS:
        known = ", ".join(sorted(PLATFORM_HOSTS))
        raise SimulationError(f"cannot simulate platform {case.scope.platform!r} (only {known})")
    if not case.scope.networks:
        raise SimulationError(
            f"{case.path or case.id}: scope.networks is empty; nothing to simulate"
        )
    start = datetime(sim.start.year, sim.start.month, sim.start.day)
    end = datetime(sim.end.year, sim.end.month, sim.end.day) + timedelta(days=1)
    blocks: dict[str, list[Block]] = {}
    for network in case.scope.networks:
        chosen = _entry_for(network, sim.blocks)
        if chosen is None:
            continue
        technique = str(chosen.technique)
        if technique not in BLOCKING_OUTCOMES:
            raise SimulationError(
                f"{case.path or case.id}: cannot simulate technique {technique!r} "
                f"(only {', '.join(BLOCKING_OUTCOMES)})"
            )
        holes = [r for r in sim.restorations if r.covers(network)]
        truth = subtract(Block(chosen.start, chosen.end, technique), holes)
        blocks[network] = [_clip(b, start, end) for b in truth if b.start < end]
    return Scenario(
        cc=case.scope.cc,
        platform=case.scope.platform,
        networks=case.scope.networks,
        start=start,
        end=end,
        rate=rate if rate is not None else sim.measurements_per_hour,
        blocks=blocks,
        outages=sim.outages,
        vanish=sim.vanish,
        case_id=case.id,
    )


def _entry_for(network: str, entries: tuple[SimulatedSpell, ...]) -> SimulatedSpell | None:
    named = [e for e in entries if network in e.networks]
    general = [e for e in entries if not e.networks]
    chosen = named or general
    return chosen[-1] if chosen else None


def _clip(block: Block, start: datetime, end: datetime) -> Block:
    block_end = block.end if block.end is not None and block.end < end else None
    return Block(max(block.start, start), block_end, block.technique, block.share)


def check_hosts() -> None:
    """Every simulated host is one the simulator can serve (a programming check)."""
    for hosts in PLATFORM_HOSTS.values():
        for host, _ in hosts:
            assert host in SITES, host
