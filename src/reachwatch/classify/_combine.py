"""From observations to layer verdicts to the overall verdict of a measurement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reachwatch.classify._rules import layer_verdict
from reachwatch.classify.verdicts import (
    LAYERS,
    Classified,
    LayerVerdict,
    Observation,
    OverallVerdictName,
)
from reachwatch.formats.ids import measurement_id

# Where the user's request ends up, deepest first: the verdict of the deepest measured stage
# says whether the site was reached.
_FINAL_STAGES = ("http", "tls", "tcp")


def layers_of(observations: list[Observation]) -> dict[str, LayerVerdict]:
    """One verdict per measured layer, in DESIGN's layer order."""
    grouped: dict[str, list[Observation]] = {}
    for o in observations:
        group = grouped.get(o.layer)
        if group is None:
            grouped[o.layer] = [o]
        else:
            group.append(o)
    if len(grouped) == 1:
        ((name, group),) = grouped.items()
        return {name: layer_verdict(group)}
    return {name: layer_verdict(grouped[name]) for name in LAYERS if name in grouped}


def overall(
    layers: Mapping[str, LayerVerdict],
    observations: Sequence[Observation] = (),
    port: int | None = None,
    stages: tuple[str, ...] = _FINAL_STAGES,
    host: str | None = None,
) -> tuple[OverallVerdictName, str | None]:
    """Blocked at the first layer that is (on any hop of the redirect chain); else reached
    (accessible), failing everywhere (down), or unknown (inconclusive), by the deepest stage
    measured. Without a fetch, only connections to the input's own port say whether the site
    was reached. `host`: where the redirect chain ended; only its own steps say whether the
    page was reached (an earlier hop that worked says nothing of the last one)."""
    for name in LAYERS:
        lv = layers.get(name)
        if lv is not None and lv.verdict == "blocked":
            return "blocked", lv.technique
    if host is not None:
        observations = [o for o in observations if o.host == host]
        layers = layers_of(observations)
    final = _final_stage(layers, observations, port, stages)
    if final is None:
        dns = layers.get("dns")
        down = dns is not None and dns.verdict == "down"
        return ("down", None) if down else ("inconclusive", None)
    if final.verdict == "ok":
        return "accessible", None
    if final.verdict == "down":
        return "down", None
    return "inconclusive", None


def _final_stage(
    layers: Mapping[str, LayerVerdict],
    observations: Sequence[Observation],
    port: int | None,
    stages: tuple[str, ...],
) -> LayerVerdict | None:
    if "http" in layers or port is None:
        return next((layers[n] for n in stages if n in layers), None)
    for stage in ("tls", "tcp"):
        at_port = [
            o
            for o in observations
            if o.layer == stage and (o.address is None or o.address.rsplit(":", 1)[-1] == str(port))
        ]
        if at_port:
            return layer_verdict(at_port)
    return None


def classified(
    *,
    record: Mapping[str, Any],
    input: str | None,
    test_name: str,
    probe_cc: str,
    probe_asn: str,
    start: str,
    observations: list[Observation],
    ident: str | None = None,
    port: int | None = None,
    stages: tuple[str, ...] = _FINAL_STAGES,
    host: str | None = None,
) -> Classified:
    """A Classified from observations. `stages`: the layers that show the target was reached,
    deepest first (a Satellite scan only ever reaches DNS); `host`: where a redirect chain
    ended, when it left the input's host."""
    layers = layers_of(observations)
    verdict, technique = overall(layers, observations, port, stages, host)
    return Classified(
        id=ident or measurement_id(record),
        input=input,
        test_name=test_name,
        probe_cc=probe_cc,
        probe_asn=probe_asn,
        measurement_start_time=start,
        verdict=verdict,
        technique=technique,
        layers=layers,
        observations=observations,
    )
