"""Scoring: expected against observed verdicts, per host and scenario, a confusion matrix."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reachwatch.lab._scenario import Expectation


@dataclass(frozen=True)
class HostResult:
    host: str
    expected: Expectation
    verdict: str
    technique: str | None
    measurement: Mapping[str, Any]
    checks: Mapping[str, bool] = field(default_factory=dict)

    @property
    def observed_label(self) -> str:
        return f"{self.verdict}:{self.technique}" if self.technique else self.verdict

    @property
    def correct(self) -> bool:
        return self.expected.accepts(self.verdict, self.technique) and all(self.checks.values())

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "expected_verdict": self.expected.verdict,
            "expected_technique": self.expected.technique,
            "verdict": self.verdict,
            "technique": self.technique,
            "correct": self.correct,
            "checks": dict(self.checks),
            "expected_because": self.expected.why,
            "measurement": dict(self.measurement),
        }


@dataclass(frozen=True)
class ScenarioResult:
    name: str
    summary: str
    hosts: list[HostResult]
    seconds: float
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "summary": self.summary,
            "hosts": [host.to_json() for host in self.hosts],
            "correct": sum(host.correct for host in self.hosts),
            "total": len(self.hosts),
            "seconds": round(self.seconds, 2),
            "error": self.error,
        }


@dataclass(frozen=True)
class LabReport:
    scenarios: list[ScenarioResult]
    seconds: float
    lab_id: str = ""

    @property
    def results(self) -> list[HostResult]:
        return [host for scenario in self.scenarios for host in scenario.hosts]

    @property
    def accuracy(self) -> float:
        results = self.results
        return sum(r.correct for r in results) / len(results) if results else 0.0

    def confusion(self) -> dict[str, dict[str, int]]:
        """{expected label: {observed label: count}}; a label is verdict[:technique]."""
        matrix: dict[str, dict[str, int]] = {}
        for result in self.results:
            row = matrix.setdefault(result.expected.label, {})
            row[result.observed_label] = row.get(result.observed_label, 0) + 1
        return matrix

    def to_json(self) -> dict[str, Any]:
        results = self.results
        return {
            "scenarios": [scenario.to_json() for scenario in self.scenarios],
            "confusion_matrix": self.confusion(),
            "correct": sum(r.correct for r in results),
            "total": len(results),
            "accuracy": round(self.accuracy, 4),
            "seconds": round(self.seconds, 2),
            "lab": self.lab_id,
        }


def blockpage_seen(measurement: Mapping[str, Any]) -> bool:
    """Whether one of the measurement's responses is the censor's blockpage."""
    from reachwatch.lab.servers import BLOCKPAGE_TEXT, BLOCKPAGE_TITLE

    for request in (measurement.get("test_keys") or {}).get("requests") or []:
        response = request.get("response") or {}
        body = response.get("body")
        if response.get("x_title") == BLOCKPAGE_TITLE or (
            isinstance(body, str) and BLOCKPAGE_TEXT in body
        ):
            return True
    return False


def doh_resolves(measurement: Mapping[str, Any], true_addresses: list[str]) -> bool:
    """Whether the measurement's DoH lookup gave the platform's true address."""
    queries = (measurement.get("test_keys") or {}).get("queries") or []
    for query in queries:
        if query.get("engine") != "doh" or query.get("failure"):
            continue
        for answer in query.get("answers") or []:
            if (answer.get("ipv4") or answer.get("ipv6")) in true_addresses:
                return True
    return False


def quic_ipv6(measurement: Mapping[str, Any]) -> bool:
    """Whether QUIC was measured over IPv6 and completed there, for the probe and for the
    control (handshakes to "[ip]:port" endpoints, at least one each, none failed)."""
    test_keys = measurement.get("test_keys") or {}
    probe = [q for q in test_keys.get("x_quic_handshakes") or [] if q.get("address", "")[:1] == "["]
    control = (test_keys.get("control") or {}).get("quic_handshake") or {}
    theirs = [entry for endpoint, entry in control.items() if endpoint.startswith("[")]
    return (
        bool(probe)
        and bool(theirs)
        and all(q.get("failure") is None for q in probe)
        and all(entry.get("status") is True for entry in theirs)
    )
