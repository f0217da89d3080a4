"""One measurement as the store holds it: its row, its exact bytes (checked against their
SHA-256), the facts read from them, and the verdicts per host, address and layer with the rule
that gave each."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from reachwatch.store._errors import StoreError
from reachwatch.store.schema import FACTS_COLUMNS, MEASUREMENTS_COLUMNS, OBSERVATIONS_COLUMNS

if TYPE_CHECKING:  # loaded by the caller that opened the store; ingest workers never do
    import duckdb


class NoSuchMeasurement(StoreError):
    """No measurement with that id is stored."""


# The facts' columns a person is shown first (JSON has them all), by heading: `show` on a
# terminal and the dashboard's measurement page print the same ones.
FACT_SUMMARY_COLUMNS = {
    "side": "side",
    "kind": "kind",
    "hop": "hop",
    "host": "hostname",
    "address": "ip",
    "port": "port",
    "asn": "ip_asn",
    "failure": "failure",
    "status": "http_response_status_code",
    "title": "http_response_title",
    "body": "http_response_body_length",
    "t": "t",
}


@dataclass(slots=True)
class Evidence:
    measurement: dict[str, Any]
    raw: bytes | None  # None: ingested before the store kept the bytes
    sha256: str | None
    intact: bool | None  # the bytes still have their recorded SHA-256 (None: no bytes)
    observations: list[dict[str, Any]]
    facts: list[dict[str, Any]]  # empty when none are stored (a store from before facts)

    def to_json(self) -> dict[str, Any]:
        """What `reachwatch show --json` prints: the bytes parsed when they are JSON, else as
        text (kept as read)."""
        raw: Any = None
        if self.raw is not None:
            try:
                raw = orjson.loads(self.raw)
            except orjson.JSONDecodeError:
                raw = self.raw.decode("utf-8", "replace")
        return {
            "id": self.measurement["measurement_id"],
            "measurement": self.measurement,
            "raw": raw,
            "raw_sha256": self.sha256,
            "raw_intact": self.intact,
            "observations": self.observations,
            "facts": self.facts,
        }


def evidence_of(con: duckdb.DuckDBPyConnection, measurement_id: str) -> Evidence:
    """The measurement `measurement_id` from an open store; NoSuchMeasurement if absent."""
    columns = list(MEASUREMENTS_COLUMNS)
    row = con.execute(
        f"SELECT {', '.join(columns)} FROM measurements WHERE measurement_id = ? LIMIT 1",
        [measurement_id],
    ).fetchone()
    if row is None:
        raise NoSuchMeasurement(f"no measurement {measurement_id!r} in this store")
    kept = con.execute(
        "SELECT bytes, sha256 FROM evidence WHERE measurement_id = ? LIMIT 1", [measurement_id]
    ).fetchone()
    raw, sha256 = (bytes(kept[0]), str(kept[1])) if kept is not None else (None, None)
    own = [c for c in OBSERVATIONS_COLUMNS if c not in ("measurement_id", "probe_cc", "date")]
    observed = con.execute(
        f"SELECT {', '.join(own)} FROM observations WHERE measurement_id = ? "
        "ORDER BY layer, host, address",
        [measurement_id],
    ).fetchall()
    mine = [c for c in FACTS_COLUMNS if c not in _PLACE]
    facts = con.execute(
        f"SELECT {', '.join(mine)} FROM facts WHERE measurement_id = ? "
        f"ORDER BY side DESC, list_position({_KINDS}, kind), entry, ip",
        [measurement_id],
    ).fetchall()
    return Evidence(
        measurement=dict(zip(columns, row, strict=True)),
        raw=raw,
        sha256=sha256,
        intact=None if raw is None else hashlib.sha256(raw).hexdigest() == sha256,
        observations=[dict(zip(own, values, strict=True)) for values in observed],
        facts=[dict(zip(mine, values, strict=True)) for values in facts],
    )


# Facts in the order a measurement goes: DNS, TCP, TLS, HTTP, QUIC, throughput.
_KINDS = (
    "['dns_answer', 'dns_failure', 'tcp_connect', 'tls_handshake', 'http_request', "
    "'quic_handshake', 'throughput_sample']"
)
# A fact's columns that repeat its measurement's.
_PLACE = ("measurement_id", "probe_cc", "probe_asn", "measurement_start_time", "date", "synthetic")
