"""The store's one writer in a server: uploads queue here, one thread stores them.

`WriteQueue.start()` takes the store's writer lock for the server's lifetime (so `reachwatch
ingest` is told the server is writing), stores what the spool still holds from an earlier run,
and starts the writer thread. `submit` spools an upload (fsynced) and queues it; the thread
takes what is queued, lingers briefly to gather more, feeds every measurement through ingest's
own path (`IngestSession`: dedupe by id, quarantine with a reason, classify, facts, evidence),
commits one store batch, and only then lets the spool forget those lines. Readers never wait
on it: they read committed Parquet files, which a commit only adds.
"""

from __future__ import annotations

import functools
import logging
import queue
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from reachwatch.errors import ReachwatchError
from reachwatch.formats.ids import measurement_id
from reachwatch.ingest import DUPLICATE, STORED, IngestSession
from reachwatch.store import StoreWriter
from reachwatch.web._receipts import RECEIPTS_NAME, append_receipts, load_receipts
from reachwatch.web._spool import Spool

log = logging.getLogger("reachwatch.serve.submit")

# Receipts whose outcome the server remembers (a receipt is small: ids and outcomes).
RECEIPTS_KEPT = 20_000


class QueueClosed(ReachwatchError):
    """The writer is not taking uploads (stopped, or it failed: the message says why)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one uploaded measurement."""

    id: str
    status: str  # stored, duplicate, quarantined
    reason: str | None = None  # the quarantine reason

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        return out


def _outcome(mid: str, taken: str) -> Outcome:
    if taken in (STORED, DUPLICATE):
        return Outcome(mid, taken)
    return Outcome(mid, "quarantined", taken)


@dataclass(slots=True)
class Job:
    """One accepted upload: spooled, then stored by the writer thread."""

    receipt: str
    token: str
    ids: list[str]
    raws: list[bytes]
    received_at: str
    segment: int = 0
    outcomes: list[Outcome] | None = None
    failed: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _callbacks: list[Callable[[], None]] = field(default_factory=list)
    _done: bool = False

    @property
    def done(self) -> bool:
        return self._done

    def on_done(self, callback: Callable[[], None]) -> None:
        """Call `callback` (from the writer thread) once stored, or now if it already is."""
        with self._lock:
            if not self._done:
                self._callbacks.append(callback)
                return
        callback()

    def finish(self) -> None:
        with self._lock:
            self._done = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            callback()

    def record(self) -> dict[str, Any]:
        """The receipt log's line for this (stored) upload."""
        return {
            "receipt": self.receipt,
            "token": self.token,
            "received_at": self.received_at or None,
            "results": [[o.id, o.status, o.reason] for o in self.outcomes or ()],
        }

    @classmethod
    def from_record(cls, doc: dict[str, Any]) -> Job:
        outcomes = [Outcome(str(r[0]), str(r[1]), r[2]) for r in doc.get("results") or []]
        job = cls(str(doc["receipt"]), str(doc.get("token")), [o.id for o in outcomes], [],
                  str(doc.get("received_at") or ""))  # fmt: skip
        job.outcomes = outcomes
        job._done = True
        return job

    def to_json(self) -> dict[str, Any]:
        done = self._done  # read once: the writer thread may finish the job meanwhile
        doc: dict[str, Any] = {
            "receipt": self.receipt,
            "received_at": self.received_at or None,  # None: accepted before a restart
            "status": "failed" if self.failed else ("done" if done else "queued"),
            "measurements": len(self.ids),
        }
        # Outcomes are known once ingest took the upload, but true only once committed.
        if done and self.outcomes is not None:
            doc["results"] = [o.to_json() for o in self.outcomes]
            doc["counts"] = _counts(self.outcomes)
        else:
            doc["results"] = [{"id": i, "status": "queued"} for i in self.ids]
        if self.failed:
            doc["message"] = self.failed
        return doc


def _counts(outcomes: list[Outcome]) -> dict[str, int]:
    counts = {"stored": 0, "duplicate": 0, "quarantined": 0}
    for o in outcomes:
        counts[o.status] += 1
    return counts


@dataclass(slots=True)
class Replayed:
    """What a start found in the spool from an earlier run and stored."""

    measurements: int = 0
    stored: int = 0
    duplicates: int = 0
    quarantined: int = 0
    damaged_lines: int = 0

    def add(self, outcomes: list[Outcome]) -> None:
        counts = _counts(outcomes)
        self.measurements += len(outcomes)
        self.stored += counts["stored"]
        self.duplicates += counts["duplicate"]
        self.quarantined += counts["quarantined"]


class WriteQueue:
    """The single writer of one store (see the module doc). Thread-safe `submit`."""

    def __init__(
        self,
        db: Path,
        *,
        holder: str = "",
        linger: float = 1.0,
        max_batch: int = 20_000,
    ) -> None:
        self.db = Path(db)
        self.holder = holder
        self.linger = linger
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._receipts: OrderedDict[str, Job] = OrderedDict()
        self._receipts_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._writer: StoreWriter | None = None
        self._session: IngestSession | None = None
        self._spool: Spool | None = None
        self._receipt_log: Path | None = None
        self._closing = False
        self._commit_seconds = 0.0  # how long the last commit took
        self.failure: str | None = None
        self.totals = {"accepted": 0, "stored": 0, "duplicate": 0, "quarantined": 0}

    # -- life -------------------------------------------------------------------------------
    def start(self) -> Replayed:
        """Take the writer lock (StoreBusy if another writer holds it), store what the spool
        kept from an earlier run, and start the writer thread."""
        self._writer = StoreWriter(self.db, holder=self.holder)
        try:
            self._session = IngestSession(self._writer)
            self._spool = Spool.of(self.db)
            self._receipt_log = self._spool.folder.parent / RECEIPTS_NAME
            for doc in load_receipts(self._receipt_log, RECEIPTS_KEPT):
                try:
                    job = Job.from_record(doc)
                except (KeyError, IndexError, TypeError, ValueError):
                    continue
                self._receipts[job.receipt] = job
            replayed = self._replay(self._spool)
        except BaseException:
            self._writer.close()
            raise
        self._thread = threading.Thread(target=self._run, name="reachwatch-writer", daemon=True)
        self._thread.start()
        return replayed

    def close(self) -> None:
        """Store everything queued, then release the store. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join()
        if self._spool is not None:
            self._spool.close(all_stored=self.failure is None)
        if self._session is not None:
            self._session.close()
        if self._writer is not None:
            self._writer.close()

    @property
    def quarantine_file(self) -> Path | None:
        return self._session.quarantine_file if self._session else None

    def pending(self) -> int:
        return self._spool.pending() if self._spool else 0

    # -- accepting --------------------------------------------------------------------------
    def submit(self, token: str, ids: list[str], raws: list[bytes]) -> Job:
        """Spool an upload (on disk when this returns) and queue it for the writer."""
        spool = self._spool
        if spool is None or self._closing or self.failure is not None:
            raise QueueClosed(self.failure or "the server is not taking uploads (shutting down)")
        job = Job(_new_receipt(), token, ids, raws, _now())
        job.segment = spool.append(job.receipt, token, raws)
        with self._receipts_lock:
            self._receipts[job.receipt] = job
            while len(self._receipts) > RECEIPTS_KEPT:
                self._receipts.popitem(last=False)
            self.totals["accepted"] += len(raws)
        self._queue.put(job)
        return job

    def receipt(self, receipt: str) -> Job | None:
        with self._receipts_lock:
            return self._receipts.get(receipt)

    # -- the writer thread ------------------------------------------------------------------
    def _run(self) -> None:
        """Take each upload through ingest as it arrives (the batch's CPU work is done while
        it gathers), and commit once `linger` seconds passed since the batch's first upload
        and no upload waits, or three times what the last commit took on top of that passed
        whatever waits, or the batch holds `max_batch` measurements, or the server stops."""
        jobs: list[Job] = []
        count = 0
        soon = late = 0.0  # when the batch may commit (if the queue is empty), must commit
        stop = False
        while not stop:
            now = time.monotonic()
            timeout = max((soon if now < soon else late) - now, 0.0) if jobs else None
            try:
                job = self._queue.get(timeout=timeout)
            except queue.Empty:  # the batch may, or must, commit
                job = None
            else:
                stop = job is None  # close() queues None
            if job is not None:
                if not jobs:
                    soon = time.monotonic() + self.linger
                    # A commit writes a file per table and partition and syncs each: while
                    # uploads keep coming, batches grow so that commits take at most about a
                    # quarter of the writer's time.
                    late = soon + 3 * self._commit_seconds
                jobs.append(job)
                count += len(job.raws)
                if not self._guarded(jobs, functools.partial(self._take, job)):
                    return
            now = time.monotonic()
            due = now >= late or (now >= soon and self._queue.empty())
            if jobs and (stop or count >= self.max_batch or due):
                started = time.monotonic()
                if not self._guarded(jobs, self._commit_session):
                    return
                self._commit_seconds = time.monotonic() - started
                self._stored(jobs)
                jobs, count = [], 0

    def _take(self, job: Job) -> None:
        """Every measurement of `job` through ingest's path (buffered until the commit)."""
        session = self._session
        assert session is not None
        source = f"upload:{job.token}/{job.receipt}"
        job.outcomes = [
            _outcome(mid, session.take(source, i + 1, raw))
            for i, (mid, raw) in enumerate(zip(job.ids, job.raws, strict=True))
        ]

    def _commit_session(self) -> None:
        assert self._session is not None
        self._session.commit()

    def _ingest(self, jobs: list[Job]) -> None:
        """Every measurement of `jobs` through ingest's path, then one commit."""
        for job in jobs:
            self._take(job)
        self._commit_session()

    def _guarded(self, jobs: list[Job], step: Callable[[], None]) -> bool:
        """Run a store step; when it fails the writer stops (False) and every job not yet
        stored is told so: its measurements stay in the spool for the next start."""
        try:
            step()
        except Exception as exc:  # the store cannot take rows: keep the spool for next start
            self.failure = (
                f"the store writer stopped ({type(exc).__name__}: {exc}); accepted uploads "
                "stay in the spool and are stored when the server starts again"
            )
            log.error("%s", self.failure)
            for job in jobs:
                job.outcomes, job.failed = None, self.failure
                job.finish()
            self._fail_queued()
            return False
        return True

    def _stored(self, jobs: list[Job]) -> None:
        """`jobs` are committed: their receipts are logged, the spool may forget them, their
        uploaders hear of it."""
        spool = self._spool
        assert spool is not None
        self._log_receipts(jobs)
        for job in jobs:
            spool.stored(job.segment, len(job.raws))
            self._count(job)
            job.finish()

    def _log_receipts(self, jobs: list[Job]) -> None:
        if self._receipt_log is None:
            return
        try:
            append_receipts(self._receipt_log, [job.record() for job in jobs])
        except OSError as exc:  # the rows are stored; only a later question about them fails
            log.error("cannot write %s: %s", self._receipt_log, exc.strerror or exc)

    def _count(self, job: Job) -> None:
        with self._receipts_lock:
            for outcome in job.outcomes or ():
                self.totals[outcome.status] += 1
            self._receipts[job.receipt] = job
            self._receipts.move_to_end(job.receipt)
            while len(self._receipts) > RECEIPTS_KEPT:
                self._receipts.popitem(last=False)

    def _fail_queued(self) -> None:
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                return
            if job is not None:
                job.failed = self.failure
                job.finish()

    def _replay(self, spool: Spool) -> Replayed:
        """Store the segments an earlier run left (oldest first), each deleted once stored."""
        session = self._session
        assert session is not None
        replayed = Replayed()
        for _number, path in spool.leftovers():
            entries, bad = spool.read(path)
            jobs: dict[str, Job] = {}
            for entry in entries:
                job = jobs.get(entry.receipt)
                if job is None:
                    job = jobs[entry.receipt] = Job(entry.receipt, entry.token, [], [], "")
                job.ids.append(_id_of(entry.raw))
                job.raws.append(entry.raw)
            # A damaged line is quarantined whole (ingest's own reasons), never dropped.
            for line_no, line in enumerate(bad, 1):
                session.take(f"spool:{path.name}", line_no, line)
            replayed.damaged_lines += len(bad)
            try:
                self._ingest(list(jobs.values()))
            except Exception as exc:
                raise QueueClosed(
                    f"{path}: the spool could not be stored ({type(exc).__name__}: {exc}); "
                    "it is kept for the next start"
                ) from None
            self._log_receipts(list(jobs.values()))
            for job in jobs.values():
                self._count(job)
                replayed.add(job.outcomes or [])
                job.finish()
            spool.discard(path)
        return replayed


def _id_of(raw: bytes) -> str:
    try:
        value = orjson.loads(raw)
        return measurement_id(value) if isinstance(value, dict) else ""
    except (orjson.JSONDecodeError, TypeError, ValueError):
        return ""


def _new_receipt() -> str:
    return "s-" + secrets.token_hex(10)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
