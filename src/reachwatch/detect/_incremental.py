"""Detection run again and again over a growing store (`reachwatch watch`, and `reachwatch
detect --cc` run again), doing only what is new each time.

A run reads only the files committed since the last (the store appends: a batch's files
come after every earlier batch's in the manifest), into the rows it keeps (`KeptRows`), counts
the series from them, and builds again only the timelines of series whose counts changed:
a timeline reads nothing but its own series and its own (country, network, platform) rows,
so an unchanged series has the timeline it had, apart from its gaps, which run to the end of
all the data and are recomputed. Incidents and collapses are assembled again from the
timelines each run. When the committed files are not the earlier ones plus new ones (a
`rejudge` or `store compact` replaced some), everything is read again.

Its answer is `detect`'s on the same store (tests/detect/test_incremental.py).
"""

from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from reachwatch.detect._changepoints import prepare_search
from reachwatch.detect._detect import Detection, _detect
from reachwatch.detect._kept_rows import KeptRows
from reachwatch.detect._series import COUNT_COLUMNS, Series, SeriesKey
from reachwatch.detect._timeline import DetectParams, Timeline, build_timeline, timeline_gaps


@dataclass(slots=True)
class RunWork:
    """What the last run did."""

    files_read: int = 0  # committed files read this run
    measurements_read: int = 0
    series: int = 0
    timelines_built: int = 0  # series whose counts changed (or that are new)
    reread_all: bool = False  # the store's files were not the earlier ones plus new ones


@dataclass(slots=True)
class _Known:
    digest: bytes
    timeline: Timeline


class IncrementalDetect:
    """`detect(open_store(db, cc=cc), cc=cc, platform=platform)`, again at every `run()`;
    `last` says what the last run did. The country's rows are kept in memory until `close()`,
    or in the DuckDB file `rows_file`, where a later process finds them (`KeptRows`)."""

    def __init__(
        self,
        db: Path,
        cc: str,
        platform: str | None = None,
        params: DetectParams | None = None,
        rows_file: Path | None = None,
    ) -> None:
        self.db = db
        self.cc = cc.upper()
        self.platform = platform
        self.params = params or DetectParams()
        self.rows_file = rows_file
        self.last = RunWork()
        self._rows: KeptRows | None = None
        self._timelines: dict[SeriesKey, _Known] = {}

    def run(self) -> Detection:
        self.last = RunWork()
        if self._rows is None:
            prepare_search()
            self._rows = KeptRows(self.db, self.cc, self.rows_file)
        update = self._rows.update()
        if update.reread_all:
            self._timelines.clear()
        self.last.files_read = update.files_read
        self.last.measurements_read = update.measurements_read
        self.last.reread_all = update.reread_all
        local = self._rows.con
        return _detect(
            local, self.cc, self.platform, None, self.params, local, None, self._timeline
        )

    def close(self) -> None:
        if self._rows is not None:
            self._rows.close()
            self._rows = None

    # -- timelines --------------------------------------------------------------------------
    def _timeline(self, series: Series, data_end: datetime) -> Timeline:
        self.last.series += 1
        digest = _digest(series)
        known = self._timelines.get(series.key)
        if known is not None and known.digest == digest:
            timeline = copy.deepcopy(known.timeline)
            return replace(timeline, gaps=timeline_gaps(series, data_end, self.params))
        assert self._rows is not None
        timeline = build_timeline(self._rows.con, series, data_end=data_end, params=self.params)
        self._timelines[series.key] = _Known(digest, copy.deepcopy(timeline))
        self.last.timelines_built += 1
        return timeline


def _digest(series: Series) -> bytes:
    """The series' hours and counts, as a hash: equal when no hour of it changed."""
    h = hashlib.sha256(series.hours.astype("datetime64[h]").tobytes())
    for name in COUNT_COLUMNS:
        h.update(getattr(series, name).tobytes())
    return h.digest()
