"""The verdict vocabulary of DESIGN.md as types: every stage speaks in these."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

LayerVerdictName = Literal["ok", "blocked", "down", "inconclusive"]
OverallVerdictName = Literal["accessible", "blocked", "down", "inconclusive"]
Layer = Literal["dns", "tcp", "tls", "http", "quic", "throughput"]

LAYERS: tuple[Layer, ...] = get_args(Layer)
LAYER_VERDICTS: tuple[LayerVerdictName, ...] = get_args(LayerVerdictName)
OVERALL_VERDICTS: tuple[OverallVerdictName, ...] = get_args(OverallVerdictName)

TECHNIQUES: tuple[str, ...] = (
    "dns.nxdomain",
    "dns.bogon",
    "dns.injected",
    "dns.timeout",
    "tcp.reset",
    "tcp.timeout",
    "tls.reset",
    "tls.timeout",
    "tls.mitm",
    "http.blockpage",
    "http.reset",
    "http.diff",
    "quic.blocked",
    "throttled",
    # After the request went out on an established connection, nothing came back.
    "http.timeout",
)

# (blocked, down, ok): how much the evidence points at each explanation.
Loni = tuple[float, float, float]

LONI_OK: Loni = (0.0, 0.0, 1.0)
LONI_BLOCKED: Loni = (1.0, 0.0, 0.0)
LONI_DOWN: Loni = (0.0, 1.0, 0.0)
LONI_UNKNOWN: Loni = (0.0, 0.0, 0.0)


# The classes below are built millions of times per corpus. Each spells out its __init__: a
# compiled (mypyc) class runs its own __init__ natively but the one dataclass() writes as
# interpreted code, seven times slower. Not frozen, since a frozen class cannot set its fields
# in __init__ when it runs interpreted; treat them as values all the same.


@dataclass(slots=True, init=False)
class LayerVerdict:
    """The verdict for one layer, with the rule that produced it."""

    verdict: LayerVerdictName
    rule: str
    loni: Loni
    technique: str | None

    def __init__(
        self, verdict: LayerVerdictName, rule: str, loni: Loni, technique: str | None = None
    ) -> None:
        self.verdict = verdict
        self.rule = rule
        self.loni = loni
        self.technique = technique

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"verdict": self.verdict, "rule": self.rule, "loni": list(self.loni)}
        if self.technique is not None:
            out["technique"] = self.technique
        return out


@dataclass(slots=True, init=False)
class Observation:
    """One judged fact: a measurement's host, at one address (or none), at one layer."""

    host: str
    address: str | None
    layer: Layer
    verdict: LayerVerdictName
    rule: str
    loni: Loni
    technique: str | None
    failure: str | None

    def __init__(
        self,
        host: str,
        address: str | None,
        layer: Layer,
        verdict: LayerVerdictName,
        rule: str,
        loni: Loni,
        technique: str | None = None,
        failure: str | None = None,
    ) -> None:
        self.host = host
        self.address = address
        self.layer = layer
        self.verdict = verdict
        self.rule = rule
        self.loni = loni
        self.technique = technique
        self.failure = failure


@dataclass(slots=True, init=False)
class Classified:
    """A measurement judged: the overall verdict, one verdict per measured layer, and the
    per-address observations they were derived from. A layer not measured is absent."""

    id: str
    input: str | None
    test_name: str
    probe_cc: str
    probe_asn: str
    measurement_start_time: str
    verdict: OverallVerdictName
    technique: str | None
    layers: dict[str, LayerVerdict]
    observations: list[Observation]

    def __init__(
        self,
        id: str,
        input: str | None,
        test_name: str,
        probe_cc: str,
        probe_asn: str,
        measurement_start_time: str,
        verdict: OverallVerdictName,
        technique: str | None,
        layers: dict[str, LayerVerdict] | None = None,
        observations: list[Observation] | None = None,
    ) -> None:
        self.id = id
        self.input = input
        self.test_name = test_name
        self.probe_cc = probe_cc
        self.probe_asn = probe_asn
        self.measurement_start_time = measurement_start_time
        self.verdict = verdict
        self.technique = technique
        self.layers = {} if layers is None else layers
        self.observations = [] if observations is None else observations

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "input": self.input,
            "test_name": self.test_name,
            "probe_cc": self.probe_cc,
            "probe_asn": self.probe_asn,
            "measurement_start_time": self.measurement_start_time,
            "verdict": self.verdict,
            "technique": self.technique,
            "layers": {name: lv.to_json() for name, lv in self.layers.items()},
        }


def summarize(items: list[Classified]) -> dict[str, int]:
    """Counts per overall verdict, every verdict present even when zero."""
    counts: dict[str, int] = {name: 0 for name in OVERALL_VERDICTS}
    for item in items:
        counts[item.verdict] += 1
    return counts
