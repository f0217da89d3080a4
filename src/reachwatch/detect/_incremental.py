"""Detection run again and again over a growing store (`reachwatch watch`), doing only what
is new each time.

A run reads only the files committed since the last (the store appends: a batch's files
come after every earlier batch's in the manifest), into the rows it keeps in memory, counts
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

import duckdb

from reachwatch.detect._changepoints import prepare_search
from reachwatch.detect._detect import Detection, _detect
from reachwatch.detect._local import add_country_rows
from reachwatch.detect._series import COUNT_COLUMNS, Series, SeriesKey
from reachwatch.detect._timeline import DetectParams, Timeline, build_timeline, timeline_gaps
from reachwatch.store import committed_files, create_views

_TABLES = ("measurements", "observations")


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
    `last` says what the last run did. Holds the country's rows in memory until `close()`."""

    def __init__(
        self, db: Path, cc: str, platform: str | None = None, params: DetectParams | None = None
    ) -> None:
        self.db = db
        self.cc = cc.upper()
        self.platform = platform
        self.params = params or DetectParams()
        self.last = RunWork()
        self._local: duckdb.DuckDBPyConnection | None = None
        self._files: dict[str, list[str]] = {}
        self._timelines: dict[SeriesKey, _Known] = {}

    def run(self) -> Detection:
        self.last = RunWork()
        self._read_new_files()
        assert self._local is not None
        return _detect(
            self._local, self.cc, self.platform, None, self.params, self._local, None,
            self._timeline,
        )  # fmt: skip

    def close(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None

    # -- reading ----------------------------------------------------------------------------
    def _read_new_files(self) -> None:
        now = committed_files(self.db, self.cc)
        now = {table: now.get(table, []) for table in _TABLES}
        appended = self._local is not None and all(
            now[t][: len(self._files.get(t, []))] == self._files.get(t, []) for t in _TABLES
        )
        if not appended:
            self.last.reread_all = self._local is not None
            self.close()
            self._files = {t: [] for t in _TABLES}
            self._timelines.clear()
        new = {t: now[t][len(self._files[t]) :] for t in _TABLES}
        self.last.files_read = sum(len(names) for names in new.values())
        if self._local is None:
            prepare_search()
            self._local = duckdb.connect(":memory:")
            create = True
        else:
            create = False
        if create or self.last.files_read:
            files = duckdb.connect(":memory:")
            try:
                create_views(files, new)
                # Every platform of the country: volume collapses count them all.
                self.last.measurements_read = add_country_rows(
                    self._local, files, self.cc, None, create=create
                )
            finally:
                files.close()
        self._files = now

    # -- timelines --------------------------------------------------------------------------
    def _timeline(self, series: Series, data_end: datetime) -> Timeline:
        self.last.series += 1
        digest = _digest(series)
        known = self._timelines.get(series.key)
        if known is not None and known.digest == digest:
            timeline = copy.deepcopy(known.timeline)
            return replace(timeline, gaps=timeline_gaps(series, data_end, self.params))
        assert self._local is not None
        timeline = build_timeline(self._local, series, data_end=data_end, params=self.params)
        self._timelines[series.key] = _Known(digest, copy.deepcopy(timeline))
        self.last.timelines_built += 1
        return timeline


def _digest(series: Series) -> bytes:
    """The series' hours and counts, as a hash: equal when no hour of it changed."""
    h = hashlib.sha256(series.hours.astype("datetime64[h]").tobytes())
    for name in COUNT_COLUMNS:
        h.update(getattr(series, name).tobytes())
    return h.digest()
