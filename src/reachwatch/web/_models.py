"""The shapes of the API's answers, for the OpenAPI document (what clients and the schema
tests read). Answers are serialised straight from the cached documents, not through these
models: the schema tests check that every answer conforms to them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

# Every time the API writes: UTC, ISO 8601, with Z (2024-02-17T15:06:41Z).
UtcTime = Annotated[datetime, Field(description="UTC, ISO 8601 with Z")]


class _Open(BaseModel):
    """Documents may carry more keys than listed (detect's and case check's own)."""

    model_config = ConfigDict(extra="allow")


class OverviewItem(BaseModel):
    cc: str = Field(description="Country, ISO 3166-1 alpha-2")
    platform: str
    state: Literal["blocked", "accessible", "unknown"] = Field(
        description="At the end of the data: blocked while an incident is ongoing"
    )
    since: UtcTime | None = Field(description="Last change: ongoing incident's start or last end")
    first_data: UtcTime
    last_data: UtcTime
    measurements: int
    blocked_measurements: int
    networks: int
    incidents: int
    ongoing_incident: str | None
    techniques: list[str]


class Overview(BaseModel):
    items: list[OverviewItem]


class NetworkSpell(_Open):
    network: str = Field(description="ASN, e.g. AS17557")
    start: UtcTime
    end: UtcTime | None
    start_bounds: list[UtcTime | None] | None
    end_bounds: list[UtcTime | None] | None
    techniques: list[str]
    technique_counts: dict[str, int]
    measurements: int
    blocked_measurements: int
    evidence: list[str]


class Incident(_Open):
    id: str = Field(description="CC-platform-start, e.g. PK-x-20240217T1000Z")
    cc: str
    platform: str
    start: UtcTime
    end: UtcTime | None = Field(description="null while ongoing")
    ongoing: bool
    start_bounds: list[UtcTime | None]
    end_bounds: list[UtcTime | None] | None
    networks: list[NetworkSpell]
    techniques: list[str]
    measurements: int
    blocked_measurements: int
    evidence: list[str] = Field(description="Measurement ids (first 50)")
    synthetic: bool


class Incidents(BaseModel):
    items: list[Incident]


class MeasurementRow(BaseModel):
    id: str
    measurement_start_time: UtcTime
    probe_cc: str | None
    probe_asn: str | None
    platform: str | None
    test_name: str | None
    input: str | None
    verdict: Literal["accessible", "blocked", "down", "inconclusive"] | None
    technique: str | None
    source: str | None
    synthetic: bool | None


class Measurements(BaseModel):
    items: list[MeasurementRow]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: last")
    limit: int


class Measurement(BaseModel):
    """What `reachwatch show ID --json` prints, plus the exact bytes in base64."""

    id: str
    measurement: dict[str, object]
    raw: object = Field(description="The stored bytes parsed as JSON (text if they are not)")
    raw_base64: str | None = Field(description="The exact stored bytes; null if not kept")
    raw_sha256: str | None
    raw_intact: bool | None
    observations: list[dict[str, object]] = Field(description="Verdicts with rule ids")
    facts: list[dict[str, object]]


class SeriesPoint(BaseModel):
    time: UtcTime = Field(description="Start of the hour or day (UTC)")
    cc: str
    network: str
    platform: str
    blocked: int
    ok: int
    down: int
    inconclusive: int


class Series(BaseModel):
    bucket: Literal["hour", "day"]
    items: list[SeriesPoint]


class DirectiveSummary(BaseModel):
    id: str | None
    date: date
    label: str | None
    requires: Literal["blocked", "accessible"] | None
    due: UtcTime
    status: Literal["followed", "followed late", "not followed", "no data"]


class CaseScope(BaseModel):
    cc: str
    platform: str
    networks: list[str]


class CaseSummary(BaseModel):
    case: str
    title: str
    headline: str
    scope: CaseScope
    directives: list[DirectiveSummary]
    incidents: int
    synthetic: bool


class Cases(BaseModel):
    items: list[CaseSummary]


class CaseDocument(_Open):
    """`reachwatch case check CASE --json` and the case's dated events."""

    case: str
    title: str
    headline: str
    scope: CaseScope
    directives: list[dict[str, object]] = Field(description="Each order and its compliance")
    events: list[dict[str, object]]
    incidents: list[dict[str, object]]


class HostModel(BaseModel):
    host: str
    role: str
    urls: list[str]


class PlatformModel(BaseModel):
    name: str
    title: str
    aliases: list[str]
    domains: list[str]
    asns: list[int]
    hosts: list[HostModel]


class CatalogModel(BaseModel):
    items: list[PlatformModel]
