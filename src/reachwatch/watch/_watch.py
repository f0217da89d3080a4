"""The watch: sync → ingest → detect on a schedule, reporting new and ended incidents.

Each round lists the bucket from a day before the newest hour it has seen (OONI writes an
hour's files shortly after that hour), downloads only what is new or changed, ingests only
the files this round's sync wrote, runs detection for the one country and platform, and
reports what changed against what it reported before. The library never prints: what a
round did and each event go to the callbacks the caller gives.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import orjson

from reachwatch.detect import IncrementalDetect, incident_json
from reachwatch.errors import ReachwatchError
from reachwatch.ingest import ingest
from reachwatch.ingest._ooni_sync import OONI_BUCKET, sync_ooni
from reachwatch.watch._changes import Change
from reachwatch.watch._changes import changes as find_changes
from reachwatch.watch._errors import WatchError, WatchStopped
from reachwatch.watch._state import WatchState, load_state, save_state, state_lock, state_path
from reachwatch.watch._webhook import post_json

# Deliveries still owed are kept across rounds up to this many (the events file has them all).
MAX_UNDELIVERED = 1000
_POLL = 0.2  # seconds: how soon a stop asked for while waiting is seen


@dataclass(frozen=True, slots=True)
class WatchConfig:
    cc: str
    platform: str  # a catalog platform's name
    db: Path
    out: Path
    every: timedelta
    test_name: str = "web_connectivity"
    since: date | None = None  # None: the day before the round, until data is seen
    until: date | None = None  # None: today, whenever the round runs
    endpoint: str | None = None
    bucket: str = OONI_BUCKET
    events_file: Path | None = None
    webhook: str | None = None
    rounds: int | None = None  # None: until stopped
    webhook_timeout: float = 10.0
    webhook_attempts: int = 3
    webhook_backoff: float = 1.0


@dataclass(slots=True)
class RoundReport:
    """What one round did."""

    round: int
    listed_since: date
    listed_until: date
    listed: int = 0
    new_files: int = 0
    ingested_files: int = 0
    stored: int = 0
    duplicates: int = 0
    incidents: int = 0
    events: list[str] = field(default_factory=list)  # "new"/"ended", in the order reported
    undelivered: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    detect_files: int = 0  # committed files detection read this round (only the new ones)
    detect_series: int = 0
    detect_rebuilt: int = 0  # series whose timeline was built again (their counts changed)


@dataclass(slots=True)
class Callbacks:
    """Where the watch says what it does (the command line prints; tests collect)."""

    on_event: Callable[[dict[str, Any]], None] = lambda _doc: None
    on_round: Callable[[RoundReport], None] = lambda _report: None
    on_warning: Callable[[str], None] = lambda _text: None


# detect's incident keys an event carries (its networks shortened, its evidence cut to 10).
_EVENT_KEYS = (
    "cc", "platform", "start", "end", "status", "start_bounds", "end_bounds",
    "techniques", "measurements", "blocked_measurements", "synthetic",
)  # fmt: skip


def event_json(change: Change, reported_at: datetime) -> dict[str, Any]:
    """The JSON an event is reported as (events file and webhook alike)."""
    inc = change.incident
    return {
        "event": change.kind,
        "id": change.id,
        "reported_at": reported_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        **{k: inc[k] for k in _EVENT_KEYS},
        "networks": [
            {k: n[k] for k in ("network", "start", "end", "techniques")} for n in inc["networks"]
        ],
        "evidence": inc["evidence"][:10],
    }


class Watch:
    def __init__(
        self,
        config: WatchConfig,
        callbacks: Callbacks | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.config = config
        self.callbacks = callbacks or Callbacks()
        self.stop = stop or threading.Event()
        self.state_file = state_path(config.out, config.cc, config.platform)
        self._detector: IncrementalDetect | None = None  # the country's rows, kept between rounds

    def run(self) -> int:
        """Rounds until `config.rounds` are done or a stop is asked for; the rounds completed.
        An endless watch reports a failed round (a reachwatch error, or an OSError such as a
        full disk) as a warning and goes on; a bounded one (for cron and tests) ends with that
        round's error."""
        try:
            return self._rounds()
        finally:
            if self._detector is not None:
                self._detector.close()
                self._detector = None

    def _rounds(self) -> int:
        done = 0
        with state_lock(self.state_file):
            state = load_state(self.state_file)
            while not self.stop.is_set():
                started = time.monotonic()
                try:
                    self.run_round(state)
                    done += 1
                except WatchStopped:
                    break
                except (ReachwatchError, OSError) as exc:  # OSError: a full disk, say
                    if self.config.rounds is not None:
                        raise
                    state = load_state(self.state_file)  # what the failed round saved
                    self.callbacks.on_warning(
                        f"round {state.rounds + 1} failed: {exc}; trying again in "
                        f"{self.config.every}"
                    )
                if self.config.rounds is not None and done >= self.config.rounds:
                    break
                left = self.config.every.total_seconds() - (time.monotonic() - started)
                if self.pause(left):
                    break
        return done

    def pause(self, seconds: float) -> bool:
        """Wait `seconds`, or less when a stop is asked for; True then. It polls rather than
        blocking in `Event.wait`: a signal handler may set the event, and one that ran while
        `wait` held the event's lock would wait for that lock forever."""
        end = time.monotonic() + seconds
        while not self.stop.is_set():
            left = end - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(_POLL, left))
        return True

    def _check(self, *_args: object) -> None:
        if self.stop.is_set():
            raise WatchStopped

    def _since(self, state: WatchState) -> date:
        marks = [d for d in (self.config.since,) if d is not None]
        if state.latest_hour is not None:
            marks.append((state.latest_hour - timedelta(days=1)).date())
        # Nothing seen yet and no --since: yesterday, as of this round (new files land in the
        # current hour, so a window that slid on would only list more of nothing).
        return max(marks) if marks else datetime.now(UTC).date() - timedelta(days=1)

    def run_round(self, state: WatchState) -> RoundReport:
        cfg = self.config
        until = cfg.until or datetime.now(UTC).date()
        report = RoundReport(state.rounds + 1, min(self._since(state), until), until)
        self._check()
        clock = time.monotonic()
        synced = sync_ooni(
            cc=cfg.cc, test_name=cfg.test_name, since=report.listed_since, until=until,
            out=cfg.out, endpoint=cfg.endpoint, bucket=cfg.bucket, on_bytes=self._check,
        )  # fmt: skip
        report.listed, report.new_files = synced.files, len(synced.new_files)
        written = [str(p.relative_to(cfg.out)) for p in synced.new_files]
        state.pending = list(dict.fromkeys([*state.pending, *written]))
        if synced.latest_hour and (not state.latest_hour or synced.latest_hour > state.latest_hour):
            state.latest_hour = synced.latest_hour
        self._save(state)
        report.seconds["sync"] = time.monotonic() - clock

        self._check()
        clock = time.monotonic()
        self._ingest_pending(state, report)
        report.seconds["ingest"] = time.monotonic() - clock

        self._check()
        clock = time.monotonic()
        incidents = self._detect(report)
        report.incidents = len(incidents)
        report.seconds["detect"] = time.monotonic() - clock
        self._check()

        # From here on no stop is taken until the state says what was reported.
        self._report(state, incidents, report)
        state.rounds = report.round
        self._save(state)
        self._deliver(state)
        report.undelivered = len(state.undelivered)
        self.callbacks.on_round(report)
        return report

    def _ingest_pending(self, state: WatchState, report: RoundReport) -> None:
        """The files synced and not ingested yet: this round's, and any a stopped round left."""
        files = [self.config.out / p for p in state.pending]
        present = [f for f in files if f.is_file()]
        if len(present) < len(files):
            self.callbacks.on_warning(
                f"{len(files) - len(present)} downloaded file(s) are gone from "
                f"{self.config.out} before they were ingested; skipped"
            )
        if present:
            summary = ingest(present, self.config.db, on_progress=self._check)
            report.stored, report.duplicates = summary.stored, summary.duplicates
        report.ingested_files = len(present)
        state.pending = []
        self._save(state)

    def _detect(self, report: RoundReport) -> list[dict[str, Any]]:
        """Incidents as `detect` finds them, reading only the files committed since the last
        round and building again only the timelines of series that changed."""
        db = self.config.db
        if not db.is_dir():
            return []  # nothing was ever stored: nothing is known yet
        if self._detector is None:
            self._detector = IncrementalDetect(db, self.config.cc, self.config.platform)
        try:
            found = self._detector.run()
        except duckdb.Error as exc:
            self._detector.close()
            self._detector = None  # read everything again next time
            raise WatchError(f"{db}: detection could not read the store ({exc})") from None
        work = self._detector.last
        report.detect_files, report.detect_rebuilt = work.files_read, work.timelines_built
        report.detect_series = work.series
        return [incident_json(i) for i in found.incidents]

    def _report(
        self, state: WatchState, incidents: list[dict[str, Any]], report: RoundReport
    ) -> None:
        events, known = find_changes(state.incidents, incidents)
        now = datetime.now(UTC)
        docs = [event_json(change, now) for change in events]
        if docs and self.config.events_file is not None:
            self._append_events(self.config.events_file, docs)
        state.incidents = known
        if self.config.webhook is not None:
            state.undelivered.extend(docs)
            dropped = len(state.undelivered) - MAX_UNDELIVERED
            if dropped > 0:
                del state.undelivered[:dropped]
                self.callbacks.on_warning(
                    f"{dropped} webhook event(s) never delivered were dropped "
                    f"(the oldest; at most {MAX_UNDELIVERED} are kept)"
                )
        for doc in docs:
            self.callbacks.on_event(doc)
        report.events = [d["event"] for d in docs]

    def _append_events(self, path: Path, docs: list[dict[str, Any]]) -> None:
        lines = b"".join(orjson.dumps(d) + b"\n" for d in docs)
        try:
            with path.open("ab") as fh:
                fh.write(lines)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise WatchError(f"--events {path}: cannot append ({exc.strerror})") from None

    def _deliver(self, state: WatchState) -> None:
        """Owed events in order; the first that cannot be delivered now waits (with those
        after it) for the next round. One the receiver refuses outright is dropped."""
        url = self.config.webhook
        while url is not None and state.undelivered and not self.stop.is_set():
            doc = state.undelivered[0]
            result = post_json(
                url, orjson.dumps(doc), timeout=self.config.webhook_timeout,
                attempts=self.config.webhook_attempts, backoff=self.config.webhook_backoff,
                pause=self.pause,
            )  # fmt: skip
            if result.delivered:
                state.undelivered.pop(0)
                self._save(state)
                continue
            what = f"webhook delivery of {doc['event']} {doc['id']} to {url} failed"
            if result.permanent:
                state.undelivered.pop(0)
                self._save(state)
                self.callbacks.on_warning(f"{what} ({result.reason}); not sent again")
                continue
            self.callbacks.on_warning(
                f"{what} after {result.attempts} attempt(s) ({result.reason}); "
                f"{len(state.undelivered)} event(s) kept to send next round"
            )
            return

    def _save(self, state: WatchState) -> None:
        try:
            save_state(self.state_file, state)
        except OSError as exc:
            raise WatchError(f"{self.state_file}: cannot save ({exc.strerror})") from None


def run_watch(
    config: WatchConfig, callbacks: Callbacks | None = None, stop: threading.Event | None = None
) -> int:
    return Watch(config, callbacks, stop).run()
