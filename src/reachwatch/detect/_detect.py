"""The detect stage end to end: series from the store, timelines, incidents, volume collapses."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import duckdb

from reachwatch.detect._changepoints import prepare_search
from reachwatch.detect._incidents import Incident, assemble_incidents, incident_json, iso
from reachwatch.detect._local import country_rows, reads_files
from reachwatch.detect._series import Series, _filters, load_series
from reachwatch.detect._timeline import HOUR, DetectParams, Timeline, build_timeline
from reachwatch.detect._volume import VolumeCollapse, volume_collapses

# A series' timeline as of the end of the data (see `_detect`).
TimelineBuilder = Callable[[Series, datetime], Timeline]


@dataclass(slots=True)
class Detection:
    incidents: list[Incident]
    timelines: list[Timeline]
    volume_collapses: list[VolumeCollapse]
    data_start: datetime | None
    data_end: datetime | None
    params: DetectParams = field(default_factory=DetectParams)
    synthetic: bool = False  # any simulated measurement in scope, incident or not

    def to_json(self) -> dict[str, Any]:
        return {
            "incidents": [incident_json(i) for i in self.incidents],
            "volume_collapses": [_collapse_json(c) for c in self.volume_collapses],
            # What the online detector raised, bucket by bucket: where a live monitor pages.
            "alerts": [
                {
                    "cc": t.cc,
                    "network": t.network,
                    "platform": t.platform,
                    "at": iso(at),
                    "kind": kind,
                }
                for t in self.timelines
                for at, kind in t.alerts
            ],
            "gaps": [
                {
                    "cc": t.cc,
                    "network": t.network,
                    "platform": t.platform,
                    "start": iso(g.start),
                    "end": iso(g.end),
                    "hours": round(g.hours(self.data_end or g.start), 1),
                }
                for t in self.timelines
                for g in t.gaps
            ],
            "data": {
                "start": iso(self.data_start),
                "end": iso(self.data_end),
                "series": len(self.timelines),
                "synthetic": self.synthetic or any(i.synthetic for i in self.incidents),
            },
        }


def _collapse_json(c: VolumeCollapse) -> dict[str, Any]:
    return {
        "cc": c.cc,
        "network": c.network,
        "start": iso(c.start),
        "end": iso(c.end),
        "expected_per_day": round(c.expected_per_day, 1),
        "observed_per_day": round(c.observed_per_day, 1),
        "last_before": iso(c.last_before),
        "first_after": iso(c.first_after),
    }


def detect(
    con: duckdb.DuckDBPyConnection,
    *,
    cc: str | None = None,
    platform: str | None = None,
    network: str | None = None,
    params: DetectParams | None = None,
    volumes: duckdb.DuckDBPyConnection | None = None,
    series: list[Series] | None = None,
) -> Detection:
    """Incidents per (cc, platform) from the store's measurements, with gaps and collapses.

    For one country over the store's files, its rows are read once into memory first
    (`country_rows`): detection asks dozens of questions, and each would open every file.
    `volumes`: where the collapses in measurement volume are counted, every platform's
    measurements of the country (default: `con`; given when `con` holds one platform's).
    `series`: the hourly series of this scope, already counted (on a Dask cluster,
    `series_on_dask`); else they are counted from `con`."""
    params = params or DetectParams()
    if cc is not None and reads_files(con):
        prepare_search()
        local = country_rows(con, cc, platform)
        try:
            return _detect(local, cc, platform, network, params, volumes or con, series)
        finally:
            local.close()
    return _detect(con, cc, platform, network, params, volumes or con, series)


def _detect(
    con: duckdb.DuckDBPyConnection,
    cc: str | None,
    platform: str | None,
    network: str | None,
    params: DetectParams,
    volumes: duckdb.DuckDBPyConnection,
    series: list[Series] | None,
    timeline_of: TimelineBuilder | None = None,
) -> Detection:
    """`timeline_of`: how a series' timeline is had (default: `build_timeline` on `con`)."""
    all_series = (
        load_series(con, cc=cc, platform=platform, network=network) if series is None else series
    )
    if not all_series:
        return Detection([], [], [], None, None, params)
    data_start = min(s.hours[0] for s in all_series).astype("datetime64[us]").item()
    data_end = (max(s.hours[-1] for s in all_series)).astype("datetime64[us]").item() + HOUR
    if timeline_of is None:
        timelines = [build_timeline(con, s, data_end=data_end, params=params) for s in all_series]
    else:
        timelines = [timeline_of(s, data_end) for s in all_series]
    where, args = _filters(cc, platform, network)
    synthetic = con.execute(
        f"SELECT coalesce(bool_or(synthetic), false) FROM measurements WHERE true {where}", args
    ).fetchone()
    incidents = assemble_incidents(con, timelines, params)
    collapses = volume_collapses(
        volumes, cc=cc, ratio=params.collapse_ratio, min_daily=params.collapse_min_daily
    )
    if network is not None:
        collapses = [c for c in collapses if c.network == network.upper()]
    return Detection(
        incidents,
        timelines,
        collapses,
        data_start,
        data_end,
        params,
        synthetic=bool(synthetic and synthetic[0]),
    )
