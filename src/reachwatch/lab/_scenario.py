"""Scenario files: what the censor does (mechanisms) and which verdict the probe must reach."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

from reachwatch.catalog import Platform
from reachwatch.errors import ReachwatchError
from reachwatch.lab.mechanisms import MECHANISMS, Setup


class ScenarioError(ReachwatchError):
    """A lab scenario file or name that cannot be used; the message says where."""


CHECKS = {"doh_resolves", "blockpage_seen", "quic_ipv6"}


@dataclass(frozen=True)
class Expectation:
    """The verdict a host must get; `why` documents any exception to the scenario's rule."""

    verdict: str
    technique: str | None = None
    why: str | None = None
    # Other verdicts that are right as well: a server that fails at random (never `blocked`)
    # may leave a run accessible, down or inconclusive.
    alternatives: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        verdict = "|".join((self.verdict, *self.alternatives))
        return f"{verdict}:{self.technique}" if self.technique else verdict

    def accepts(self, verdict: str, technique: str | None) -> bool:
        return verdict in (self.verdict, *self.alternatives) and technique == self.technique


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    expect: Expectation
    setup: tuple[tuple[str, Mapping[str, Any]], ...]
    hosts: Mapping[str, Expectation] = field(default_factory=dict)
    checks: tuple[str, ...] = ()
    # None: the probe measures the platform by name (its catalog URLs); "http": the same URLs
    # over plain HTTP, for censorship only unencrypted requests can show.
    scheme: str | None = None

    def targets(self, platform: Platform) -> list[str]:
        """What `reachwatch probe` is given for this scenario."""
        if self.scheme is None:
            return [platform.name]
        return [urlunsplit(urlsplit(url)._replace(scheme=self.scheme)) for url in platform.urls]

    def expectation(self, host: str) -> Expectation:
        return self.hosts.get(host, self.expect)

    def apply(self, setup: Setup) -> None:
        for name, params in self.setup:
            MECHANISMS[name](setup, params)


def _expectation(doc: Any, where: str) -> Expectation:
    if not isinstance(doc, Mapping) or "verdict" not in doc:
        raise ScenarioError(f"{where}: expect needs a verdict")
    verdict = doc["verdict"]
    verdicts = [str(v) for v in verdict] if isinstance(verdict, list) else [str(verdict)]
    if not verdicts:
        raise ScenarioError(f"{where}: expect needs a verdict")
    return Expectation(verdicts[0], doc.get("technique"), doc.get("why"), tuple(verdicts[1:]))


def parse_scenario(doc: Any, where: str) -> Scenario:
    if not isinstance(doc, Mapping) or "name" not in doc:
        raise ScenarioError(f"{where}: a scenario needs a name")
    steps: list[tuple[str, Mapping[str, Any]]] = []
    for step in doc.get("setup") or []:
        if not isinstance(step, Mapping) or len(step) != 1:
            raise ScenarioError(f"{where}: each setup step is one {{mechanism: params}}")
        ((name, params),) = step.items()
        if name not in MECHANISMS:
            raise ScenarioError(f"{where}: unknown mechanism {name!r}")
        steps.append((str(name), dict(params or {})))
    checks = tuple(doc.get("checks") or ())
    unknown = set(checks) - CHECKS
    if unknown:
        raise ScenarioError(f"{where}: unknown checks {sorted(unknown)}")
    scheme = doc.get("scheme")
    if scheme not in (None, "http", "https"):
        raise ScenarioError(f"{where}: scheme must be http or https")
    hosts = {
        str(host): _expectation(value, f"{where}: hosts.{host}")
        for host, value in (doc.get("hosts") or {}).items()
    }
    return Scenario(
        name=str(doc["name"]),
        summary=str(doc.get("summary", "")).strip(),
        expect=_expectation(doc.get("expect"), where),
        setup=tuple(steps),
        hosts=hosts,
        checks=checks,
        scheme=scheme,
    )


def load_scenarios(directory: Path | None = None) -> list[Scenario]:
    """Every scenario file, in file-name order (the shipped ones are numbered)."""
    if directory is None:
        root = resources.files("reachwatch.lab") / "scenarios"
        files = sorted(
            (f for f in root.iterdir() if f.name.endswith(".yaml")), key=lambda f: f.name
        )
        docs = [(f.name, f.read_text(encoding="utf-8")) for f in files]
    else:
        docs = [(p.name, p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.yaml"))]
    scenarios = [parse_scenario(yaml.safe_load(text), name) for name, text in docs]
    names = [s.name for s in scenarios]
    if len(set(names)) != len(names):
        raise ScenarioError("two scenario files share a name")
    return scenarios


def select(scenarios: list[Scenario], name: str) -> list[Scenario]:
    if name == "all":
        return scenarios
    chosen = [s for s in scenarios if s.name == name]
    if not chosen:
        known = ", ".join(s.name for s in scenarios)
        raise ScenarioError(f"no scenario named {name!r} (known: {known}, or all)")
    return chosen
